"""Typed application keys shared by the app factory and the route modules."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kiosk.config import Settings
from kiosk.links import Links
from kiosk.orders import ExportPool
from kiosk.storage import FileStore
from render.models import ModelStore

if TYPE_CHECKING:  # these modules import this one: their keys name the type for checkers only
    from kiosk.dbio import IoPool
    from kiosk.uploads import UploadGate
    from kiosk.watch import Watchers

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelStore)
ENGINE = web.AppKey("engine", Engine)
SESSIONS = web.AppKey("sessions", sessionmaker[Session])
IO_POOL: web.AppKey[IoPool] = web.AppKey("io_pool")  # set by kiosk.dbio.io_pool
WATCHERS: web.AppKey[Watchers] = web.AppKey("watchers")  # set by kiosk.watch.watchers
UPLOADS: web.AppKey[UploadGate] = web.AppKey("uploads")  # set by kiosk.uploads.upload_gate
LINKS = web.AppKey("links", Links)  # the URLs the API writes (kiosk/links.py)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
EXPORT_POOL = web.AppKey("export_pool", ExportPool)
STORE: web.AppKey[FileStore] = web.AppKey("store")  # every file: kiosk.storage.open_store
