"""What keeps other web sites, guessers and framing pages away from the booth.

* Cross-site requests (CSRF): :func:`cross_site_guard` refuses an unsafe request (anything but
  GET/HEAD/OPTIONS, and WebSocket upgrades) whose ``Origin`` is not the booth's own, or that a
  browser marks ``Sec-Fetch-Site: cross-site``/``same-site``; and a request body must have the
  media type its route reads (JSON routes: ``application/json``), so an HTML form (text/plain,
  urlencoded, multipart) can never pass as JSON. The admin page adds a session-bound token
  (:class:`AdminSessions`), checked in ``kiosk/admin.py``.
* Guessing the admin password: :class:`PasswordCheck` (scrypt, constant-time) and
  :class:`LoginThrottle` (a growing delay, then a lockout, per client address).
* Security headers on every response: :func:`security_headers`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from kiosk.errors import ApiError, error_response
from kiosk.keys import SETTINGS
from kiosk.links import ADMIN, is_admin_path

log = logging.getLogger("stylebooth.security")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
JSON = "application/json"
MULTIPART = "multipart/form-data"

# The media types a route's body may have, by route (its canonical path); every other route
# with a body takes JSON. Filled by the app factory.
BODY_TYPES = web.AppKey("body_types", dict[str, frozenset[str]])


# --- origins -------------------------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower case and without the scheme's default port, as
    browsers serialise an ``Origin`` (None for anything that is not a web origin)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def trusted_origins(request: web.Request) -> set[str]:
    """The origins whose pages may change things here: the request's own scheme and host (what
    Django compares with), the configured ``public_url`` (the phones' address, e.g. behind a TLS
    proxy) and the admin page's own site when it has one."""
    settings = request.config_dict[SETTINGS]
    candidates = [f"{request.scheme}://{request.host}", settings.public_url or ""]
    if settings.admin_port is not None:
        candidates.append(f"http://{settings.admin_host or settings.host}:{settings.admin_port}")
    return {origin for origin in map(origin_of, candidates) if origin}


def from_a_browser(request: web.Request) -> bool:
    """Browsers mark every unsafe request with ``Origin`` (and, on https and localhost, with
    ``Sec-Fetch-Site``); a script (curl, a test client) sends neither and cannot be made to
    carry the operator's credentials by a web page, so CSRF does not concern it."""
    return "Origin" in request.headers or "Sec-Fetch-Site" in request.headers


def cross_site_reason(request: web.Request) -> str | None:
    """Why this request came from another site, or None when it did not (or may not tell)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        # Like Django: a browser's Origin must be one of ours; "null" (a sandboxed frame, a
        # redirect across sites, a file:// page) is never ours.
        if origin_of(origin) in trusted_origins(request):
            return None
        return f"it came from the page of another site ({origin})"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in {"same-origin", "none"}:
        return f"the browser says it came from another site (Sec-Fetch-Site: {site})"
    return None


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


@web.middleware
async def cross_site_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unsafe requests from other sites, and bodies of a type their route does not read.

    This is Django's CSRF origin check (Origin against the request's own host and the trusted
    origins; with no Origin, no verdict) plus ``Sec-Fetch-Site``, applied to the guest routes
    and the admin API alike; WebSocket upgrades are checked too (no cross-site hijacking).
    """
    if request.method in SAFE_METHODS and not _is_websocket(request):
        return await handler(request)
    reason = cross_site_reason(request)
    if reason is not None:
        log.info("refused a cross-site %s %s: %s", request.method, request.path, reason)
        return error_response(
            403,
            "cross_site",
            f"The booth refused this request because {reason}. "
            "Open the booth's own page and try again there.",
        )
    if request.method not in SAFE_METHODS and request.body_exists:
        route = request.match_info.route.resource
        canonical = route.canonical if route is not None else ""
        allowed = request.config_dict.get(BODY_TYPES, {}).get(canonical, frozenset({JSON}))
        if request.content_type not in allowed:
            wanted = " or ".join(sorted(allowed))
            return error_response(
                415,
                "unsupported_media_type",
                f"Send this request's body as {wanted}, not as {request.content_type}.",
            )
    return await handler(request)


def query_limit(request: web.Request, default: int = 100, most: int = 1000) -> int:
    """The ``?limit=`` of a listing, between 1 and ``most``; a 400 in words when it is no
    whole number."""
    try:
        return min(most, max(1, int(request.query.get("limit", str(default)))))
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be a whole number") from None


async def read_json(request: web.Request, expected: str) -> dict[str, Any]:
    """The request's body, a JSON object: the app's one reader of JSON bodies (guest and
    admin routes). A body not sent as ``application/json`` is refused (415), because
    ``request.json()`` itself parses any body, a text/plain form's included; a missing body,
    one that is not JSON or not an object is a 400 that says ``expected``."""
    if request.body_exists and request.content_type != JSON:
        raise web.HTTPUnsupportedMediaType(
            text=f"Send this request's body as {JSON}, not as {request.content_type}."
        )
    try:
        body = await request.json() if request.body_exists else None
    except ValueError:  # json.JSONDecodeError, or a body that is not UTF-8
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", expected)
    return body


# --- security headers ----------------------------------------------------------------------

_PLAIN_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def _style_hashes() -> list[str]:
    """CSP hashes of the inline ``<style>`` blocks the server writes itself (the phone download
    page), so ``style-src`` needs no 'unsafe-inline'."""
    import base64

    from kiosk import download

    text = download.PAGE.replace("{{", "{").replace("}}", "}")
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in re.findall(r"<style>(.*?)</style>", text, flags=re.S)
    ]


def content_security_policy(request: web.Request, *, admin: bool) -> str:
    """Self only: the booth loads nothing from elsewhere. Camera frames and the guest's picked
    file are shown from blob: URLs; the job WebSocket goes to this same host (listed as ws:/wss:
    of the request's host, as CSP 'self' does not cover ws: in every browser)."""
    connect = ["'self'"]
    if _PLAIN_HOST.match(request.host):
        connect += [f"ws://{request.host}", f"wss://{request.host}"]
    directives = [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src " + " ".join(connect),
        "style-src 'self' " + " ".join(_STYLE_HASHES),
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors " + ("'none'" if admin else "'self'"),
    ]
    return "; ".join(directives)


_STYLE_HASHES: list[str] = []


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the headers every response carries (pages, API, static files,
    errors). The operator's page may never be framed (clickjacking a purge); the booth only by
    itself. No ``Server`` version banner: aiohttp would announce ``Python/3.x aiohttp/x``."""
    if not _STYLE_HASHES:
        _STYLE_HASHES.extend(_style_hashes())
    admin = is_admin_path(request.path)
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(request, admin=admin))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY" if admin else "SAMEORIGIN"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Server"] = "StyleBooth"  # aiohttp only fills it in when it is unset


# --- the admin password ----------------------------------------------------------------------


class PasswordCheck:
    """The configured admin password, kept only as a salted scrypt hash made at start.

    A guess costs one scrypt (N=2**14, r=8: ~40 ms and 16 MB), run off the event loop, two at a
    time at most, and is compared in constant time.
    """

    N, R, P = 2**14, 8, 1

    def __init__(self, password: str) -> None:
        self._salt = secrets.token_bytes(16)
        self._digest = self._hash(password)
        self._slots = asyncio.Semaphore(2)

    def _hash(self, password: str) -> bytes:
        return hashlib.scrypt(
            password.encode(), salt=self._salt, n=self.N, r=self.R, p=self.P, dklen=32
        )

    def matches(self, given: str) -> bool:
        return hmac.compare_digest(self._hash(given), self._digest)

    async def check(self, given: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self.matches, given)


K = TypeVar("K")
V = TypeVar("V")


def _live(entries: MutableMapping[K, V], key: K, expired: Callable[[V], bool]) -> V | None:
    """The entry under ``key``, unless it has expired: then it is forgotten, and None."""
    entry = entries.get(key)
    if entry is not None and expired(entry):
        del entries[key]
        return None
    return entry


@dataclass
class _Client:
    failures: int = 0
    pending: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """Wrong admin passwords per client address: each answer is delayed longer (0.25 s, then
    doubling, at most 4 s) and after ``max_failures`` wrong ones the client is locked out for
    ``lockout_s`` (429 with Retry-After), logged once per lockout. After a lockout each further
    wrong password locks it out again at once, until a right one or ``forget_after_s`` of
    silence. Guesses in flight count, so parallel connections gain nothing. This is fail2ban's
    and Django-axes' model, in memory: at most ``max_clients`` addresses are remembered (the
    stalest forgotten first), so a flood of addresses cannot grow the table.
    """

    def __init__(
        self,
        *,
        max_failures: int = 10,
        lockout_s: float = 300.0,
        base_delay_s: float = 0.25,
        max_delay_s: float = 4.0,
        forget_after_s: float = 900.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.lockout_s = max_failures, lockout_s
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self.forget_after_s, self.max_clients = forget_after_s, max_clients
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def _entry(self, client: str) -> _Client:
        entry = self._clients.get(client)
        if entry is None:
            if len(self._clients) >= self.max_clients:
                self._forget_stale()
            while len(self._clients) >= self.max_clients:
                self._clients.popitem(last=False)
            entry = self._clients[client] = _Client()
        self._clients.move_to_end(client)
        return entry

    def _forget_stale(self) -> None:
        now = self._clock()
        for client in [c for c, e in self._clients.items() if self._stale(e, now)]:
            del self._clients[client]

    def _stale(self, entry: _Client, now: float) -> bool:
        return (
            entry.pending == 0
            and entry.locked_until <= now
            and now - entry.last_failure > self.forget_after_s
        )

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again, or None when it may try now."""
        now = self._clock()
        entry = _live(self._clients, client, lambda entry: self._stale(entry, now))
        if entry is None:
            return None
        if entry.locked_until > now:
            return entry.locked_until - now
        if entry.failures + entry.pending >= self.max_failures and entry.pending:
            return 1.0  # as many guesses in flight as it has left: wait for their answers
        return None

    def begin(self, client: str) -> None:
        self._entry(client).pending += 1

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)

    def failed(self, client: str) -> float:
        """Count a wrong password; return how long to hold its answer back."""
        entry = self._entry(client)
        entry.pending = max(0, entry.pending - 1)
        entry.failures += 1
        now = entry.last_failure = self._clock()
        if entry.failures >= self.max_failures and entry.locked_until <= now:
            entry.locked_until = now + self.lockout_s
            log.warning(
                "admin login: %d wrong passwords from %s; refusing it for %d s",
                entry.failures,
                client,
                self.lockout_s,
            )
        return min(self.max_delay_s, self.base_delay_s * 2 ** (entry.failures - 1))

    def abandoned(self, client: str) -> None:
        """The guess never got an answer (the connection went away): not a failure."""
        entry = self._clients.get(client)
        if entry is not None:
            entry.pending = max(0, entry.pending - 1)


# --- admin sessions ----------------------------------------------------------------------------


@dataclass
class AdminSession:
    csrf_token: str
    created: float
    last_seen: float


class AdminSessions:
    """Sessions of the operator's page, after one Basic login: an unguessable id in an HttpOnly,
    SameSite=Strict cookie (Path=/admin), and a CSRF token bound to it (Django's
    CSRF_USE_SESSIONS model) that the page sends back in ``X-CSRF-Token``. A session ends after
    ``idle_s`` unused or ``max_age_s`` in all; at most ``max_sessions`` live (the least recently
    used goes first). Only a hash of each id is kept."""

    COOKIE = "stylebooth_admin"

    def __init__(
        self,
        *,
        idle_s: float = 3600.0,
        max_age_s: float = 12 * 3600.0,
        max_sessions: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s, self.max_age_s, self.max_sessions = idle_s, max_age_s, max_sessions
        self._clock = clock
        self._sessions: OrderedDict[bytes, AdminSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    @staticmethod
    def _key(session_id: str) -> bytes:
        return hashlib.sha256(session_id.encode()).digest()

    def create(self) -> tuple[str, AdminSession]:
        now = self._clock()
        self._expire(now)
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        session = AdminSession(secrets.token_urlsafe(32), now, now)
        self._sessions[self._key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> AdminSession | None:
        if not session_id:
            return None
        key, now = self._key(session_id), self._clock()
        session = _live(self._sessions, key, lambda session: self._expired(session, now))
        if session is None:
            return None
        session.last_seen = now
        self._sessions.move_to_end(key)
        return session

    def _expired(self, session: AdminSession, now: float) -> bool:
        return now - session.last_seen > self.idle_s or now - session.created > self.max_age_s

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]

    def set_cookie(
        self, request: web.Request, response: web.StreamResponse, session_id: str
    ) -> None:
        response.set_cookie(
            self.COOKIE,
            session_id,
            path=ADMIN,
            max_age=int(self.max_age_s),
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )


def token_matches(expected: str, given: Iterable[str]) -> bool:
    """Constant-time comparison of the CSRF token against what the request sent."""
    return any(hmac.compare_digest(expected.encode(), value.encode()) for value in given)
