"""Each alert type's treatment at the gateway, end to end (real broker, gateway process, stations).

- sos and silent_sos: routed to a station; silent_sos marked ``silent`` (cid 122).
- test: on the all-alerts topic, marked ``test``, never on a station's topic, no ``unrouted`` event.
- cancel: a new revision of the alert it names, state cancel_requested (police decide what follows);
  a cancel naming nothing it can revise goes out as itself, unrouted, with ``cancels``.
- tamper, power, battery (and their restores): dispatch events with the Contact ID code, never alerts.
Every record is checked against its schema (tests/gateway/test_routing.py's helpers).
"""

from __future__ import annotations

import json
import queue
from typing import Any

import pytest

from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice
from tests.gateway.test_routing import SAMPLE, dispatch, events, import_stations, publications, stack

__all__ = ["dispatch", "stack"]  # fixtures shared with test_routing

STATION = "panic/v1/dispatch/stations/polresta-bandar-lampung/alerts"


def record_on(dispatch: MqttListener, alert_id: str, topics: int) -> dict[str, tuple[str, dict[str, Any]]]:
    seen, _events = publications(dispatch, alert_id, topics=topics)
    return seen


def no_alerts(dispatch: MqttListener, wait: float = 1.5) -> list[dict[str, Any]]:
    """Whatever arrives in `wait`: no alert record on any topic; the events, checked."""
    found = []
    for topic, payload in dispatch.drain(wait):
        assert "/alerts" not in topic, f"unexpected alert record on {topic}: {payload!r}"
        record = json.loads(payload)
        found.append(record)
    return found


def police_decide(stack: Stack, alert_id: str, state: str, note: str) -> None:
    """Dispatch moves the alert on (panic/v1/dispatch/ack)."""
    police = MqttListener(stack.broker_config, "dispatch", stack.broker_config.dispatch_password, [])
    police.publish("panic/v1/dispatch/ack", json.dumps(
        {"alert_id": alert_id, "state": state, "by": "Polresta", "note": note}).encode())
    police.close()


def test_silent_sos_is_routed_like_sos_and_marked_silent(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    import_stations(stack, SAMPLE)
    device.send(device.alert_body(type="silent_sos"))
    seen = record_on(dispatch, f"{device.id}:1", topics=2)
    assert seen["station"][0] == STATION
    record = seen["all"][1]
    assert (record["type"], record["cid"], record["silent"], record["test"]) == ("silent_sos", "122", True, False)
    device.send(device.alert_body(type="sos"))
    record = record_on(dispatch, f"{device.id}:2", topics=2)["all"][1]
    assert (record["cid"], record["silent"]) == ("120", False)


def test_a_test_alert_is_marked_and_never_routed(stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    import_stations(stack, SAMPLE)
    device.send(device.alert_body(type="test"))
    seen, before = publications(dispatch, f"{device.id}:1", topics=2, timeout=3.0)
    assert set(seen) == {"all"}, seen  # never on a station's topic
    record = seen["all"][1]
    assert (record["type"], record["cid"], record["test"], record["station"], record["candidates"]) == (
        "test", "601", True, None, [])
    assert device.next_ack()["state"] == "received"
    later = dispatch.drain(1.5)
    assert not [t for t, _ in later if "/stations/" in t]
    assert not [e for e in before + events(dispatch, 0.1) if e["event"] == "unrouted"]


def test_cancel_becomes_a_cancel_requested_revision_and_police_decide(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    import_stations(stack, SAMPLE)
    device.send(device.alert_body(type="silent_sos"))
    first = record_on(dispatch, f"{device.id}:1", topics=2)["all"][1]
    assert device.next_ack()["state"] == "received"
    cancel = device.alert_body(type="cancel", ref=1)
    device.send(cancel)
    seen = record_on(dispatch, f"{device.id}:1", topics=2)
    revised = seen["all"][1]
    assert seen["station"][0] == STATION  # the station that has the alert hears about the cancel
    assert (revised["rev"], revised["state"], revised["type"], revised["silent"]) == (
        2, "cancel_requested", "silent_sos", True)
    assert {k: v for k, v in revised.items() if k not in ("rev", "state", "redelivery")} == {
        k: v for k, v in first.items() if k not in ("rev", "state", "redelivery")}
    ack = device.next_ack()
    assert (ack["ref"], ack["state"]) == (2, "received")  # the cancel itself leaves the button's outbox
    stored = stack.gateway.request("GET", f"/alerts/{device.id}:1")
    assert (stored["state"], stored["acted_by"], stored["note"]) == (
        "cancel_requested", "button", f"cancel requested by the button: alert {device.id}:2")
    # The cancel is not an alert of its own on dispatch, and a retransmission changes nothing.
    device.send(cancel)
    assert device.next_ack()["ref"] == 2
    with pytest.raises(queue.Empty):
        dispatch.next(1.5, "/dispatch/alerts")
    # Police decide: here, they stand down.
    police_decide(stack, f"{device.id}:1", "cancelled", "owner called back")
    done = record_on(dispatch, f"{device.id}:1", topics=1)["all"][1]
    assert (done["rev"], done["state"]) == (3, "cancelled")
    states = {a["alert_id"]: a["state"] for a in stack.gateway.request("GET", f"/alerts?device_id={device.id}")}
    assert states == {f"{device.id}:1": "cancelled", f"{device.id}:2": "new"}  # the cancel is kept, for the record


def test_police_may_still_act_on_a_cancel_requested_alert(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    device.send(device.alert_body())
    record_on(dispatch, f"{device.id}:1", topics=1)
    device.send(device.alert_body(type="cancel", ref=1))
    assert record_on(dispatch, f"{device.id}:1", topics=1)["all"][1]["state"] == "cancel_requested"
    police_decide(stack, f"{device.id}:1", "dispatched", "checking anyway")
    record = record_on(dispatch, f"{device.id}:1", topics=1)["all"][1]
    assert (record["rev"], record["state"]) == (3, "dispatched")


@pytest.mark.parametrize("ref", [7, 2])  # nothing there; the test alert (not a call for police)
def test_a_cancel_that_revises_nothing_goes_out_as_itself_unrouted(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice, ref: int) -> None:
    import_stations(stack, SAMPLE)
    device.send(device.alert_body(seq=2, type="test"))
    record_on(dispatch, f"{device.id}:2", topics=1)
    device.send(device.alert_body(seq=3, type="cancel", ref=ref))
    seen, _ = publications(dispatch, f"{device.id}:3", topics=2, timeout=3.0)
    assert set(seen) == {"all"}
    record = seen["all"][1]
    assert (record["type"], record["cid"], record["cancels"], record["state"]) == (
        "cancel", "406", f"{device.id}:{ref}", "new")


@pytest.mark.parametrize(("kind", "event", "cid", "restore"), [
    ("tamper", "tamper", "137", False),
    ("tamper_restored", "tamper", "137", True),
    ("power_lost", "power", "301", False),
    ("power_restored", "power", "301", True),
    ("battery_low", "low_battery", "302", False),
    ("battery_restored", "low_battery", "302", True),
])
def test_device_events_reach_dispatch_as_events_with_their_code(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice, kind: str, event: str, cid: str,
        restore: bool) -> None:
    import_stations(stack, SAMPLE)
    device.send(device.alert_body(type=kind))
    _topic, payload = dispatch.next(10.0, "/dispatch/events")
    record = json.loads(payload)
    assert_valid("dispatch-event.json", record)
    assert (record["event"], record["cid"], record["restore"], record["alert_id"], record["device"]) == (
        event, cid, restore, f"{device.id}:1", device.id)
    assert record["owner"]["name"] and record["reason"] is None
    assert device.next_ack()["state"] == "received"  # the button's outbox lets go of it
    assert [r for r in no_alerts(dispatch) if r.get("alert_id") == f"{device.id}:1"] == []
