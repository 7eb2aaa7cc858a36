"""Gestures and device events end to end: the compiled firmware, the real gateway, the real broker.

- three presses raise a silent_sos that reaches dispatch while the indicator and buzzer never change;
- a long hold after an alert becomes a cancel_requested revision of that alert at dispatch;
- tamper, mains and battery changes reach dispatch as events with their Contact ID code;
- an outbox full of events still takes an SOS (it evicts the oldest event) and delivers it;
- a storm of presses does not flood the outbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.button import SimulatedButton
from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid

# `stack` and `dispatch` (the running stack, a dispatch consumer) are tests/conftest.py's fixtures.

DEVICE = "pb-0badc0ffee02"
# Fast knobs: hold 1.5 s, cancel after a 3 s hold, no coalescing unless a test asks for it.
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "hold_ms": 1500, "cancel_ms": 3000,
        "repeat_ms": 0, "retry_min_ms": 300, "retry_max_ms": 1000}
TAPS = [150, 300, 150, 300, 150]  # three presses within a second



def start_button(stack: Stack, tmp_path: Path, **config: int) -> SimulatedButton:
    issued = stack.register_button(DEVICE)
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id=DEVICE, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port, **(FAST | config))
    button = SimulatedButton(flash, log_file=tmp_path / "button.log")
    button.start()
    button.wait_for_indicator("idle", timeout=30)
    return button


@pytest.fixture
def make_button(stack: Stack, tmp_path: Path) -> Iterator[Callable[..., SimulatedButton]]:
    """`make_button(**config)`: a provisioned button, idle; stopped after the test."""
    started: list[SimulatedButton] = []

    def make(**config: int) -> SimulatedButton:
        started.append(start_button(stack, tmp_path, **config))
        return started[-1]

    yield make
    for button in started:
        button.stop()


def next_record(dispatch: MqttListener, suffix: str, match: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    """The next record on a topic ending in `suffix` whose members include `match` (schema-checked)."""
    while True:
        topic, payload = dispatch.next(timeout, suffix)
        record: dict[str, Any] = json.loads(payload)
        assert_valid("dispatch-event.json" if topic.endswith("/events") else "dispatch-alert.json", record)
        if all(record.get(k) == v for k, v in match.items()):
            return record


def indicator_changes(button: SimulatedButton, since: int) -> list[str]:
    return [line for line in button.lines[since:] if re.search(r"\bindicator: state=", line)]


def test_three_presses_raise_a_silent_sos_that_dispatch_gets_and_the_indicator_never_shows(
        make_button: Callable[..., SimulatedButton], dispatch: MqttListener) -> None:
    button = make_button()
    mark, buzzes = button.mark(), button.buzzes
    button.pattern(TAPS)
    seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=silent_sos", since=mark)[1])
    record = next_record(dispatch, "/dispatch/alerts", {"alert_id": f"{DEVICE}:{seq}"})
    assert (record["type"], record["cid"], record["silent"]) == ("silent_sos", "122", True)
    button.wait_for_log(rf"ack: delivered seq={seq} state=received", since=mark)
    assert button.outbox() == []
    assert indicator_changes(button, mark) == [] and button.indicator == "idle"
    assert button.buzzes == buzzes
    # A hold is still a loud sos.
    mark = button.mark()
    button.press(1700)
    button.wait_for_indicator("received", timeout=20)
    assert "state=sending" in "\n".join(indicator_changes(button, mark))


def test_a_long_hold_after_an_alert_asks_dispatch_to_cancel_it(make_button: Callable[..., SimulatedButton],
                                                              dispatch: MqttListener) -> None:
    button = make_button(cancel_window_s=60)
    mark = button.mark()
    button.press(1700)
    seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=sos", since=mark)[1])
    next_record(dispatch, "/dispatch/alerts", {"alert_id": f"{DEVICE}:{seq}", "rev": 1})
    button.wait_for_indicator("received", timeout=20)
    mark = button.mark()
    button.press(3500)  # in the cancel window: no sos on the way to the cancel
    cancel = int(button.wait_for_log(r"alert: raised seq=(\d+) type=cancel", since=mark)[1])
    record = next_record(dispatch, "/dispatch/alerts", {"alert_id": f"{DEVICE}:{seq}", "rev": 2})
    assert (record["state"], record["type"]) == ("cancel_requested", "sos")
    button.wait_for_log(rf"ack: delivered seq={cancel} state=received", since=mark)
    assert not [line for line in button.lines[mark:] if "type=sos" in line]
    # The window closes with the cancel: another long hold is an sos again.
    mark = button.mark()
    button.press(3500)
    button.wait_for_log(r"alert: raised seq=\d+ type=sos", since=mark)


def test_tamper_mains_and_battery_reach_dispatch_as_events_with_their_codes(
        make_button: Callable[..., SimulatedButton], dispatch: MqttListener) -> None:
    button = make_button()
    mark, buzzes = button.mark(), button.buzzes
    steps = [
        (lambda: button.tamper(True), "tamper", "137", False),
        (lambda: button.tamper(False), "tamper", "137", True),
        (lambda: button.mains(False), "power", "301", False),
        (lambda: button.mains(True), "power", "301", True),
        (lambda: button.battery(15), "low_battery", "302", False),
        (lambda: button.battery(25), None, None, None),  # inside the hysteresis band: nothing
        (lambda: button.battery(35), "low_battery", "302", True),
    ]
    for act, event, cid, restore in steps:
        act()
        if event is None:
            continue
        record = next_record(dispatch, "/dispatch/events", {"event": event})
        assert (record["cid"], record["restore"], record["device"]) == (cid, restore, DEVICE)
    raised = re.findall(r"alert: raised seq=\d+ type=(\w+)", "\n".join(button.lines[mark:]))
    assert raised == ["tamper", "tamper_restored", "power_lost", "power_restored", "battery_low",
                      "battery_restored"]
    assert indicator_changes(button, mark) == [] and button.buzzes == buzzes  # events are quiet


def test_an_outbox_full_of_events_still_takes_the_sos_and_delivers_it(
        stack: Stack, make_button: Callable[..., SimulatedButton], dispatch: MqttListener) -> None:
    button = make_button(outbox_max=3)
    stack.gateway.stop()  # nothing is acked: the outbox fills
    mark = button.mark()
    for lid_open in (True, False, True, False):
        since = button.mark()
        button.tamper(lid_open)
        button.wait_for_log(rf"type=tamper{'' if lid_open else '_restored'}$", since=since, timeout=10)
        button.wait_for_log(r"outbox: stored seq=\d+", since=since)
    button.wait_for_log(r"outbox: dropped seq=\d+ reason=full critical=0", since=mark)
    assert [p.suffix for p in button.outbox()] == [".n", ".n", ".n"]
    button.press(1700)
    seq = int(button.wait_for_log(r"alert: raised seq=(\d+) type=sos", since=mark)[1])
    button.wait_for_log(rf"outbox: stored seq={seq} .*critical=1 persisted=1", since=mark)
    kept = button.outbox()
    assert [p.suffix for p in kept] == [".n", ".n", ".c"] and kept[-1].name == f"{seq:016d}.c"
    stack.gateway.start()
    record = next_record(dispatch, "/dispatch/alerts", {"alert_id": f"{DEVICE}:{seq}"}, timeout=30)
    assert record["type"] == "sos"
    button.wait_for_log(rf"ack: delivered seq={seq} ", since=mark, timeout=30)


def test_a_storm_of_presses_does_not_flood_the_outbox(make_button: Callable[..., SimulatedButton]) -> None:
    button = make_button(repeat_ms=60000)  # longer than the storm
    mark = button.mark()
    button.pattern([80, 100] * 199 + [80])  # 200 presses of 80 ms, 100 ms apart: 36 s
    raised = re.findall(r"alert: raised seq=\d+ type=(\w+)", "\n".join(button.lines[mark:]))
    assert raised == ["silent_sos"], raised  # the rest coalesced (repeat_ms)
    assert len([line for line in button.lines[mark:] if "coalesced gesture=taps" in line]) >= 20
    assert button.running


def test_a_bouncing_press_is_one_sos_and_a_stuck_button_raises_one_more_and_no_others(
        make_button: Callable[..., SimulatedButton]) -> None:
    button = make_button(repeat_ms=0, cancel_window_s=0)  # nothing coalesced: only the button logic counts
    mark = button.mark()
    button.bouncy_press(1700)  # contact bounce as it closes and as it opens
    button.wait_for_log(r"alert: raised seq=\d+ type=sos", since=mark)
    mark = button.mark()
    button.stick()
    button.wait_for_log(r"alert: raised seq=\d+ type=sos", since=mark)
    stuck = button.mark()
    with pytest.raises(TimeoutError):  # held for 3 more hold times: nothing more
        button.wait_for_log(r"alert: raised", since=stuck, timeout=4.5)
    button.stick(False)
    button.wait_for_log(r"button: up held_ms=\d+", since=stuck)
    raised = re.findall(r"alert: raised seq=\d+ type=(\w+)", "\n".join(button.lines))
    assert raised == ["sos", "sos"]
