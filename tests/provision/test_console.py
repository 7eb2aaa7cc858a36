"""The firmware's serial console (protocol/console.md) on a simulated button's pty: every vector, bad input,
two tools on one port, challenge-response on a registered unit, a secret write cut by a power loss."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
import serial
from jsonschema import Draft202012Validator

from provision.console import Console, DeviceError, PortError
from simulator.button import SimulatedButton
from tests.provision.conftest import MakeBlank, Site, provision_tool

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"
VECTORS = json.loads((PROTOCOL / "vectors" / "console.json").read_text())
RESPONSE = Draft202012Validator(json.loads((PROTOCOL / "schemas" / "console-response.json").read_text()))
REQUEST = Draft202012Validator(json.loads((PROTOCOL / "schemas" / "console-request.json").read_text()))


def _answer(port: serial.Serial, raw: bytes) -> dict[str, Any]:
    port.write(raw + b"\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = port.readline()
        if line.startswith(b"{"):
            answer: dict[str, Any] = json.loads(line)
            RESPONSE.validate(answer)
            return answer
    raise AssertionError(f"no answer to {raw[:60]!r}")


def test_every_console_vector_gets_its_answer_and_the_unit_stays_usable(blank_button: MakeBlank) -> None:
    button = blank_button()
    assert button.console_path is not None
    with serial.Serial(button.console_path, 115200, timeout=0.5) as port:
        port.reset_input_buffer()
        for vector in VECTORS["vectors"]:
            send = vector["send"]
            raw = bytes.fromhex(send[4:]) if send.startswith("hex:") else send.encode()
            answer = _answer(port, raw)
            got = "ok" if answer["ok"] else answer["error"]
            assert got == vector["expect"], (vector["name"], answer)
            assert "msg" in answer or answer["ok"] or answer["error"] == "too_long"
            assert _answer(port, b'{"v":1,"op":"hello","id":99}')["ok"], vector["name"]
    assert not (button.flash_dir / "config.json").exists(), "a refused request wrote something"
    assert not (button.flash_dir / "secrets.json").exists()
    assert button.running


def test_requests_the_tool_sends_match_the_schema() -> None:
    for req in ({"v": 1, "op": "configure", "id": 1,
                 "set": {"broker_host": "h", "broker_port": 1883, "wifi_ssid": None}},
                {"v": 1, "op": "set_secrets", "id": 2, "secrets": {"device_key": "ab" * 32, "mqtt_password": "p"}},
                {"v": 1, "op": "test_mode", "id": 3, "on": True}):
        REQUEST.validate(req)


def test_configure_writes_what_the_unit_checked_and_secrets_never_come_back(blank_button: MakeBlank) -> None:
    button = blank_button()
    assert button.console_path is not None
    with Console(button.console_path) as con:
        con.request("configure", set={"broker_host": "127.0.0.1", "heartbeat_s": 9, "wifi_ssid": "toko"})
        with pytest.raises(DeviceError) as refused:
            con.request("configure", set={"heartbeat_s": 0})
        assert refused.value.code == "invalid" and "heartbeat_s" in refused.value.msg
        key = secrets.token_hex(32)
        done = con.request("set_secrets", secrets={"device_key": key, "mqtt_password": "pw-secret",
                                                   "wifi_password": "wifi-secret"})
        assert done["key"] == hashlib.sha256(bytes.fromhex(key)).hexdigest()[:8]
        info = con.request("info")
    assert info["config"] == {"broker_host": "127.0.0.1", "heartbeat_s": 9, "wifi_ssid": "toko"}
    assert info["secrets"] == ["device_key", "mqtt_password", "wifi_password"]
    text = json.dumps(info) + button.tail(200)
    for secret in (key, "pw-secret", "wifi-secret"):
        assert secret not in text


def test_two_tools_on_one_port_the_second_is_told_it_is_busy(blank_button: MakeBlank) -> None:
    button = blank_button()
    assert button.console_path is not None
    with Console(button.console_path) as first:
        with pytest.raises(PortError) as busy:
            Console(button.console_path)
        assert busy.value.args[0] == "port_busy"
        run = provision_tool("--lang", "en", "info", "--port", button.console_path)
        assert run.code == 2 and "in use by another program" in run.err
        assert first.request("hello")["ok"]


def test_a_port_without_a_panic_button_is_the_wrong_device(tmp_path: Path) -> None:
    import os
    import pty

    master, slave = pty.openpty()
    try:
        run = provision_tool("--lang", "id", "info", "--port", os.ttyname(slave), "--wait", "1")
        assert run.code == 2 and "tidak menjawab sebagai tombol panik" in run.err
    finally:
        os.close(master)
        os.close(slave)


def _provisioned(tmp_path: Path, key_hex: str) -> SimulatedButton:
    flash = tmp_path / "flash" / "registered"
    SimulatedButton.provision(flash, device_id="pb-00aa00bb00cc", device_key_hex=key_hex, mqtt_password="pw",
                              broker_host="127.0.0.1", broker_port=1)
    button = SimulatedButton(flash, console_pty=True)
    button.start()
    return button


def _proof(key_hex: str, dev: str, nonce: str, op: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), f"console\n{dev} {nonce} {op}".encode(), hashlib.sha256).hexdigest()


def test_a_registered_unit_changes_secrets_or_broker_only_with_the_current_keys_proof(tmp_path: Path) -> None:
    key = secrets.token_hex(32)
    button = _provisioned(tmp_path, key)
    try:
        assert button.console_path is not None
        with Console(button.console_path) as con:
            new = {"device_key": secrets.token_hex(32), "mqtt_password": "new"}
            attempts: tuple[dict[str, Any], ...] = ({}, {"auth": "0" * 64})
            for attempt in attempts:
                with pytest.raises(DeviceError) as refused:
                    con.request("set_secrets", secrets=new, **attempt)
                assert refused.value.code in ("auth_required", "auth_failed")
            with pytest.raises(DeviceError) as refused:
                con.request("configure", set={"broker_host": "evil.example"})
            assert refused.value.code == "auth_required"
            con.request("configure", set={"heartbeat_s": 12})  # harmless settings need no proof
            con.request("set_secrets", secrets={"wifi_password": "w"})  # nor does the Wi-Fi password
            nonce = con.request("challenge")["nonce"]
            proof = _proof(key, "pb-00aa00bb00cc", nonce, "set_secrets")
            with pytest.raises(DeviceError):  # a proof for another op does not do
                con.request("set_secrets", secrets=new, auth=_proof(key, "pb-00aa00bb00cc", nonce, "configure"))
            with pytest.raises(DeviceError) as stale:  # the nonce was used up by the failed attempt
                con.request("set_secrets", secrets=new, auth=proof)
            assert stale.value.code == "auth_failed"
            nonce = con.request("challenge")["nonce"]
            done = con.request("set_secrets", secrets=new, auth=_proof(key, "pb-00aa00bb00cc", nonce, "set_secrets"))
            assert done["key"] == hashlib.sha256(bytes.fromhex(new["device_key"])).hexdigest()[:8]
        stored = json.loads((button.flash_dir / "secrets.json").read_text())
        assert stored["device_key"] == new["device_key"] and stored["wifi_password"] == "w"
        assert json.loads((button.flash_dir / "config.json").read_text())["broker_host"] == "127.0.0.1"
    finally:
        button.stop()


def test_the_auth_vector_is_what_the_unit_computes(tmp_path: Path) -> None:
    auth = VECTORS["auth"]
    assert _proof(auth["device_key_hex"], auth["device_id"], auth["nonce"], auth["op"]) == auth["proof"]
    assert hmac.new(bytes.fromhex(auth["device_key_hex"]), auth["message"].encode(), hashlib.sha256).hexdigest() \
        == auth["proof"]


def test_a_unit_registered_elsewhere_is_refused_with_what_to_do(site: Site, tmp_path: Path) -> None:
    button = _provisioned(tmp_path, secrets.token_hex(32))
    try:
        owner, premises = site.owner()
        assert button.console_path is not None
        run = provision_tool("--lang", "en", "register", "--port", button.console_path, "--gateway", site.url,
                             "--owner", owner, "--premises", premises, token=site.tech_token)
        assert run.code == 2
        assert "registered to another deployment" in run.err and "released by its operator" in run.err
        with pytest.raises(RuntimeError, match="404"):  # nothing was registered
            site.stack.gateway.request("GET", "/devices/pb-00aa00bb00cc")
    finally:
        button.stop()


def test_gateway_problems_are_explained(blank_button: MakeBlank, site: Site) -> None:
    button = blank_button()
    assert button.console_path is not None
    owner, premises = site.owner()
    base = ["--lang", "en", "register", "--port", button.console_path, "--owner", owner, "--premises", premises,
            "--broker", site.broker]
    run = provision_tool(*base, "--gateway", site.url, token="not-a-token")
    assert run.code == 2 and "rejected the token" in run.err
    run = provision_tool(*base, "--gateway", "http://127.0.0.1:9")
    assert run.code == 2 and "PANIC_TOKEN" in run.err
    run = provision_tool(*base, "--gateway", "http://127.0.0.1:9", token="t")
    assert run.code == 2 and "cannot be reached" in run.err
    with Console(button.console_path) as con:
        assert con.request("hello")["registered"] is False  # nothing half-written


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.01, 0.03])
def test_a_secret_write_cut_by_power_loss_leaves_old_or_new_complete(tmp_path: Path, delay: float) -> None:
    old_key = secrets.token_hex(32)
    flash = tmp_path / "flash" / "cut"
    SimulatedButton.provision(flash, device_id="pb-00aa00bb00cd", device_key_hex=old_key, mqtt_password="old",
                              broker_host="127.0.0.1", broker_port=1)
    button = SimulatedButton(flash, console_pty=True)
    button.start()
    new_key = secrets.token_hex(32)
    try:
        assert button.console_path is not None
        with Console(button.console_path) as con:
            nonce = con.request("challenge")["nonce"]
            proof = _proof(old_key, "pb-00aa00bb00cd", nonce, "set_secrets")
            line = json.dumps({"v": 1, "op": "set_secrets", "id": 1, "auth": proof,
                               "secrets": {"device_key": new_key, "mqtt_password": "new"}}).encode() + b"\n"
            con._serial.write(line)
            con._serial.flush()
            time.sleep(delay)
            button.kill()
        stored = json.loads((flash / "secrets.json").read_text())  # complete JSON, whichever it is
        assert (stored["device_key"], stored["mqtt_password"]) in ((old_key, "old"), (new_key, "new"))
        button.start()
        assert button.console_path is not None
        with Console(button.console_path) as con:
            info = con.request("info")
        want = {old_key: hashlib.sha256(bytes.fromhex(old_key)).hexdigest()[:8],
                new_key: hashlib.sha256(bytes.fromhex(new_key)).hexdigest()[:8]}[stored["device_key"]]
        assert info["key"] == want and info["running"]
    finally:
        button.stop()


@pytest.mark.parametrize(("errno_", "text", "key"), [
    (13, "could not open port /dev/ttyUSB0: [Errno 13] Permission denied: '/dev/ttyUSB0'", "port_denied"),
    (16, "could not open port /dev/ttyUSB0: [Errno 16] Device or resource busy: '/dev/ttyUSB0'", "port_busy"),
    (None, "Could not exclusively lock port /dev/ttyUSB0: [Errno 11] Resource temporarily unavailable", "port_busy"),
    (2, "could not open port /dev/ttyUSB9: [Errno 2] No such file or directory: '/dev/ttyUSB9'", "port_missing"),
])
def test_open_errors_as_pyserial_raises_them_become_what_to_do(errno_: int | None, text: str, key: str) -> None:
    """Permission denied cannot be made here (tests may run as root): pyserial's exceptions as it raises them."""
    from provision.console import port_problem
    from provision.texts import Texts

    assert port_problem(serial.SerialException(errno_, text)) == key
    if key == "port_denied":
        assert "dialout" in Texts("en")(key, port="/dev/ttyUSB0") and "dialout" in Texts("id")(key, port="x")
