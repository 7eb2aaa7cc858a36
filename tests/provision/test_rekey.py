"""`panic-provision rekey`: a registered unit gets a new device key and broker password from the gateway over
its console, written with the proof of its current key; the key never shows on the host."""

from __future__ import annotations

import json
import time
from pathlib import Path

from provision.console import Console
from simulator.button import SimulatedButton
from simulator.stack import MqttListener
from tests.gateway.scripted import sign
from tests.provision.conftest import MakeBlank, Run, Site, provision_tool
from tests.provision.test_register import _all_host_text


def _register(site: Site, button: SimulatedButton) -> None:
    owner, premises = site.owner()
    assert button.console_path is not None
    run = provision_tool("--lang", "en", "register", "--port", button.console_path, "--gateway", site.url,
                         "--owner", owner, "--premises", premises, "--broker", site.broker, token=site.tech_token)
    assert run.code == 0, run.err
    button.wait_for_indicator("idle", timeout=20)


def _secrets(button: SimulatedButton) -> dict[str, str]:
    """What the unit holds (its flash stands for the chip: reading it is not the technician's laptop)."""
    stored: dict[str, str] = json.loads((button.flash_dir / "secrets.json").read_text())
    return stored


def _rekey(site: Site, button: SimulatedButton, lang: str = "en") -> Run:
    assert button.console_path is not None
    return provision_tool("--lang", lang, "rekey", "--port", button.console_path, "--gateway", site.url,
                          token=site.tech_token)


def _alerts(site: Site, dev: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = site.stack.gateway.request("GET", f"/alerts?device_id={dev}")
    return found


def _wait_for_alert(site: Site, dev: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30
    while len(alerts := _alerts(site, dev)) < count:
        assert time.monotonic() < deadline, f"no alert #{count} at the gateway: {alerts}"
        time.sleep(0.2)
    return alerts


def test_rekey_writes_new_credentials_the_unit_uses_and_the_old_key_is_refused(
        site: Site, blank_button: MakeBlank, tmp_path: Path) -> None:
    button = blank_button("rk")
    _register(site, button)
    before = _secrets(button)
    dev = json.loads((button.flash_dir / "config.json").read_text())["device_id"]
    old_fp = site.stack.gateway.request("GET", f"/devices/{dev}")["key_fingerprint"]

    run = _rekey(site, button)
    assert run.code == 0, run.out + run.err
    after = _secrets(button)
    assert after["device_key"] != before["device_key"] and after["mqtt_password"] != before["mqtt_password"]
    new_fp = site.stack.gateway.request("GET", f"/devices/{dev}")["key_fingerprint"]
    assert new_fp != old_fp and f"(key {old_fp} -> {new_fp})" in run.out, run.out
    assert "no longer accepts the old key" in run.out
    assert button.console_path is not None
    with Console(button.console_path) as con:
        assert con.request("info")["key"] == new_fp

    # a press is delivered and verified with the new key (the old one verifies nothing any more)
    button.wait_for_indicator("idle", timeout=20)
    button.press(2500)
    alerts = _wait_for_alert(site, dev, 1)
    assert alerts[-1]["type"] == "sos"
    button.wait_for_indicator("received", timeout=20)

    # a message signed with the old key is refused (bad_sig), even over the unit's own broker account
    topic = f"panic/v1/dev/{dev}/alert"
    body = {"v": 1, "dev": dev, "seq": 999, "type": "sos", "ts": 1795800000, "up": 1, "loc": None, "bat": 90,
            "pwr": "mains", "net": "wifi", "rssi": -60}
    forger = MqttListener(site.stack.broker_config, dev, after["mqtt_password"], [])
    try:
        forger.publish(topic, sign(bytes.fromhex(before["device_key"]), topic, body))
        deadline = time.monotonic() + 20
        while "rejected bad_sig message" not in site.stack.gateway.log():
            assert time.monotonic() < deadline, "the gateway did not refuse the old key's message"
            time.sleep(0.2)
    finally:
        forger.close()
    assert len(_alerts(site, dev)) == 1

    # and neither key nor password shows anywhere on the host
    host = _all_host_text(tmp_path, button.flash_dir.parent, site.state_dir) + run.out + run.err
    for secret in (before["device_key"], after["device_key"], after["mqtt_password"]):
        assert secret not in host and secret.upper() not in host


def test_a_rekey_cut_before_the_unit_stored_the_key_completes_when_run_again(
        site: Site, blank_button: MakeBlank) -> None:
    """The gateway issued new credentials, then the cable was pulled: the unit still holds its key."""
    button = blank_button("rkcut")
    _register(site, button)
    before = _secrets(button)
    dev = json.loads((button.flash_dir / "config.json").read_text())["device_id"]
    assert button.console_path is not None
    with Console(button.console_path) as con:
        held = con.request("info")["key"]
        nonce = con.request("challenge")["nonce"]
    site.stack.gateway.request("POST", f"/devices/{dev}/console-rekey", {"nonce": nonce, "key_fingerprint": held},
                               token=site.tech_token)  # the answer that was lost with the cable
    assert _secrets(button) == before  # nothing reached the unit
    run = _rekey(site, button, lang="id")
    assert run.code == 0, run.out + run.err
    assert "berganti kunci" in run.out
    with Console(button.console_path) as con:
        assert con.request("info")["key"] == site.stack.gateway.request("GET", f"/devices/{dev}")["key_fingerprint"]
    button.wait_for_indicator("idle", timeout=20)
    button.press(2500)
    assert _wait_for_alert(site, dev, 1)[-1]["type"] == "sos"


def test_rekey_refuses_a_unit_that_is_not_registered(site: Site, blank_button: MakeBlank) -> None:
    button = blank_button("rk0")
    run = _rekey(site, button)
    assert run.code == 2 and "not registered" in run.err, run.err
