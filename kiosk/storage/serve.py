"""Serving a stored file to a browser: ``respond`` is the one way a route answers with one.

* ``LocalStore``: ``web.FileResponse`` on the file (sendfile, ranges, conditional requests),
  as before the storage layer.
* ``S3Store``: the object is streamed through the server — one ``GetObject``, its body read
  in chunks on the I/O pool and written as it comes, so a 40 MB print master never sits
  whole in memory and a slow phone never holds a thread. ``Content-Length`` and ``ETag``
  come from the object; a browser's ``If-None-Match`` is passed on to the store, and an
  unchanged object is a 304 with no body.
* any other ``FileStore``: its bytes, read on the I/O pool.

Not presigned URLs, on purpose: the kiosk's browser may not reach the S3 endpoint at all
(the store sits on the back network of the venue, or in a cloud account), the pages'
Content-Security-Policy allows only the booth itself, and a redirect would hand the guest's
phone a URL that outlives the capture's purge. The server in between costs a copy; a photo
booth's files are small and few.

A key the store does not hold (purged, or lost) is a JSON 404 (``missing_file``) whose
message names the key, never a 500; a store that cannot be reached is the 503 of
``StorageUnavailable``.
"""

from __future__ import annotations

import mimetypes
import sys
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kiosk.dbio import run_io
from kiosk.errors import ApiError
from kiosk.storage.base import BadKey, FileStore, MissingFile
from kiosk.storage.local import LocalStore

CHUNK = 256 * 1024  # bytes per read off the S3 body: a few network packets' worth, not a file


def _missing(key: str) -> ApiError:
    """Names the key, not the store (a guest need not learn the server's directories)."""
    return ApiError(404, "missing_file", f"{key} is no longer stored (purged, or lost)")


def guess_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _is_s3(store: FileStore) -> bool:
    """Without importing boto3 where it is not installed: an ``S3Store`` exists only once its
    module has been imported."""
    module = sys.modules.get("kiosk.storage.s3")
    return module is not None and isinstance(store, module.S3Store)


async def respond(
    request: web.Request,
    store: FileStore,
    key: str,
    *,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    filename: str | None = None,
) -> web.StreamResponse:
    """The stored file under ``key``, with the caller's ``headers`` (Cache-Control …);
    ``filename``: as an attachment of that name; ``content_type``: else guessed from the key."""
    sent = dict(headers or {})
    if filename is not None:
        sent["Content-Disposition"] = f'attachment; filename="{filename}"'
    try:
        if _is_s3(store):
            return await _stream_s3(request, store, key, content_type, sent)
        found = await run_io(request, store.stat, key)
        if found is None:
            raise _missing(key)
        if isinstance(store, LocalStore):
            response = web.FileResponse(store.path(key), headers=sent)
            if content_type is not None:
                response.content_type = content_type
            return response
        data = await run_io(request, store.get, key)
    except (MissingFile, BadKey):
        raise _missing(key) from None
    return web.Response(body=data, content_type=content_type or guess_type(key), headers=sent)


async def _stream_s3(
    request: web.Request,
    store: Any,
    key: str,
    content_type: str | None,
    headers: dict[str, str],
) -> web.StreamResponse:
    answer: dict[str, Any] = await run_io(
        request, lambda: store.open(key, if_none_match=request.headers.get("If-None-Match"))
    )
    etag = answer.get("ETag")
    if etag:
        headers["ETag"] = etag
    if answer.get("NotModified"):
        return web.Response(status=304, headers=headers)
    body = answer["Body"]
    try:
        response = web.StreamResponse(headers=headers)
        response.content_type = content_type or guess_type(key)
        response.content_length = int(answer["ContentLength"])
        await response.prepare(request)
        if request.method != "HEAD":
            sent = 0
            while sent < response.content_length:  # bounded by the object's size
                chunk: bytes = await run_io(request, body.read, CHUNK)
                if not chunk:
                    break
                await response.write(chunk)
                sent += len(chunk)
        await response.write_eof()
        return response
    finally:
        body.close()
