"""The gateway forwarding to an alarm-receiving centre: the real gateway process, real Mosquitto,
a scripted button signing its alerts, and pysiaalarm as the centre's receiver, each in its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.dc09.account import AccountScheme
from simulator.button import SimulatedButton
from simulator.stack import Stack
from tests.gateway.dc09.harness import KEY_HEX, PYSIA_KEY, PysiaReceiver
from tests.gateway.scripted import ScriptedDevice

DEVICE = "pb-3c71bf4a9e10"
ACCOUNT = AccountScheme().account_for(DEVICE)  # 309392
GATEWAY_ACCOUNT = AccountScheme().gateway_account


def receivers_setting(receiver: PysiaReceiver, key_hex: str | None = None) -> str:
    return json.dumps([{
        "name": "arc-1", "host": "127.0.0.1", "port": receiver.port, "transport": "tcp", "key": key_hex,
        "ack_timeout_s": 2, "retry_initial_s": 0.1, "retry_max_s": 0.5, "link_test_s": 0,
        "send_location": False,  # pysiaalarm 3.2 takes one extended-data block in ADM-CID only
    }])


@pytest.fixture
def gateway_with(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Broker + gateway process forwarding to the given receiver."""
    stacks: list[Stack] = []

    def start(receiver: PysiaReceiver, key_hex: str | None = None) -> Stack:
        stack = Stack(tmp_path, gateway_env={"PANIC_DC09_RECEIVERS": receivers_setting(receiver, key_hex),
                                             "PANIC_OUTBOX_POLL_S": "0.2"})
        stack.start()
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture
def button() -> Iterator[Callable[[Stack], ScriptedDevice]]:
    devices: list[ScriptedDevice] = []

    def register(stack: Stack) -> ScriptedDevice:
        devices.append(ScriptedDevice(stack, DEVICE))
        return devices[-1]

    yield register
    for device in devices:
        device.mqtt.close()


def press(device: ScriptedDevice, alert_type: str) -> None:
    """The button sends a signed alert; back comes `received`: the alert (and its report) is committed."""
    cancels = {"ref": device.seq} if alert_type == "cancel" else {}  # a cancel names the alert it cancels
    device.send(device.alert_body(type=alert_type, **cancels))
    ack = device.next_ack()
    assert (ack["ref"], ack["state"]) == (device.seq, "received")


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_an_alert_pressed_reaches_the_receiver_as_contact_id(
    receivers: Callable[..., PysiaReceiver], gateway_with: Callable[..., Stack],
    button: Callable[[Stack], ScriptedDevice], encrypted: bool,
) -> None:
    receiver = receivers([ACCOUNT], key=PYSIA_KEY if encrypted else None)
    stack = gateway_with(receiver, KEY_HEX if encrypted else None)
    device = button(stack)
    for alert_type in ("sos", "silent_sos", "test", "cancel"):
        press(device, alert_type)

    got = receiver.take(4)
    assert [(e["event_type"], e["qualifier"], e["ri"], e["code"]) for e in got] == [
        ("120", "1", "001", "PA"), ("122", "1", "001", "HA"), ("601", "1", "000", "RX"), ("406", "1", "001", "OC")]
    assert {(e["account"], e["partition"], e["encrypted"]) for e in got} == {(ACCOUNT, "01", encrypted)}
    assert [e["sequence"] for e in got] == ["0001", "0002", "0003", "0004"]
    device.send(device.alert_body(seq=1, type="sos"))  # a retransmission: acked again, not reported again
    assert device.next_ack()["state"] == "received"
    assert receiver.quiet(1.0) == []
    assert KEY_HEX not in stack.gateway.log() and KEY_HEX.lower() not in stack.gateway.log()


def test_receiver_down_then_back_gets_everything_in_order_once_and_sigterm_stops_cleanly(
    receivers: Callable[..., PysiaReceiver], gateway_with: Callable[..., Stack],
    button: Callable[[Stack], ScriptedDevice],
) -> None:
    receiver = receivers([ACCOUNT])
    stack = gateway_with(receiver)
    device = button(stack)
    press(device, "sos")
    assert [e["sequence"] for e in receiver.take(1)] == ["0001"]

    receiver.kill()
    types = ["silent_sos", "sos", "test", "silent_sos", "cancel"]
    for alert_type in types:
        press(device, alert_type)
    receiver.start()  # same port

    got = receiver.take(len(types))
    assert [e["event_type"] for e in got] == ["122", "120", "601", "122", "406"]
    assert [e["sequence"] for e in got] == ["0002", "0003", "0004", "0005", "0006"]
    assert receiver.quiet(1.0) == []

    process = stack.gateway.process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert "gateway stopped" in stack.gateway.log()


def test_gateway_killed_with_reports_pending_delivers_them_after_restart(
    receivers: Callable[..., PysiaReceiver], gateway_with: Callable[..., Stack],
    button: Callable[[Stack], ScriptedDevice],
) -> None:
    receiver = receivers([ACCOUNT])
    receiver.kill()  # the centre is down: every report stays pending
    stack = gateway_with(receiver)
    device = button(stack)
    for alert_type in ("sos", "silent_sos", "sos"):
        press(device, alert_type)
    process = stack.gateway.process
    assert process is not None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    receiver.start()
    stack.gateway.start()  # same database, same instance name
    got = receiver.take(3)
    assert [(e["sequence"], e["event_type"]) for e in got] == [("0001", "120"), ("0002", "122"), ("0003", "120")]
    assert receiver.quiet(1.0) == []


def test_registering_a_button_whose_account_is_taken_is_refused(
    receivers: Callable[..., PysiaReceiver], gateway_with: Callable[..., Stack],
) -> None:
    stack = gateway_with(receivers([ACCOUNT]))
    first = stack.register_button("pb-000000000001")  # account 000001
    assert first["mqtt_username"] == "pb-000000000001"
    with pytest.raises(RuntimeError) as refused:
        stack.register_button("pb-0000000f4241")  # 1 000 001: account 000001 again
    assert "409" in str(refused.value) and "DC-09 account 000001" in str(refused.value)
    assert "account_overrides" in str(refused.value)
    with pytest.raises(RuntimeError, match="409") as reserved:
        stack.register_button("pb-0000000f4240")  # 1 000 000: the gateway's own account 000000
    assert f"DC-09 account {GATEWAY_ACCOUNT}" in str(reserved.value)


def test_bad_receivers_setting_is_one_clear_line_without_the_key(tmp_path: Path) -> None:
    key = "C0FFEE" * 5 + "AB"  # 32 hex digits: a valid key, in a receiver with a bad port
    setting = json.dumps([{"name": "arc-1", "host": "127.0.0.1", "port": 0, "key": key}])
    result = subprocess.run(
        [sys.executable, "-m", "gateway.main"],
        env={**os.environ, "PANIC_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
             "PANIC_DC09_RECEIVERS": setting},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "panic-gateway: invalid settings" in lines[0]
    assert "PANIC_DC09_RECEIVERS[0]: port" in lines[0]
    assert key not in result.stderr and key.lower() not in result.stderr


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_a_press_on_the_simulated_button_reaches_the_receiver(
    tmp_path: Path, receivers: Callable[..., PysiaReceiver], gateway_with: Callable[..., Stack], encrypted: bool,
) -> None:
    """The whole path: the real firmware under MicroPython holds SOS, the gateway commits it, the
    alarm-receiving centre's receiver gets Contact ID 120 for the button's account."""
    device_id = "pb-0badc0ffee02"
    account = AccountScheme().account_for(device_id)
    receiver = receivers([account], key=PYSIA_KEY if encrypted else None)
    stack = gateway_with(receiver, KEY_HEX if encrypted else None)
    issued = stack.register_button(device_id)
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port, hold_ms=1500)
    button = SimulatedButton(flash)
    button.start()
    try:
        button.wait_for_indicator("idle", timeout=30)
        button.press(2000)
        button.wait_for_indicator("received", timeout=30)
        got = receiver.take(1)
        assert [(e["account"], e["event_type"], e["qualifier"], e["encrypted"]) for e in got] == [
            (account, "120", "1", encrypted)]
        assert receiver.quiet(1.0) == []
    finally:
        button.stop()
