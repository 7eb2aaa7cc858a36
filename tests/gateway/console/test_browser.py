"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright) against the real
stack: a press on a simulated button (the real firmware) appears on the page without a reload, the
operator clicks "acknowledge", and the button's indicator shows it.

The screenshot is saved in the test's directory; with PANIC_CONSOLE_SCREENSHOT set it is also copied
there (docs/console.png is made so: see docs/operations.md, "Operator console").
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from simulator.stack import Stack
from tests.gateway.console.conftest import SAMPLE
from tests.test_end_to_end import DEVICE, start_button

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install chromium; run.sh installs it)"
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_a_press_appears_live_and_acknowledging_it_reaches_the_button(stack: Stack, tmp_path: Path,
                                                                      browser: Browser) -> None:
    imported = httpx.post(f"{stack.gateway.url}/stations/import", content=SAMPLE.read_text(), timeout=10,
                          headers={"Authorization": f"Bearer {stack.gateway.token}", "Content-Type": "text/csv"})
    assert imported.status_code == 200, imported.text
    button = start_button(stack, tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    failed: list[str] = []
    page.on("response", lambda response: failed.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    try:
        page.goto(f"{stack.gateway.url}/console/")
        page.fill("#token", stack.gateway.token)
        page.fill("#operator", "Bripka Andi")
        page.click("#login button[type=submit]")
        expect(page.locator("#live")).to_have_class("live on")
        expect(page.locator("#login-view")).to_be_hidden()
        expect(page.locator("#no-alerts")).to_be_visible()
        page.evaluate("window.sameDocument = true")  # gone if the page were reloaded

        button.press(2000)
        card = page.locator(f'[data-alert-id^="{DEVICE}:"]')
        expect(card).to_be_visible(timeout=30_000)
        expect(card.locator("[data-state-badge]")).to_have_text("new")
        assert page.evaluate("window.sameDocument") is True
        detail = page.locator("#detail")
        expect(detail.locator("#d-owner")).to_contain_text("Toko Emas Sinar Jaya")  # the new alert is selected
        expect(detail.locator("#d-stations li.responsible")).to_have_count(1)
        expect(page.locator(".leaflet-interactive")).not_to_have_count(0)  # markers, without any tile server
        expect(page.locator(".leaflet-control-scale-line")).to_be_visible()
        button.wait_for_indicator("received", timeout=30)

        page.fill("#note", "unit on the way")
        page.click('#buttons [data-state="acknowledged"]')
        button.wait_for_indicator("acknowledged", timeout=30)
        expect(card.locator("[data-state-badge]")).to_have_text("acknowledged")
        expect(page.locator("#action-error")).to_have_text("")
        alert_id = card.get_attribute("data-alert-id")
        stored = stack.gateway.request("GET", f"/alerts/{alert_id}")
        assert (stored["state"], stored["acted_by"], stored["note"]) == ("acknowledged", "Bripka Andi",
                                                                         "unit on the way")

        page.click('#buttons [data-state="acknowledged"]', force=True)  # now disabled: nothing is sent
        page.click("#lang")
        expect(card.locator("[data-state-badge]")).to_have_text("diterima")
        page.click("#lang")
        shot = tmp_path / "console.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("PANIC_CONSOLE_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["PANIC_CONSOLE_SCREENSHOT"])
        assert problems == []
        assert failed == [f"401 {stack.gateway.url}/console/api/config"]  # before logging in, and only then
    finally:
        page.close()
        button.stop()


def test_a_refused_action_is_shown_to_the_operator(stack: Stack, tmp_path: Path, browser: Browser) -> None:
    """A desk whose view is behind (the alert was resolved meanwhile at another desk) acts on it: the
    gateway refuses (409) and the page shows why. The view is held back by serving the page's feed a
    snapshot taken from the gateway before the other desk acted."""
    button = start_button(stack, tmp_path)
    page = browser.new_page()
    try:
        page.goto(f"{stack.gateway.url}/console/")
        page.fill("#token", stack.gateway.token)
        page.fill("#operator", "Bripka Andi")
        page.click("#login button[type=submit]")
        button.press(2000)
        card = page.locator(f'[data-alert-id^="{DEVICE}:"]')
        expect(card).to_be_visible(timeout=30_000)
        alert_id = card.get_attribute("data-alert-id")
        before = page.request.get(f"{stack.gateway.url}/console/api/snapshot")  # with the page's session
        assert before.ok and before.json()["alerts"][0]["state"] == "new"
        held = f"event: snapshot\ndata: {json.dumps(before.json())}\n\n"
        page.route("**/console/api/events", lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream"}, body=held))
        page.reload()  # the feed now comes from the held snapshot
        expect(card.locator("[data-state-badge]")).to_have_text("new")
        stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": "resolved", "by": "another desk"})
        page.click('#buttons [data-state="dispatched"]')
        expect(page.locator("#action-error")).to_contain_text("409")
        expect(page.locator("#action-error")).to_contain_text("is resolved; cannot become dispatched")
        assert stack.gateway.request("GET", f"/alerts/{alert_id}")["state"] == "resolved"  # nothing changed
    finally:
        page.close()
        button.stop()
