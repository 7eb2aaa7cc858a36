"""Never lose an alert: the real firmware, the real gateway, the real broker, faults in between."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.button import SimulatedButton
from simulator.linkproxy import LinkProxy
from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid

DEVICE = "pb-0badc0ffee01"
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "hold_ms": 1500}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path) as running:
        yield running


def start_button(stack: Stack, tmp_path: Path, via: LinkProxy | None = None, **config: int) -> SimulatedButton:
    issued = stack.register_button(DEVICE)
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id=DEVICE, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=via.port if via else stack.broker_config.port, **(FAST | config))
    button = SimulatedButton(flash)
    button.start()
    button.wait_for_indicator("idle", timeout=30)
    return button


def alerts(dispatch: MqttListener, wait: float) -> list[dict[str, object]]:
    found = []
    for topic, payload in dispatch.drain(wait):
        if topic.endswith("/alerts"):
            record = json.loads(payload)
            assert_valid("dispatch-alert.json", record)
            found.append(record)
    return found


@pytest.mark.parametrize("down", ["gateway", "broker"])
def test_button_killed_before_the_gateway_acked_delivers_once_after_restart(
    stack: Stack, tmp_path: Path, down: str
) -> None:
    """With the gateway down the alert waits at the broker too; with the broker down, only in flash."""
    dispatch = stack.dispatch()
    button = start_button(stack, tmp_path)
    try:
        (stack.gateway if down == "gateway" else stack.broker).stop()
        button.press(2000)
        seq = button.wait_for_log(r"outbox: stored seq=(\d+) .*persisted=1", timeout=15).group(1)
        assert len(button.outbox()) == 1
        button.kill()  # power cut before any ack
        if down == "broker":
            stack.broker.start()
            dispatch.close()
            dispatch = stack.dispatch()
        else:
            stack.gateway.start()
        button.start()  # power back: the outbox is read from flash and sent again
        button.wait_for_indicator("received", timeout=30)
        delivered = alerts(dispatch, 2.0)
        assert [a["alert_id"] for a in delivered] == [f"{DEVICE}:{seq}"], "dispatched exactly once"
        assert button.outbox() == []
    finally:
        button.stop()
        dispatch.close()


def test_broker_restart_while_idle_then_the_next_alert_arrives(stack: Stack, tmp_path: Path) -> None:
    button = start_button(stack, tmp_path)
    try:
        stack.broker.stop()
        button.wait_for_indicator("fault", timeout=30)  # no link while idle
        stack.broker.start()
        button.wait_for_indicator("idle", timeout=30)  # reconnected by itself
        dispatch = stack.dispatch()
        mark = button.mark()
        button.press(2000)
        button.wait_for_log(r"ack: delivered seq=\d+ state=received", timeout=30, since=mark)
        delivered = [a["alert_id"] for a in alerts(dispatch, 1.0)]
        assert len(delivered) == 1 and delivered[0].startswith(f"{DEVICE}:")
        dispatch.close()
    finally:
        button.stop()


def test_a_bump_reaches_nobody(stack: Stack, tmp_path: Path) -> None:
    dispatch = stack.dispatch()
    button = start_button(stack, tmp_path)
    try:
        button.press(200)
        button.pattern([100, 50, 120, 40, 300])  # a chattering contact
        with pytest.raises(queue.Empty):
            dispatch.next(1.5, "/dispatch/alerts")
        assert button.indicator == "idle"
    finally:
        button.stop()
        dispatch.close()


@pytest.mark.parametrize("fault", ["reset", "blackhole"])
def test_alert_pressed_while_the_link_is_cut_is_delivered_once_when_it_returns(
    stack: Stack, tmp_path: Path, fault: str
) -> None:
    """A reset is noticed at once; a black hole (a dead cell) only by the MQTT keepalive."""
    dispatch = stack.dispatch()
    with LinkProxy(stack.broker_config.host, stack.broker_config.port) as link:
        button = start_button(stack, tmp_path, via=link, keepalive_s=5, retry_min_ms=500, retry_max_ms=2000)
        try:
            link.cut(fault)  # type: ignore[arg-type]
            if fault == "reset":
                button.wait_for_indicator("fault", timeout=15)
            button.press(2000)
            seq = button.wait_for_log(r"outbox: stored seq=(\d+) .*persisted=1", timeout=15).group(1)
            assert button.indicator == "sending"
            with pytest.raises(queue.Empty):
                dispatch.next(1.0, "/dispatch/alerts")
            if fault == "blackhole":  # nothing comes back: the keepalive must notice (~1.5 x 5 s)
                button.wait_for_log(r"link: (connection lost|disconnected)", timeout=30)
            link.restore()
            button.wait_for_indicator("received", timeout=45)
            delivered = [a["alert_id"] for a in alerts(dispatch, 2.0)]
            assert delivered == [f"{DEVICE}:{seq}"], "dispatched exactly once"
            assert button.outbox() == []
        finally:
            button.stop()
            dispatch.close()
