"""Cross-site request forgery from a real browser: the operator's Chromium, signed in to the
admin page (Basic credentials and the session cookie), opens a page on another origin (a second
server on another loopback port, reached as ``localhost``: another site) that tries every form
encoding and ``fetch`` mode against the booth's changing routes. Afterwards the database says
nothing changed; then the real admin page still saves settings and purges, with the CSP on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from db.models import Capture, Export, Job, JobStatus, Result
from db.session import make_engine, make_sessionmaker
from kiosk.app import create_app
from kiosk.config import Settings
from tests.support.paths import PEOPLE
from tests.support.photos import thumbnail_jpeg

pytestmark = [pytest.mark.browser]

PASSWORD = "s3cret"


def photo_bytes(side: int = 160) -> bytes:
    return thumbnail_jpeg(Image.open(PEOPLE / "hiker.jpg"), side)


# --- the attacker's site ---------------------------------------------------------------------

FORM = """<!doctype html><html><body>
<form id="f" method="post" action="{action}" enctype="{enctype}">{fields}</form>
<script>document.getElementById("f").submit();</script></body></html>"""

FETCHES = """async ({booth, job, retryJob, capture}) => {
  const photo = await (await fetch("/photo.jpg")).blob();
  const form = new FormData();
  form.append("style", "starry_night"); form.append("scene", "own");
  form.append("source", "camera"); form.append("photo", photo, "p.jpg");
  const json = (o) => JSON.stringify(o);
  const tries = [
    [`${booth}/admin/api/purge`, {method: "POST", mode: "no-cors",
      body: json({older_than_hours: 0})}],
    [`${booth}/admin/api/purge`, {method: "POST", mode: "cors",
      headers: {"Content-Type": "text/plain"}, body: json({older_than_hours: 0})}],
    [`${booth}/admin/api/purge`, {method: "POST", mode: "cors",
      headers: {"Content-Type": "application/json"}, body: json({older_than_hours: 0})}],
    [`${booth}/admin/api/settings`, {method: "PUT", mode: "cors",
      headers: {"Content-Type": "application/json"}, body: json({event_name: "Hacked"})}],
    [`${booth}/admin/api/settings`, {method: "POST", mode: "no-cors",
      body: json({event_name: "Hacked"})}],
    [`${booth}/admin/api/jobs/${job}/cancel`, {method: "POST", mode: "no-cors"}],
    [`${booth}/admin/api/jobs/${retryJob}/retry`, {method: "POST", mode: "no-cors"}],
    [`${booth}/api/captures`, {method: "POST", mode: "no-cors", body: form}],
    [`${booth}/api/captures/${capture}/orders`, {method: "POST", mode: "no-cors",
      body: json({product: "mug"})}],
    [`${booth}/api/captures/${capture}/orders`, {method: "POST", mode: "cors",
      headers: {"Content-Type": "application/json"}, body: json({product: "mug"})}],
  ];
  const results = await Promise.allSettled(
    tries.map(([url, init]) => fetch(url, {credentials: "include", ...init})));
  return results.map((r) => r.status === "fulfilled" ? `sent:${r.value.type}` : "blocked");
}"""


def attacker_app(booth: str, targets: dict[str, str]) -> web.Application:
    """Pages that auto-submit forms to the booth, and a photo for the fetch attacks."""
    json_field = '<input name=\'{"older_than_hours": 0, "x": "\' value=\'"}\'>'
    order_field = '<input name=\'{"product": "mug", "x": "\' value=\'"}\'>'
    forms = {
        "purge-text": (f"{booth}/admin/api/purge", "text/plain", json_field),
        "purge-urlencoded": (
            f"{booth}/admin/api/purge",
            "application/x-www-form-urlencoded",
            '<input name="older_than_hours" value="0">',
        ),
        "purge-multipart": (
            f"{booth}/admin/api/purge",
            "multipart/form-data",
            '<input name="older_than_hours" value="0">',
        ),
        "settings-text": (
            f"{booth}/admin/api/settings",
            "text/plain",
            '<input name=\'{"event_name": "Hacked", "x": "\' value=\'"}\'>',
        ),
        "cancel": (
            f"{booth}/admin/api/jobs/{targets['job']}/cancel",
            "application/x-www-form-urlencoded",
            "",
        ),
        "retry": (f"{booth}/admin/api/jobs/{targets['retry_job']}/retry", "text/plain", ""),
        "capture-multipart": (
            f"{booth}/api/captures",
            "multipart/form-data",
            '<input name="style" value="starry_night"><input name="scene" value="own">',
        ),
        "order-text": (
            f"{booth}/api/captures/{targets['capture']}/orders",
            "text/plain",
            order_field,
        ),
    }

    async def form_page(request: web.Request) -> web.Response:
        action, enctype, fields = forms[request.match_info["name"]]
        return web.Response(
            text=FORM.format(action=action, enctype=enctype, fields=fields),
            content_type="text/html",
        )

    async def blank(_request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>cats</title>", content_type="text/html")

    photo = photo_bytes()

    async def photo_file(_request: web.Request) -> web.Response:
        return web.Response(body=photo, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/", blank)
    app.router.add_get("/form/{name}", form_page)
    app.router.add_get("/photo.jpg", photo_file)
    return app


# --- servers in a thread (Playwright's sync API drives the browser here) ----------------------


class Servers:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.thread.start()

    def call(self, coroutine, timeout: float = 120):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self, app_factory) -> int:  # type: ignore[no-untyped-def]
        async def go() -> int:
            runner = web.AppRunner(app_factory())
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.runners.append(runner)
            return runner.addresses[0][1]

        return self.call(go())

    def close(self) -> None:
        for runner in reversed(self.runners):
            self.call(runner.cleanup(), 60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def db(settings: Settings):  # type: ignore[no-untyped-def]
    return make_sessionmaker(make_engine(settings.db_url))


def seed(settings: Settings) -> dict[str, str]:
    """Three guests, as the worker would leave them: one painted (orderable, its jobs done),
    one waiting (its jobs queued: cancellable), one cancelled (retryable)."""
    photo = photo_bytes()
    ids: dict[str, str] = {}
    with db(settings).begin() as session:
        for role, status in (("capture", "done"), ("job", "queued"), ("retry_job", "cancelled")):
            capture = Capture(source="camera", photo_path="", width=160, height=107, style="udnie")
            session.add(capture)
            session.flush()
            folder = settings.data_dir / "captures" / capture.id
            folder.mkdir(parents=True)
            (folder / "photo.jpg").write_bytes(photo)
            capture.photo_path = f"captures/{capture.id}/photo.jpg"
            job = Job(capture_id=capture.id, mode="hq", status=JobStatus(status))
            session.add(job)
            session.flush()
            if status == "done":
                (folder / "final.jpg").write_bytes(photo)
                session.add(
                    Result(
                        capture_id=capture.id,
                        job_id=job.id,
                        kind="final",
                        path=f"captures/{capture.id}/final.jpg",
                        width=160,
                        height=107,
                        sha256=hashlib.sha256(photo).hexdigest(),
                    )
                )
                ids["token"] = capture.token
            ids[role] = capture.id if role == "capture" else job.id
    return ids


def snapshot(settings: Settings) -> dict:
    with db(settings)() as session:
        return {
            "captures": session.scalar(select(func.count()).select_from(Capture)),
            "exports": session.scalar(select(func.count()).select_from(Export)),
            "jobs": dict(session.execute(select(Job.id, Job.status)).all()),
        }


@pytest.fixture(scope="module")
def setup(module_settings) -> Iterator[dict]:
    settings = module_settings("csrf", admin_password=PASSWORD)
    servers = Servers()
    try:
        port = servers.start(lambda: create_app(settings))
        booth = f"http://127.0.0.1:{port}"
        targets = seed(settings)
        attacker_port = servers.start(lambda: attacker_app(booth, targets))
        yield {
            "settings": settings,
            "booth": booth,
            "attacker": f"http://localhost:{attacker_port}",
            "targets": targets,
        }
    finally:
        servers.close()


def operator(browser: Browser) -> BrowserContext:
    """The operator's browser: it answers the admin page's password prompt by itself."""
    return browser.new_context(
        viewport={"width": 1280, "height": 1000},
        http_credentials={"username": "operator", "password": PASSWORD},
    )


def watch_console(page: Page) -> list[str]:
    """Uncaught errors and Content-Security-Policy violations the page reports."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return problems


def test_another_sites_page_changes_nothing(setup: dict, browser: Browser) -> None:
    booth, attacker, targets = setup["booth"], setup["attacker"], setup["targets"]
    settings = setup["settings"]
    context = operator(browser)
    page = context.new_page()
    try:
        # Signed in: the admin page loaded, its session cookie set, the password cached.
        page.goto(f"{booth}/admin/")
        expect(page.locator("#event input[name=event_name]")).to_have_value("StyleBooth")
        before = snapshot(settings)
        event_before = page.request.get(f"{booth}/api/config").json()["event_name"]
        # Leave the admin page, so that none of its polls (GETs) is taken for a form's answer.
        page.goto("about:blank")

        answers: list[tuple[str, str, int]] = []
        page.on(
            "response",
            lambda r: (
                answers.append((r.request.method, r.url, r.status))
                if r.url.startswith(booth)
                else None
            ),
        )
        forms = ["purge-text", "purge-urlencoded", "purge-multipart", "settings-text", "cancel"]
        forms += ["retry", "capture-multipart", "order-text"]
        for name in forms:
            with page.expect_response(lambda r: r.url.startswith(booth), timeout=30_000) as sent:
                page.goto(f"{attacker}/form/{name}")
            assert sent.value.request.method == "POST", name
            assert sent.value.status == 403, (name, sent.value.status, sent.value.text())
            assert json.loads(sent.value.text())["code"] == "cross_site", name

        page.goto(f"{attacker}/")
        outcomes = page.evaluate(
            FETCHES,
            {
                "booth": booth,
                "job": targets["job"],
                "retryJob": targets["retry_job"],
                "capture": targets["capture"],
            },
        )
        # no-cors ones are sent (opaque), preflighted ones never leave the browser.
        assert outcomes.count("blocked") >= 4, outcomes
        page.wait_for_timeout(500)  # the last answers' events
        posts = [a for a in answers if a[0] in {"POST", "PUT"}]
        assert len(posts) >= len(forms) + 4, answers
        assert all(status == 403 for _method, _url, status in posts), posts

        assert snapshot(settings) == before  # no capture, no export, no job changed
        assert page.request.get(f"{booth}/api/config").json()["event_name"] == event_before
    finally:
        context.close()


def test_the_phone_page_is_styled_under_the_csp(setup: dict, browser: Browser) -> None:
    booth, targets = setup["booth"], setup["targets"]
    page = browser.new_page()
    problems = watch_console(page)
    try:
        page.goto(f"{booth}/d/{targets.get('token', 'x' * 20)}")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(22, 18, 42)"  # --ink of the inline <style>, allowed by its hash
        expect(page.locator("img[alt='Your painting']")).to_be_visible()
        assert not problems, problems
    finally:
        page.close()


def test_the_admin_page_still_saves_and_purges(setup: dict, browser: Browser) -> None:
    """The operator's own page, under the CSP: settings saved, a job cancelled, a purge."""
    booth, targets, settings = setup["booth"], setup["targets"], setup["settings"]
    context = operator(browser)
    page = context.new_page()
    problems = watch_console(page)
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        page.goto(f"{booth}/admin/")
        expect(page.locator("#event input[name=event_name]")).to_have_value("StyleBooth")
        page.fill("#event input[name=event_name]", "Gala Night")
        page.click("#event button[type=submit]")
        expect(page.locator("#event-status")).to_contain_text("Saved")
        assert page.request.get(f"{booth}/api/config").json()["event_name"] == "Gala Night"

        row = page.locator(f'#jobs tr[data-job="{targets["job"]}"]')
        row.locator("button", has_text="Cancel").click()
        expect(row.locator("td[data-status]")).to_have_attribute(
            "data-status", "cancelled", timeout=10_000
        )

        # The session's token is renewed when the server forgot the session (a restart).
        context.clear_cookies()
        page.select_option("#purge select", "0")
        page.click("#purge button[type=submit]")
        expect(page.locator("#purge-status")).to_contain_text("Deleted 3 guests", timeout=15_000)
        assert snapshot(settings)["captures"] == 0
        assert not problems, problems
    finally:
        context.close()
