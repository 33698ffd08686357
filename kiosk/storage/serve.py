"""Serving a stored file to a browser (minimal version by helper C, local-first; helper A's
full one, which streams from S3, replaces it).

``respond`` is the one way a route answers with a stored file: a ``LocalStore``'s file goes
out as ``web.FileResponse`` (sendfile, ranges, conditional requests); any other store's
bytes are read on the I/O pool and sent. A key the store does not hold is a JSON 404
(``missing_file``) whose message names it, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from kiosk.dbio import run_io
from kiosk.errors import ApiError
from kiosk.storage.base import BadKey, FileStore
from kiosk.storage.local import LocalStore


def _missing(key: str) -> ApiError:
    """Names the key, not the store (a guest need not learn the server's directories)."""
    return ApiError(404, "missing_file", f"{key} is no longer stored (purged, or lost)")


async def respond(
    request: web.Request,
    store: FileStore,
    key: str,
    *,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    filename: str | None = None,
) -> web.StreamResponse:
    """The stored file under ``key``; ``filename``: as an attachment of that name."""
    sent = dict(headers or {})
    if filename is not None:
        sent["Content-Disposition"] = f'attachment; filename="{filename}"'
    try:
        found = await run_io(request, store.stat, key)
    except BadKey:
        found = None
    if found is None:
        raise _missing(key)
    if isinstance(store, LocalStore):
        response = web.FileResponse(store.path(key), headers=sent)
        if content_type is not None:
            response.content_type = content_type
        return response
    data = await run_io(request, store.get, key)
    return web.Response(body=data, content_type=content_type, headers=sent)
