"""The operator page's "Phones" panel in a real Chromium: a booth bound to loopback only (the
default) warns, in words and with the fix, that phones cannot reach it; a booth with a
public_url phones reach shows where QR codes point and no warning. Screenshots go to
tests/artifacts/browser/ (admin-network-warning.png is docs/images/admin_network_warning.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import SHOTS, BoothServer, csp_violation

pytestmark = [pytest.mark.browser]

PASSWORD = "s3cret"
VIEWPORT = {"width": 1280, "height": 900}  # an operator's laptop


def operator_page(browser: Browser) -> tuple[Page, list[str]]:
    context = browser.new_context(
        viewport=VIEWPORT, http_credentials={"username": "operator", "password": PASSWORD}
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: csp_violation(message, problems))
    return page, problems


def test_a_loopback_booth_warns_the_operator_and_a_reachable_one_does_not(
    module_settings, browser: Browser
) -> None:
    settings = module_settings("network", admin_password=PASSWORD)
    with BoothServer(settings, worker=False) as server:  # bound to 127.0.0.1, no public_url
        page, problems = operator_page(browser)
        page.goto(f"{server.url}/admin/")
        panel = page.locator("#network")
        expect(panel).to_have_attribute("data-state", "warning", timeout=15_000)
        expect(page.locator("#network-lead")).to_contain_text("Phones cannot reach the booth")
        warning = page.locator("#network-problems li").first
        expect(warning).to_contain_text("The server listens on 127.0.0.1 (loopback) only")
        expect(warning.locator(".fix")).to_contain_text('host = "0.0.0.0"')
        expect(warning.locator(".fix")).to_contain_text("public_url")
        summary = page.locator("#network-summary")
        expect(summary).to_contain_text(f"booth screen {server.url}/")
        expect(summary).not_to_contain_text("QR codes carry http://127.0.0.1")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "admin-network-warning.png")
        page.set_viewport_size({"width": 390, "height": 844})  # the operator's phone
        page.screenshot(path=SHOTS / "admin-network-warning-phone.png")
        assert problems == []
        page.context.close()

    reachable = module_settings(
        "network-ok", admin_password=PASSWORD, public_url="http://booth.example:8080"
    )
    with BoothServer(reachable, worker=False) as server:
        page, problems = operator_page(browser)
        page.goto(f"{server.url}/admin/")
        expect(page.locator("#network")).to_have_attribute("data-state", "ok", timeout=15_000)
        expect(page.locator("#network-summary")).to_contain_text(
            "QR codes carry http://booth.example:8080"
        )
        expect(page.locator("#network-lead")).to_be_hidden()
        expect(page.locator("#network-problems li")).to_have_count(0)
        page.screenshot(path=SHOTS / "admin-network-ok.png")
        assert problems == []
        page.context.close()
