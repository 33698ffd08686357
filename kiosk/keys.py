"""Typed application keys shared by the app factory and the route modules."""

from __future__ import annotations

import weakref
from multiprocessing.process import BaseProcess

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from kiosk.config import Settings
from kiosk.orders import ExportPool
from render.models import ModelStore

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelStore)
SESSIONS = web.AppKey("sessions", sessionmaker[Session])
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
EXPORT_POOL = web.AppKey("export_pool", ExportPool)
WORKER_PROCESS = web.AppKey("worker_process", BaseProcess)
