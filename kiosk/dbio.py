"""Database calls from the event loop: each runs in a thread, in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from kiosk.jobs import in_session
from kiosk.keys import SESSIONS

T = TypeVar("T")


async def run_db(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(session, *args)`` off the event loop (SQLite may wait for the worker's write)."""
    return await asyncio.to_thread(in_session, request.config_dict[SESSIONS], fn, *args)
