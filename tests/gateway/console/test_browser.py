"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright) against the real
stack: a press on a simulated button (the real firmware) appears on the page without a reload, the
operator clicks "acknowledge", and the button's indicator shows it.

The screenshot is saved in the test's directory; with PANIC_CONSOLE_SCREENSHOT set it is also copied
there (docs/console.png is made so: see docs/operations.md, "Operator console").
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect, sync_playwright

from broker.run import free_port
from simulator.stack import Stack
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import auth, make_api
from tests.gateway.console.conftest import SAMPLE, register, serving
from tests.test_end_to_end import DEVICE, start_button

CHROMIUM = "/usr/bin/chromium"
# Counts the tones the page starts (WebAudio oscillators), to see the new-alert sound without hearing it.
COUNT_BEEPS = """
window.beeps = 0;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.beeps += 1; return createOscillator.call(this); };
"""


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
    page.add_init_script(COUNT_BEEPS)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
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
        assert page.evaluate("window.beeps") == 3  # the new alert's sound (the login click allowed audio)
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
        # The page acts on the revision it shows, so the gateway names the stale view and the new state.
        expect(page.locator("#action-error")).to_contain_text("stale revision")
        expect(page.locator("#action-error")).to_contain_text("(resolved)")
        assert stack.gateway.request("GET", f"/alerts/{alert_id}")["state"] == "resolved"  # nothing changed
    finally:
        page.close()
        button.stop()


def test_the_page_shows_what_the_alert_lifecycle_adds(tmp_path: Path, broker: BrokerUnderTest,
                                                     browser: Browser) -> None:
    """Silent SOS, cancel requests, GET /alerts/{id} with `timeline` and `escalation_level`, and acks with
    `rev`: rather than wait for a second escalation or press gestures, the page is served real data changed
    into those shapes (docs/protocol.md) and must show them, in the browser's language (Indonesian here),
    and send `rev` with an action and show a stale one's refusal. The tile
    server configured here cannot be reached: the map still shows the positions, a grid, scale and coordinates."""
    api = make_api(tmp_path, broker, console_tile_url=f"http://127.0.0.1:{free_port()}/{{z}}/{{x}}/{{y}}.png")
    issued = register(api)
    for seq in (1, 2, 3):
        assert api.send_alert(issued["device_id"], issued["device_key"], seq).verdict == "new"
    snapshot = api.client.get("/console/api/snapshot", headers=auth("ops-token")).json()
    silent, test, cancelling = snapshot["alerts"]  # newest first
    silent["type"], test["type"], test["test"], cancelling["state"] = "silent_sos", "test", True, "cancel_requested"
    held = f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"
    detail = {**api.client.get(f"/alerts/{silent['alert_id']}", headers=auth("ops-token")).json(),
              "escalation_level": 2, "timeline": [
                  {"at": silent["received_at"], "state": "new", "by": None, "note": None, "rev": 1, "escalation": None},
                  {"at": silent["received_at"], "state": "new", "by": "gateway", "note": "no answer in 60 s",
                   "rev": 2, "escalation": {"level": 2, "reason": "unacknowledged"}}]}
    sent: list[Any] = []

    def refuse_as_stale(route: Route) -> None:
        sent.append(route.request.post_data_json)
        route.fulfill(status=409, json={"detail": f"alert {silent['alert_id']} is at rev 3, not 1"})

    with serving(api.client.app) as url:
        page = browser.new_page(locale="id-ID")
        page.route("**/console/api/events", lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream"}, body=held))
        page.route(lambda address: unquote(address).endswith(f"/alerts/{silent['alert_id']}"),
                   lambda route: route.fulfill(json=detail))
        page.route("**/ack", refuse_as_stale)
        try:
            page.goto(f"{url}/console/")
            expect(page.locator("#login h2")).to_have_text("Masuk")
            page.fill("#token", "ops-token")
            page.fill("#operator", "Bripka Andi")
            page.click("#login button[type=submit]")
            cards = page.locator("[data-alert-id]")
            expect(cards).to_have_count(3)
            expect(cards.nth(0).locator(".type-silent_sos")).to_have_text("SOS SENYAP")
            expect(cards.nth(1).locator(".type-test")).to_have_text("UJI")
            expect(cards.nth(2).locator("[data-state-badge]")).to_have_text("minta dibatalkan")
            expect(page.locator("#d-owner .hint.silent")).to_have_text("Senyap: jangan menelepon tempat itu")
            expect(page.locator("#d-escalation")).to_have_text("Tingkat eskalasi: 2")
            expect(page.locator("#d-timeline li")).to_have_count(2)
            expect(page.locator("#d-timeline li").nth(1)).to_contain_text("no answer in 60 s")
            expect(page.locator("#map img.leaflet-tile")).not_to_have_count(0)  # asked for, never loaded
            expect(page.locator("#map .leaflet-interactive")).not_to_have_count(0)  # the alert's marker
            expect(page.locator("#map .grid-label")).not_to_have_count(0)
            expect(page.locator("#map .leaflet-control-scale-line")).to_be_visible()
            expect(page.locator("#map .coord-readout")).to_have_text(re.compile(r"^-5\.\d{6}, 105\.\d{6}$"))
            page.click('#buttons [data-state="acknowledged"]')
            expect(page.locator("#action-error")).to_contain_text("409")
            expect(page.locator("#action-error")).to_contain_text("is at rev 3, not 1")
            assert sent == [{"state": "acknowledged", "by": "Bripka Andi", "note": None, "rev": silent["rev"]}]
        finally:
            page.close()
