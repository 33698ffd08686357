"""The booth in a real headless Chromium: the server on a loopback port of its own, the
browser launched the same way for every test, a guest who waits for states and screenshots
each step into tests/artifacts/browser/ for people to look at."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize

from kiosk.app import create_app
from kiosk.config import Settings
from tests.support.paths import ARTIFACTS
from tests.support.processes import free_port

CHROMIUM = Path("/usr/bin/chromium")
PORTRAIT: ViewportSize = {"width": 1080, "height": 1920}
LANDSCAPE: ViewportSize = {"width": 1920, "height": 1080}
SHOTS = ARTIFACTS / "browser"
RENDER_TIMEOUT_MS = 150_000

# Resolves once the pictures on the page have loaded and every finite CSS animation/transition
# has finished.
SETTLE_JS = """async () => {
  await Promise.all([...document.images].filter(img => img.src && !img.complete).map(img =>
    new Promise(done => {
      img.addEventListener('load', done); img.addEventListener('error', done);
      setTimeout(done, 10000); })));
  await Promise.all(document.getAnimations()
    .filter(a => a.playState === 'running' && a.effect.getComputedTiming().iterations !== Infinity)
    .map(a => a.finished.catch(() => null)));
}"""


class BoothServer:
    """The real app (guest API, WebSocket and, unless ``worker=False``, its render worker
    process) on a free loopback port, served from its own thread so the synchronous Playwright
    API can drive the browser."""

    def __init__(self, settings: Settings, *, worker: bool = True) -> None:
        # A port of its own, known before the start: the QR codes carry the settings' address.
        self.settings = replace(settings, host="127.0.0.1", port=free_port())
        self.worker = worker
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> BoothServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(120)
        return self

    async def _start(self) -> None:
        self.runner = web.AppRunner(create_app(self.settings, start_worker=self.worker))
        await self.runner.setup()
        await web.TCPSite(self.runner, self.settings.host, self.settings.port).start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def __exit__(self, *_exc: object) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def launch(playwright, *args: str) -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (apt-get install chromium)")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", *args],
    )


def csp_violation(message: ConsoleMessage, errors: list[str]) -> None:
    """Chromium reports what the Content-Security-Policy blocked as a console error."""
    if message.type == "error" and "Content Security Policy" in message.text:
        errors.append(message.text)


class Guest:
    """A page plus the habits of the test: wait for states, screenshot in both orientations."""

    def __init__(self, browser: Browser, url: str, flow: str, viewport: ViewportSize) -> None:
        self.page: Page = browser.new_page(viewport=viewport)
        self.viewport = viewport
        self.flow = flow
        self.step = 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: csp_violation(message, self.errors))
        self.page.goto(url)
        self.wait_state("attract")

    def wait_state(self, state: str, timeout: float = 15_000) -> None:
        self.page.wait_for_selector(f'body[data-state="{state}"]', timeout=timeout)

    def settle(self) -> None:
        self.page.wait_for_timeout(120)
        self.page.evaluate(SETTLE_JS)

    def shot(self, name: str, *, both: bool = True) -> None:
        """Screenshot the page in portrait and landscape (or, not `both`, at once as it is)."""
        self.step += 1
        views: list[tuple[str, ViewportSize | None]] = (
            [("portrait", PORTRAIT), ("landscape", LANDSCAPE)] if both else [("", None)]
        )
        for orientation, viewport in views:
            if viewport is not None:
                self.page.set_viewport_size(viewport)
                self.settle()
            suffix = f"-{orientation}" if orientation else ""
            self.page.screenshot(path=SHOTS / f"{self.flow}-{self.step:02d}-{name}{suffix}.png")
        self.page.set_viewport_size(self.viewport)

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text().strip()

    def pick(self, style: str, scene: str) -> None:
        self.page.click(f'#style-choices .card[data-name="{style}"]')
        self.wait_state("scene")
        self.page.click(f'#scene-choices .card[data-name="{scene}"]')
        self.wait_state("camera")

    def upload_to_result(
        self, photo: Path, style: str = "starry_night", scene: str = "own"
    ) -> None:
        """From attract to the final painting the quick way: a painting, a scene, an uploaded
        photo, "Use it!", then the painting appears and is finished."""
        self.page.click("#start")
        self.wait_state("style")
        self.pick(style, scene)
        self.page.set_input_files("#upload-input", photo)
        self.wait_state("review")
        self.page.click("#use")
        self.wait_state("result", timeout=RENDER_TIMEOUT_MS)

    def close(self) -> None:
        self.page.close()
        assert not self.errors, f"uncaught errors in the page: {self.errors}"
