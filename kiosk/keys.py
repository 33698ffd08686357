"""Typed application keys shared by the app factory and the route modules."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from kiosk.config import Settings
from render.models import ModelStore

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelStore)
SESSIONS = web.AppKey("sessions", sessionmaker[Session])
