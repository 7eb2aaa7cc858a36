"""SMS, the path of last resort, end to end: the real firmware, gateway and broker, emulated modems and operator.

The button is the real firmware under `micropython -X heapsize=110K` with its
modem UART bridged to an emulated A7670E; the gateway (`panic-gateway`, its own
process) reads an emulated SIM800L over its pty (PANIC_SMS_PORT); Mosquitto
runs with the project's configuration; both modems are subscribers of one
emulated network (simulator/smspath.py). Data is cut by switching the button's
Wi-Fi off (a Wi-Fi button with SMS configured) or by the operator refusing
data (a cellular button). Gateway-side SMS faults are tested in
tests/gateway/sms/; the firmware's SMS module alone in tests/firmware/test_smsout.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.sms import format as smsformat
from simulator.button import SimulatedButton
from simulator.smspath import BUTTON_NUMBER, GATEWAY_NUMBER, SmsPath
from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid

DEVICE = "pb-5b5c0ffee0a1"
# The unit's 110K heap beside the firmware's ROMFS image, as a button with a modem ships (docs/firmware.md,
# "ROMFS"; as .mpy files on the filesystem it cannot load panic.smsout beside the modem's code).
HEAPSIZE = "110K"
AFTER_S = 5  # sms_after_s: the shortest the configuration allows (30 by default)
FAST: dict[str, Any] = {"reconnect_min_ms": 200, "reconnect_max_ms": 1000, "hold_ms": 1500, "sms_after_s": AFTER_S}


@dataclass
class World:
    path: SmsPath
    stack: Stack
    dispatch: MqttListener
    tmp_path: Path

    def button(self, *, wifi: bool = True, **config: Any) -> SimulatedButton:
        button = self.path.button(self.stack, self.tmp_path / "flash", DEVICE, wifi=wifi,
                                  log_file=self.tmp_path / "button.log", heapsize=HEAPSIZE, **(FAST | config))
        button.start()
        return button

    def alerts(self, wait: float) -> list[dict[str, Any]]:
        found = []
        for topic, payload in self.dispatch.drain(wait):
            if topic.endswith("/alerts"):
                record = json.loads(payload)
                assert_valid("dispatch-alert.json", record)
                found.append(record)
        return found

    def next_alert(self, timeout: float = 60) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(self.dispatch.next(timeout, "/dispatch/alerts")[1])
        assert_valid("dispatch-alert.json", record)
        return record


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with SmsPath() as path, Stack(tmp_path / "stack", gateway_env=path.gateway_env()) as stack:
        path.wait_gateway_ready()
        dispatch = stack.dispatch()
        try:
            yield World(path, stack, dispatch, tmp_path)
        finally:
            dispatch.close()


def cut_wifi(button: SimulatedButton) -> None:
    """The button is online over Wi-Fi; then its Wi-Fi goes (the data link with it)."""
    button.wait_for_indicator("idle", timeout=60)
    mark = button.mark()
    button.wifi(False)
    button.wait_for_log(r"link: (wifi|\w+) lost|link: disconnected", timeout=30, since=mark)


def when_sent(world: World, count: int, action: Any) -> threading.Thread:
    """Play `action` the moment the button's `count`-th SMS enters the network (before the gateway answers)."""

    def watch() -> None:
        world.path.wait_for("to_gateway", count, timeout=120)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("bearer", ["wifi", "cell"])
def test_data_cut_the_alert_reaches_dispatch_by_sms_and_the_ack_sms_lights_the_button(
        world: World, bearer: str) -> None:
    if bearer == "wifi":  # a Wi-Fi button with SMS configured: its Wi-Fi goes down
        button = world.button()
        cut_wifi(button)
    else:  # a cellular button whose operator refuses data (ATD*99# -> NO CARRIER): SMS still works
        world.path.network.refuse_data = True
        button = world.button(wifi=False, apn="internet")
        button.wait_for_log(r"cell: down why=ppp_refused", timeout=60)
    try:
        button.press(2000)
        seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=sos").group(1))
        alert = world.next_alert(timeout=90)
        assert alert["alert_id"] == f"{DEVICE}:{seq}" and alert["type"] == "sos"
        assert alert["device"]["network"] == "sms"
        button.wait_for_indicator("received", timeout=60)  # the gateway's ack SMS, verified by the button
        button.wait_for_log(rf"sms: ack seq={seq} state=received")
        assert button.outbox() == []
        (sms,) = world.path.to_gateway()  # acked before a resend was due: one SMS
        assert sms.text.startswith(f"PB1 A {DEVICE[3:]} {seq} S ")
        assert len(world.path.to_button()) == 1
        assert world.alerts(1.0) == []
    finally:
        button.stop()


def restart_gateway(world: World) -> None:
    """Stop the gateway and start it again on the same database and modem; until it has set the modem up."""
    modem = world.path.gateway_modem
    setups = sum(c.startswith("AT+CNMI") for c in modem.received_commands)
    world.stack.gateway.stop()
    world.stack.gateway.start()
    deadline = time.monotonic() + 30
    while sum(c.startswith("AT+CNMI") for c in modem.received_commands) <= setups:
        assert time.monotonic() < deadline, "the restarted gateway did not set its SMS modem up"
        time.sleep(0.05)


@pytest.mark.parametrize("bearer", ["wifi", "cell"])
def test_police_states_reach_a_button_without_data_by_sms_once_each_across_a_restart(
        world: World, bearer: str) -> None:
    # Police move an alert that came by SMS; the button still has no data link: the state comes by SMS,
    # signed, and the indicator follows. The same state again, before or after a gateway restart, sends
    # nothing; the next state does.
    if bearer == "wifi":
        button = world.button()
        cut_wifi(button)
    else:
        world.path.network.refuse_data = True
        button = world.button(wifi=False, apn="internet")
        button.wait_for_log(r"cell: down why=ppp_refused", timeout=60)
    try:
        cut = button.mark()
        button.press(2000)
        seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=sos").group(1))
        alert_id = world.next_alert(timeout=90)["alert_id"]
        button.wait_for_indicator("received", timeout=60)
        assert button.outbox() == []  # from here on the button has nothing to send: only SMS to read
        police = {"by": "Polsek Tanjung Karang, desk 2", "note": "unit 7 en route"}
        world.stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": "acknowledged", **police})
        button.wait_for_indicator("acknowledged", timeout=60)
        button.wait_for_log(rf"sms: ack seq={seq} state=acknowledged")
        received, acknowledged = world.path.to_button()  # the button logged it only once its MAC checked
        assert received.to == acknowledged.to == BUTTON_NUMBER
        assert acknowledged.text.startswith(f"PB1 K {DEVICE[3:]} {seq} A ")
        data = re.compile(r"link: connected|cell: up|link: (wifi|bearer) up")
        assert not any(data.search(line) for line in button.lines[cut:])  # with no data link all along

        # The same state again: the alert does not change, and no second SMS goes out.
        world.stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": "acknowledged", **police})
        time.sleep(3)
        assert len(world.path.to_button()) == 2
        restart_gateway(world)
        world.stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": "acknowledged", **police})
        time.sleep(3)
        assert len(world.path.to_button()) == 2  # nothing sent again after the restart either
        metrics = world.stack.gateway.request("GET", "/metrics")
        assert 'panic_sms_state_acks_total{state="acknowledged"}' not in metrics  # counted by the earlier run

        # The next state does go out, once.
        world.stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": "dispatched", **police})
        button.wait_for_indicator("on_the_way", timeout=60)
        button.wait_for_log(rf"sms: ack seq={seq} state=dispatched")
        assert [sms.text.split()[4] for sms in world.path.to_button()] == ["R", "A", "D"]
        metrics = world.stack.gateway.request("GET", "/metrics")
        assert 'panic_sms_state_acks_total{state="dispatched"} 1' in metrics
        deadline = time.monotonic() + 10
        while world.path.button_modem.slots and time.monotonic() < deadline:  # AT+CMGD follows the read
            time.sleep(0.1)
        assert world.path.button_modem.slots == {}  # every ack SMS read and deleted from the button's SIM
    finally:
        button.stop()


def test_a_lost_sms_is_sent_again_and_the_alert_arrives_once(world: World) -> None:
    button = world.button()
    cut_wifi(button)
    try:
        world.path.network.lose_sms(1)  # the button's first SMS vanishes after +CMGS OK
        button.press(2000)
        alert = world.next_alert(timeout=120)
        assert alert["device"]["network"] == "sms"
        button.wait_for_indicator("received", timeout=60)
        first, second = world.path.to_gateway()[:2]
        assert first.text == second.text  # the same alert, byte for byte
        button.wait_for_log(r"sms: sent seq=\d+ to=\+6281100000001 try=2")
        assert world.alerts(1.0) == []
    finally:
        button.stop()


def test_sms_first_then_data_back_the_queued_mqtt_ack_ends_it_and_nothing_is_sent_twice(world: World) -> None:
    # The gateway's ack SMS is lost; the receipt it committed with the SMS alert also waits at the broker
    # for the button's session (an MQTT ack): when data is back that ends it, the alert is not sent again.
    button = world.button()
    cut_wifi(button)
    try:
        when_sent(world, 1, lambda: world.path.network.lose_sms(1))
        button.press(2000)
        seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=sos").group(1))
        alert = world.next_alert(timeout=90)
        assert alert["device"]["network"] == "sms"
        world.path.wait_for("to_button", 1)  # answered, and lost on the way
        assert button.outbox() != [] and button.indicator == "sending"
        mark = button.mark()
        button.wifi(True)
        button.wait_for_log(rf"ack: delivered seq={seq} state=received", timeout=60, since=mark)
        button.wait_for_indicator("received", timeout=30)
        assert button.outbox() == []
        assert world.alerts(2.0) == []  # dispatched once
        assert len(world.path.to_gateway()) == 1  # no second SMS
        assert not any(f"delivery: sent seq={seq}" in line for line in button.lines[mark:])
    finally:
        button.stop()


def test_data_back_while_the_sms_is_on_its_way_is_one_alert_acked_once_per_path(world: World) -> None:
    # The SMS takes 4 s through the network; data comes back the moment it is sent: the alert goes over
    # MQTT too and reaches the gateway first (new, acked over MQTT); the SMS is then a duplicate, acked by SMS.
    button = world.button()
    cut_wifi(button)
    try:
        world.path.network.sms_delay_s = 4.0
        when_sent(world, 1, lambda: button.wifi(True))
        button.press(2000)
        seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=sos").group(1))
        alert = world.next_alert(timeout=90)
        assert alert["alert_id"] == f"{DEVICE}:{seq}" and alert["device"]["network"] == "wifi"
        button.wait_for_log(rf"ack: delivered seq={seq} state=received", timeout=60)
        world.path.wait_for("to_button", 1, timeout=60)  # the duplicate SMS answered by SMS
        assert world.alerts(2.0) == []  # dispatched once
        metrics = world.stack.gateway.request("GET", "/metrics")
        assert 'panic_alerts_total{verdict="new"} 1' in metrics
        assert 'panic_sms_alerts_total{verdict="duplicate"} 1' in metrics
        assert len(world.path.to_gateway()) == 1 and len(world.path.to_button()) == 1
        assert button.outbox() == []
    finally:
        button.stop()


def test_a_forged_ack_sms_is_ignored_and_the_alert_still_gets_through(world: World) -> None:
    button = world.button()
    cut_wifi(button)
    try:
        def forge() -> None:
            # A forger answers first: a well-formed ack for this alert from the gateway's number, its MAC
            # from another key; and the real ack is lost.
            seq = int(world.path.to_gateway()[0].text.split()[3])
            world.path.network.inject(GATEWAY_NUMBER, BUTTON_NUMBER,
                                      smsformat.ack_text(bytes(32), DEVICE, seq, "received", 1795800005))
            world.path.network.lose_sms(1)

        when_sent(world, 1, forge)
        button.press(2000)
        button.wait_for_log(r"sms: ignored slot=\d+ reason=bad_sig", timeout=90)
        assert button.outbox() != []  # the forgery removed nothing
        world.path.wait_for("to_gateway", 2, timeout=60)  # resent on the back-off
        button.wait_for_indicator("received", timeout=60)  # the gateway's answer to the resend
        assert [a["device"]["network"] for a in world.alerts(1.0)] == ["sms"]
        assert world.path.button_modem.slots == {}  # the forgery was deleted from the SIM too
    finally:
        button.stop()


def test_wifi_only_button_never_loads_sms(world: World, tmp_path: Path) -> None:
    """With the data link up the SMS module is never loaded: the alert goes over MQTT only."""
    button = world.button()
    try:
        button.wait_for_indicator("idle", timeout=60)
        button.press(2000)
        alert = world.next_alert(timeout=30)
        assert alert["device"]["network"] == "wifi"
        button.wait_for_indicator("received", timeout=30)
        time.sleep(AFTER_S + 1)
        assert world.path.to_gateway() == []
        assert not any(" sms: " in line for line in button.lines)
    finally:
        button.stop()


def test_the_sms_module_loads_at_110k(world: World) -> None:
    button = world.path.button(world.stack, world.tmp_path / "flash", DEVICE, log_file=world.tmp_path / "b.log",
                               heapsize="110K", **FAST)
    button.start()
    try:
        cut_wifi(button)
        button.press(2000)
        button.wait_for_log(r"sms: no data link waiting=1", timeout=30)
        assert not any("sms not loaded" in line for line in button.lines)
    finally:
        button.stop()
