"""Cross-site requests, the admin login (hash, throttle, sessions, CSRF token), the security
headers, impossible static names, and the admin page on its own site: through the real app
(aiohttp's test client, or a real ``stylebooth serve`` process) and real SQLite.
(The same attacks from a real browser on another origin: tests/e2e/test_browser_csrf.py.)"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace

import aiohttp
import pytest
from sqlalchemy import func, select

from db.models import Capture, Job
from db.session import make_engine, make_sessionmaker
from kiosk.admin import AdminLogin
from kiosk.app import create_app, serve
from kiosk.security import AdminSessions, LoginThrottle, PasswordCheck, origin_of
from tests.support.processes import free_port
from tests.unit.test_api import jpeg, upload

PASSWORD = "s3cret"
ADMIN = {"Authorization": aiohttp.encode_basic_auth("operator", PASSWORD)}
EVIL = "http://evil.test:8000"


@pytest.fixture
def booth_settings(settings):
    return replace(settings, admin_password=PASSWORD, public_url="https://booth.example")


@pytest.fixture
async def client(aiohttp_client, booth_settings):
    return await aiohttp_client(create_app(booth_settings))


def own_origin(client) -> str:
    return f"http://{client.host}:{client.port}"


def count(settings, model) -> int:
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine)() as session:
            return session.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


async def job_status(client, job_id: str) -> str:
    return (await (await client.get(f"/api/jobs/{job_id}")).json())["status"]


async def code_of(response: aiohttp.ClientResponse) -> tuple[int, str]:
    return response.status, (await response.json())["code"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- origins --------------------------------------------------------------------------------------


def test_origins_are_compared_as_browsers_serialise_them() -> None:
    assert origin_of("HTTP://Booth.Example:80/path?q") == "http://booth.example"
    assert origin_of("https://booth.example:443") == "https://booth.example"
    assert origin_of("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert origin_of("http://[::1]:8080") == "http://[::1]:8080"
    assert origin_of("null") is None
    assert origin_of("file:///etc/passwd") is None
    assert origin_of("http://host:99999") is None


# --- CSRF: origins --------------------------------------------------------------------------------


async def test_a_request_from_another_site_changes_nothing(client, booth_settings) -> None:
    """Every state-changing guest and admin route refuses a foreign Origin, a "null" one, and a
    browser's Sec-Fetch-Site: cross-site/same-site; nothing in the database moves."""
    created = await upload(client)
    job = created["job_id"]
    settings_before = await (await client.get("/admin/api/settings", headers=ADMIN)).json()
    photo = aiohttp.FormData()
    photo.add_field("style", "starry_night")
    photo.add_field("photo", jpeg(side=64), filename="p.jpg", content_type="image/jpeg")
    attempts = [
        ("POST", "/admin/api/purge", {"json": {"older_than_hours": 0}}),
        ("PUT", "/admin/api/settings", {"json": {"event_name": "Hacked"}}),
        ("POST", f"/admin/api/jobs/{job}/cancel", {}),
        ("POST", f"/admin/api/jobs/{job}/retry", {}),
        ("POST", "/api/captures", {"data": photo}),
        ("POST", f"/api/captures/{created['capture_id']}/orders", {"json": {"product": "mug"}}),
    ]
    marks = [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of the same host is another origin
    ]
    for method, path, body in attempts:
        for mark in marks:
            response = await client.request(method, path, headers={**ADMIN, **mark}, **body)
            assert await code_of(response) == (403, "cross_site"), (method, path, mark)
            if "Origin" in mark:
                assert mark["Origin"] in (await response.json())["error"]
    assert count(booth_settings, Capture) == 1 and count(booth_settings, Job) == 2
    assert await job_status(client, job) == "queued"
    settings_after = await (await client.get("/admin/api/settings", headers=ADMIN)).json()
    assert settings_after == settings_before


async def test_the_booths_own_origins_and_scripts_pass(client, booth_settings) -> None:
    """The request's own origin, public_url's (a TLS proxy in front) and no Origin at all (curl,
    Django's rule) are let through to the route."""
    created = await upload(client)
    order = f"/api/captures/{created['capture_id']}/orders"
    for origin in (own_origin(client), "https://booth.example"):
        headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        response = await client.post(order, json={"product": "mug"}, headers=headers)
        assert await code_of(response) == (409, "not_ready")  # reached the handler
        response = await client.post("/api/captures", data=photo_form(), headers=headers)
        assert response.status == 201, await response.text()
    response = await client.post(order, json={"product": "mug"})
    assert await code_of(response) == (409, "not_ready")
    assert count(booth_settings, Capture) == 3


def photo_form() -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in {"style": "starry_night", "scene": "own", "source": "camera"}.items():
        data.add_field(key, value)
    data.add_field("photo", jpeg(side=96), filename="p.jpg", content_type="image/jpeg")
    return data


async def test_a_job_websocket_from_another_site_is_refused(client) -> None:
    created = await upload(client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(created["ws_url"], headers={"Origin": EVIL})
    assert refused.value.status == 403
    ws = await client.ws_connect(created["ws_url"], headers={"Origin": own_origin(client)})
    assert (await ws.receive_json(timeout=30))["status"] == "queued"
    await ws.close()


# --- CSRF: media types ----------------------------------------------------------------------------


async def test_a_form_cannot_pass_as_json(client, booth_settings) -> None:
    """The classic attack: an HTML form (text/plain) whose field looks like JSON. Refused 415
    even from a script, as are urlencoded and multipart bodies on JSON routes."""
    await upload(client)
    created = await upload(client)
    for content_type, body in (
        ("text/plain", '{"older_than_hours": 0, "x": "="}'),
        ("application/x-www-form-urlencoded", "older_than_hours=0"),
        ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="a"'),
    ):
        headers = {**ADMIN, "Content-Type": content_type}
        purge = await client.post("/admin/api/purge", data=body, headers=headers)
        assert await code_of(purge) == (415, "unsupported_media_type")
        assert "application/json" in (await purge.json())["error"]
        settings = await client.put(
            "/admin/api/settings", data='{"event_name": "X"}', headers=headers
        )
        assert await code_of(settings) == (415, "unsupported_media_type")
        order = await client.post(
            f"/api/captures/{created['capture_id']}/orders", data='{"product": "mug"}',
            headers={"Content-Type": content_type},
        )  # fmt: skip
        assert await code_of(order) == (415, "unsupported_media_type")
    assert count(booth_settings, Capture) == 2
    config = await (await client.get("/api/config")).json()
    assert config["event_name"] == "StyleBooth"


# --- the admin session and its CSRF token ---------------------------------------------------------


async def test_basic_login_starts_a_session_whose_changes_need_the_token(client) -> None:
    response = await client.get("/admin/api/settings", headers=ADMIN)
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("stylebooth_admin=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here; set on https

    # The cookie alone signs in (no password sent) ...
    assert (await client.get("/admin/api/jobs")).status == 200
    # ... but a change riding on it needs the session's token, as does any browser's.
    purge = {"json": {"older_than_hours": 0}}
    assert await code_of(await client.post("/admin/api/purge", **purge)) == (403, "csrf")
    wrong = {"X-CSRF-Token": "not-the-token"}
    assert await code_of(await client.post("/admin/api/purge", headers=wrong, **purge)) == (
        403,
        "csrf",
    )
    session = await (await client.get("/admin/api/session")).json()
    assert session["header"] == "X-CSRF-Token" and len(session["csrf_token"]) >= 32
    token = {"X-CSRF-Token": session["csrf_token"]}
    assert (await client.post("/admin/api/purge", headers=token, **purge)).status == 200
    browser = {"Origin": own_origin(client), **ADMIN}
    assert await code_of(await client.post("/admin/api/purge", headers=browser, **purge)) == (
        403,
        "csrf",
    )
    both = {**browser, **token}
    assert (await client.post("/admin/api/purge", headers=both, **purge)).status == 200

    # Another session's token is not this one's.
    client.session.cookie_jar.clear()
    fresh = await client.get("/admin/api/session", headers=ADMIN)
    assert (await fresh.json())["csrf_token"] != session["csrf_token"]
    headers = {"Origin": own_origin(client), **token}
    assert await code_of(await client.post("/admin/api/purge", headers=headers, **purge)) == (
        403,
        "csrf",
    )


async def test_a_script_with_the_password_needs_no_token(client, booth_settings) -> None:
    """curl with Basic and no browser marks: no web page can make it send anything."""
    created = await upload(client)
    response = await client.post(f"/admin/api/jobs/{created['job_id']}/cancel", headers=ADMIN)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"


def test_sessions_expire_and_their_number_is_bounded() -> None:
    clock = FakeClock()
    sessions = AdminSessions(idle_s=60, max_age_s=300, max_sessions=3, clock=clock)
    first, session = sessions.create()
    assert sessions.get(first) is session and sessions.get("forged") is None
    clock.now += 59
    assert sessions.get(first) is session  # used: the idle clock starts again
    clock.now += 61
    assert sessions.get(first) is None  # idle too long
    kept, _ = sessions.create()
    for _ in range(5):
        clock.now += 50
        assert sessions.get(kept) is not None
    clock.now += 51
    assert sessions.get(kept) is None  # 300 s in all, however busy
    ids = [sessions.create()[0] for _ in range(5)]
    assert len(sessions) == 3 and sessions.get(ids[0]) is None and sessions.get(ids[-1])


# --- the password and the throttle ----------------------------------------------------------------


def test_the_password_is_kept_as_a_salted_scrypt_hash() -> None:
    check = PasswordCheck(PASSWORD)
    assert check.matches(PASSWORD) and not check.matches("s3cre") and not check.matches("")
    stored = b"".join(value for value in vars(check).values() if isinstance(value, bytes))
    assert PASSWORD.encode() not in stored
    assert hashlib.sha256(PASSWORD.encode()).digest() not in stored
    assert PasswordCheck(PASSWORD)._digest != check._digest  # a new salt at every start


def test_wrong_passwords_are_answered_ever_later_then_locked_out(caplog) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(
        max_failures=5, lockout_s=300, base_delay_s=0.25, max_delay_s=2, clock=clock
    )
    delays = []
    with caplog.at_level(logging.WARNING, "stylebooth.security"):
        for _ in range(5):
            assert throttle.retry_after("10.0.0.7") is None
            throttle.begin("10.0.0.7")
            delays.append(throttle.failed("10.0.0.7"))
    assert delays == [0.25, 0.5, 1, 2, 2]
    assert throttle.retry_after("10.0.0.7") == 300
    assert throttle.retry_after("10.0.0.8") is None  # another client is not punished
    locks = [r for r in caplog.records if "10.0.0.7" in r.getMessage()]
    assert len(locks) == 1 and locks[0].levelno == logging.WARNING
    assert "5 wrong passwords" in locks[0].getMessage()

    clock.now += 299
    assert throttle.retry_after("10.0.0.7") == pytest.approx(1)
    clock.now += 1
    assert throttle.retry_after("10.0.0.7") is None  # one more try ...
    throttle.begin("10.0.0.7")
    throttle.failed("10.0.0.7")
    assert throttle.retry_after("10.0.0.7") == 300  # ... wrong: locked again at once
    clock.now += 300
    throttle.begin("10.0.0.7")
    throttle.succeeded("10.0.0.7")  # the right one: forgiven
    assert throttle.retry_after("10.0.0.7") is None and len(throttle) == 0


def test_parallel_guesses_count_before_their_answers() -> None:
    throttle = LoginThrottle(max_failures=3, clock=FakeClock())
    for _ in range(3):
        assert throttle.retry_after("c") is None
        throttle.begin("c")
    throttle.failed("c")
    assert throttle.retry_after("c") is not None  # 1 wrong + 2 in flight: no fourth guess yet


def test_the_throttle_remembers_a_bounded_number_of_clients() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_clients=100, forget_after_s=60, clock=clock)
    for n in range(1000):
        throttle.begin(f"10.1.{n // 256}.{n % 256}")
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
        assert len(throttle) <= 100
    assert throttle.retry_after("10.1.3.231") is None  # the newest are remembered
    assert throttle._clients["10.1.3.231"].failures == 1
    clock.now += 61
    throttle.begin("fresh")
    throttle.failed("fresh")
    assert len(throttle) == 1  # the stale ones made room
    assert throttle.retry_after("10.1.3.231") is None and "10.1.3.231" not in throttle._clients


async def test_the_api_locks_a_guesser_out_with_429(aiohttp_client, booth_settings) -> None:
    throttle = LoginThrottle(max_failures=3, lockout_s=120, base_delay_s=0.01)
    client = await aiohttp_client(
        create_app(booth_settings, admin_login=AdminLogin(PASSWORD, throttle))
    )
    wrong = {"Authorization": aiohttp.encode_basic_auth("operator", "guess")}
    for _ in range(3):
        response = await client.get("/admin/api/jobs", headers=wrong)
        assert await code_of(response) == (401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    for headers in (wrong, ADMIN):  # locked out: even the right password waits
        response = await client.get("/admin/api/jobs", headers=headers)
        assert await code_of(response) == (429, "too_many_requests")
        assert 110 <= int(response.headers["Retry-After"]) <= 120
        assert "try again in" in (await response.json())["error"]


# --- security headers -----------------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(client) -> None:
    created = await upload(client)
    download_page = (await (await client.get(f"/api/jobs/{created['job_id']}")).json()).get(
        "download_url"
    )
    paths = [
        ("/", "SAMEORIGIN"),
        ("/ui/booth.css", "SAMEORIGIN"),
        ("/ui/js/api.js", "SAMEORIGIN"),
        ("/api/config", "SAMEORIGIN"),
        ("/healthz", "SAMEORIGIN"),
        ("/api/jobs/nope", "SAMEORIGIN"),  # a JSON 404
        ("/nowhere", "SAMEORIGIN"),  # aiohttp's own 404
        ("/d/not-a-real-token-at-all", "SAMEORIGIN"),  # the phones' page
        ("/admin/", "DENY"),  # 401
        ("/admin/api/jobs", "DENY"),
    ]
    if download_page:
        paths.append((download_page, "SAMEORIGIN"))
    for path, frames in paths:
        response = await client.get(path, allow_redirects=False)
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == frames, path
        assert headers["Referrer-Policy"] == "no-referrer", path
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors " + ("'none'" if frames == "DENY" else "'self'") in csp
        assert "aiohttp" not in headers.get("Server", "") and "Python" not in headers.get(
            "Server", ""
        )
    page = await client.get("/admin/", headers=ADMIN)
    assert page.headers["X-Frame-Options"] == "DENY"


async def test_the_phone_page_style_is_allowed_by_its_hash(client) -> None:
    response = await client.get("/d/not-a-real-token-at-all")
    assert response.status == 404
    styles = re.findall(r"<style>(.*?)</style>", await response.text(), flags=re.S)
    assert styles
    csp = response.headers["Content-Security-Policy"]
    for style in styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


async def test_impossible_static_names_are_404(client) -> None:
    for name in ("a" * 5000, "a/" * 2500 + "b", "x" * 256 + ".css", "booth.css/x"):
        response = await client.get(f"/ui/{name}")
        assert response.status == 404, name
    assert (await client.get("/ui/booth.css")).status == 200


# --- the admin page on its own site ---------------------------------------------------------------


async def test_with_admin_port_the_admin_page_lives_only_on_its_site(booth_settings) -> None:
    settings = replace(booth_settings, host="127.0.0.1", port=free_port(), admin_port=free_port())
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(app, settings, started.set, stop))
    await asyncio.wait_for(started.wait(), 30)
    booth, admin = f"http://127.0.0.1:{settings.port}", f"http://127.0.0.1:{settings.admin_port}"
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/admin", "/admin/", "/admin/api/jobs"):
                async with http.get(booth + path, headers=ADMIN, allow_redirects=False) as r:
                    assert r.status == 404, path
            async with http.get(booth + "/api/config") as r:
                assert r.status == 200
            async with http.get(admin + "/admin/") as r:
                assert r.status == 401
            for path in ("/admin/", "/ui/js/admin.js", "/ui/admin.css", "/healthz"):
                async with http.get(admin + path, headers=ADMIN) as r:
                    assert r.status == 200, path
            for path in ("/", "/api/config", "/d/not-a-real-token-at-all"):
                async with http.get(admin + path) as r:
                    assert r.status == 404, path
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


def test_stylebooth_serve_puts_the_admin_page_on_admin_port(tmp_path) -> None:
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "STYLEBOOTH_DATA_DIR": str(tmp_path / "data"),
        "STYLEBOOTH_MODEL_DIR": str(tmp_path / "models"),  # --no-worker: no model is loaded
        "STYLEBOOTH_ADMIN_PASSWORD": PASSWORD,
        "STYLEBOOTH_PORT": str(port),
        "STYLEBOOTH_ADMIN_PORT": str(admin_port),
    }
    command = [sys.executable, "-m", "kiosk", "serve", "--no-worker"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "running at" in server.stdout.readline()
        assert f"127.0.0.1:{admin_port}/admin/" in server.stdout.readline()

        async def probe() -> tuple[int, int]:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/admin/", headers=ADMIN) as r:
                    main = r.status
                async with http.get(f"http://127.0.0.1:{admin_port}/admin/") as r:
                    return main, r.status

        assert asyncio.run(probe()) == (404, 401)
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    same = {**env, "STYLEBOOTH_ADMIN_PORT": str(port)}
    done = subprocess.run(command, env=same, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "another port" in done.stderr
