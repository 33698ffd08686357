"""JSON errors for the API: ``{"error": "<message a person can read>", "code": "<slug>"}``.

Two kinds of error become such an answer: an ``ApiError`` a handler raises with its status,
and any ``StyleBoothError`` (a bad photo, an unknown scene, a print option the product does
not take, a job that cannot be retried): 400, or the status its ``code`` stands for in
``STATUS_OF_CODE``. Handlers let those propagate instead of catching them one by one. Any
other exception is a bug: logged with its traceback and answered 500.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from kiosk.links import is_admin_path
from render.errors import StyleBoothError

__all__ = ["ApiError", "StyleBoothError", "busy", "error_response", "json_errors", "not_found"]

log = logging.getLogger("stylebooth.server")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
    507: "insufficient_storage",
}

# A StyleBoothError's status, by its code; every other code is the client's request: 400.
# A stored file the database names but the store lacks (kiosk.storage.MissingFile) is a 404.
STATUS_OF_CODE = {
    "conflict": 409,
    "model_unavailable": 503,
    "missing_file": 404,
    "unavailable": 503,  # kiosk.storage.s3.StorageUnavailable: the object store is unreachable
}
PLAIN_ERRORS: dict[int, type[web.HTTPException]] = {  # the same outside /api/: a plain page
    400: web.HTTPBadRequest,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    503: web.HTTPServiceUnavailable,
}


class ApiError(Exception):
    """Raised by a handler; the middleware answers it as a JSON error."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers  # e.g. Retry-After on a 503


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


BUSY_RETRY_AFTER_S = 5
SQLITE_BUSY, SQLITE_LOCKED = 5, 6  # primary result codes; extended ones keep them in the low byte


def is_database_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (another connection or process holds the lock
    longer than the busy timeout) as SQLAlchemy raises it: a moment's contention, not a bug."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def busy() -> ApiError:
    """503 with Retry-After, as an overloaded HTTP service answers (RFC 9110 §15.6.4): the
    request was fine and is worth sending again shortly."""
    return ApiError(
        503,
        "busy",
        "the booth is busy, try again in a few seconds",
        {"Retry-After": str(BUSY_RETRY_AFTER_S)},
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": message, "code": code}, status=status, headers=headers)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or is_admin_path(request.path)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except StyleBoothError as exc:
        status = STATUS_OF_CODE.get(exc.code, 400)
        if not _is_api(request):
            raise PLAIN_ERRORS[status](text=str(exc)) from None
        return error_response(status, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400 or not _is_api(request):
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "www-authenticate"}
        return error_response(
            exc.status,
            CODES.get(exc.status, "error"),
            message or f"{exc.reason.lower()}: {request.method} {request.path}",
            headers,
        )
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        if is_database_busy(exc):  # a database call outside kiosk.dbio.run_db hit a lock
            log.warning("%s %s: the database is locked; answered 503", request.method, request.path)
            error = busy()
            if not _is_api(request):
                raise web.HTTPServiceUnavailable(
                    text=error.message, headers=error.headers
                ) from None
            return error_response(error.status, error.code, error.message, error.headers)
        log.exception("%s %s failed", request.method, request.path)
        if not _is_api(request):
            raise
        return error_response(
            500, "internal", "something went wrong on the booth; please try again"
        )
