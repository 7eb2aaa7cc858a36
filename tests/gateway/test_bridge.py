"""The MQTT pipeline end to end: a real broker, the gateway process, MQTT peers."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice, new_device_id, sign, sign_bytes


def dispatched_alert(dispatch: MqttListener, timeout: float = 10.0) -> dict[str, Any]:
    _topic, payload = dispatch.next(timeout, "/dispatch/alerts")
    record: dict[str, Any] = json.loads(payload)
    assert_valid("dispatch-alert.json", record)
    return record


def next_event(dispatch: MqttListener, timeout: float = 10.0) -> dict[str, Any]:
    """The next event other than `unrouted` (these tests run without stations: every alert is unrouted)."""
    deadline = time.monotonic() + timeout
    while True:
        event: dict[str, Any] = json.loads(dispatch.next(max(0.0, deadline - time.monotonic()), "/dispatch/events")[1])
        if event["event"] != "unrouted":
            return event


def test_alert_is_enriched_dispatched_and_acknowledged(stack: Stack, dispatch: MqttListener,
                                                       device: ScriptedDevice) -> None:
    device.send(device.alert_body())
    record = dispatched_alert(dispatch)
    assert record["alert_id"] == f"{device.id}:1"
    assert record["rev"] == 1 and record["type"] == "sos" and record["cid"] == "120"
    assert record["owner"]["name"] == "Toko Emas Sinar Jaya"
    assert record["premises"]["lat"] == -5.4291234 and record["premises"]["lon"] == 105.2612345
    # no GPS fix: the registered premises location stands in
    assert record["location"] == {"lat": -5.4291234, "lon": 105.2612345, "accuracy_m": None,
                                  "source": "premises", "age_s": None}
    assert record["pressed_at"] == "2026-11-27T17:20:00.000Z"
    ack = device.next_ack()
    assert ack["ref"] == 1 and ack["state"] == "received" and ack["dev"] == device.id


def test_gps_location_is_passed_through_exactly(stack: Stack, dispatch: MqttListener,
                                                device: ScriptedDevice) -> None:
    loc = {"lat": -5.3971234, "lon": 105.2667891, "acc": 8, "src": "gps", "age": 2}
    device.send(device.alert_body(loc=loc))
    record = dispatched_alert(dispatch)
    assert record["location"] == {"lat": -5.3971234, "lon": 105.2667891, "accuracy_m": 8,
                                  "source": "gps", "age_s": 2}


def test_retransmission_is_acked_again_but_dispatched_once(stack: Stack, dispatch: MqttListener,
                                                           device: ScriptedDevice) -> None:
    body = device.alert_body()
    device.send(body)
    assert dispatched_alert(dispatch)["alert_id"] == f"{device.id}:1"
    assert device.next_ack()["state"] == "received"
    device.send(body)  # the device did not see the ack and sends the same bytes again
    assert device.next_ack()["state"] == "received"
    assert [t for t, _ in dispatch.drain(1.0) if t.endswith("/alerts")] == []


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "bad_sig"),
        ("replay", "replay"),
        ("unregistered", "unknown_device"),
        ("bad_json", "bad_json"),
        ("too_large", "too_large"),
        ("dev_mismatch", "dev_mismatch"),
    ],
)
def test_bad_input_is_rejected_and_the_next_alert_still_flows(
    stack: Stack, dispatch: MqttListener, device: ScriptedDevice, case: str, reason: str
) -> None:
    good = device.alert_body()
    if case == "replay":
        device.send(good)
        dispatched_alert(dispatch)
        device.next_ack()
        # same seq, other bytes: not a retransmission
        device.mqtt.publish(device.topic(), sign(device.key, device.topic(), {**good, "up": 999999}))
    elif case == "forged":
        device.mqtt.publish(device.topic(), sign(b"\x00" * 32, device.topic(), device.alert_body()))
    elif case == "unregistered":
        stranger = new_device_id()
        stack.broker_config.accounts().set(stranger, "pw-of-a-stranger")
        peer = MqttListener(stack.broker_config, stranger, "pw-of-a-stranger", [])
        topic = f"panic/v1/dev/{stranger}/alert"
        peer.publish(topic, sign(device.key, topic, {**device.alert_body(), "dev": stranger}))
        peer.close()
    elif case == "bad_json":
        # correctly signed, so that it passes the envelope checks and reaches the JSON check
        device.mqtt.publish(device.topic(), sign_bytes(device.key, device.topic(), b'{"v":1,"dev":}'))
    elif case == "too_large":
        padded = {**device.alert_body(), "pad": "x" * 3000}
        device.mqtt.publish(device.topic(), sign(device.key, device.topic(), padded))
    elif case == "dev_mismatch":
        device.send({**device.alert_body(), "dev": "pb-000000000000"})
    event_body = next_event(dispatch)
    assert_valid("dispatch-event.json", event_body)
    assert event_body["reason"] == reason
    assert event_body["event"] == ("unregistered" if reason == "unknown_device" else "rejected")
    if case in ("forged", "replay", "bad_json", "dev_mismatch"):  # the topic names a registered sender
        assert event_body["device"] == device.id
        assert event_body["owner"]["name"] == "Toko Emas Sinar Jaya" and event_body["premises"]["kind"] == "shop"
    else:  # a stranger, or a payload refused before its topic was read
        assert (event_body["owner"], event_body["premises"]) == (None, None)
    assert f"rejected {reason} message" in stack.gateway.log()
    metrics = stack.gateway.request("GET", "/metrics")
    assert f'panic_rejected_total{{reason="{reason}"}} 1' in metrics
    # nothing of the bad message reached the alert stream
    with pytest.raises(queue.Empty):
        dispatch.next(0.5, "/dispatch/alerts")
    # and the gateway keeps serving
    device.send(device.alert_body(seq=50))
    assert dispatched_alert(dispatch)["alert_id"] == f"{device.id}:50"


def test_dispatch_ack_updates_rev_and_tells_the_device(stack: Stack, dispatch: MqttListener,
                                                       device: ScriptedDevice) -> None:
    device.send(device.alert_body())
    record = dispatched_alert(dispatch)
    assert device.next_ack()["state"] == "received"
    ack = {"alert_id": record["alert_id"], "state": "acknowledged", "by": "Polsek Tanjung Karang", "note": None}
    police = MqttListener(stack.broker_config, "dispatch", stack.broker_config.dispatch_password, [])
    police.publish("panic/v1/dispatch/ack", json.dumps(ack).encode())
    updated = dispatched_alert(dispatch)
    assert (updated["alert_id"], updated["rev"], updated["state"]) == (record["alert_id"], 2, "acknowledged")
    device_ack = device.next_ack()
    assert (device_ack["ref"], device_ack["state"]) == (1, "acknowledged")
    # a malformed ack and an ack for an unknown alert change nothing, and are answered on the events topic
    police.publish("panic/v1/dispatch/ack", b"{not json")
    police.publish("panic/v1/dispatch/ack", json.dumps({**ack, "alert_id": "pb-000000000000:9"}).encode())
    police.close()
    answers: list[dict[str, Any]] = []
    while len(answers) < 2:
        event = next_event(dispatch)
        if event["event"] == "ack_refused":
            assert_valid("dispatch-event.json", event)
            answers.append(event)
    assert [(a["event"], a["reason"], a["status"], a["alert_id"]) for a in answers] == [
        ("ack_refused", "malformed", 422, None), ("ack_refused", "not_found", 404, "pb-000000000000:9")]
    assert answers[1]["detail"] == "no alert pb-000000000000:9"
    with pytest.raises(queue.Empty):
        dispatch.next(1.0, "/dispatch/alerts")
    assert 'panic_dispatch_acks_rejected_total 2' in stack.gateway.request("GET", "/metrics")


def test_gateway_killed_after_commit_dispatches_exactly_once(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.broker.start()
    stack.gateway.start(module="tests.gateway.crashing_gateway")
    try:
        listener = stack.dispatch()
        scripted = ScriptedDevice(stack, new_device_id())
        scripted.send(scripted.alert_body())
        stack.gateway.process.wait(timeout=15)  # type: ignore[union-attr]
        assert stack.gateway.process.returncode == -9  # type: ignore[union-attr]
        assert "alert committed, killing the gateway" in stack.gateway.log()
        with pytest.raises(queue.Empty):
            listener.next(0.5, "/dispatch/alerts")
        stack.gateway.start()
        record = json.loads(listener.next(15, "/dispatch/alerts")[1])
        assert record["alert_id"] == f"{scripted.id}:1"
        assert scripted.next_ack()["state"] == "received"
        extra = [t for t, _ in listener.drain(2.0) if t.endswith("/alerts")]
        assert extra == [], "the alert reached dispatch more than once"
        scripted.mqtt.close()
        listener.close()
    finally:
        stack.stop()


def test_status_changes_become_health_events(stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    device.mqtt.publish(device.topic("status"), b'{"state":"online","fw":"0.1.0","up":5}')
    online = json.loads(dispatch.next(10, "/dispatch/events")[1])
    assert_valid("dispatch-event.json", online)
    assert (online["event"], online["device"]) == ("device_online", device.id)
    assert online["owner"]["name"] == "Toko Emas Sinar Jaya" and online["premises"]["kind"] == "shop"
    device.mqtt.publish(device.topic("status"), b'{"state":"online","fw":"0.1.0","up":6}')  # no change
    device.mqtt.publish(device.topic("status"), b"garbage")  # ignored, logged
    device.mqtt.publish(device.topic("status"), b'{"state":"offline"}')
    offline = json.loads(dispatch.next(10, "/dispatch/events")[1])
    assert offline["event"] == "device_offline"
    assert stack.gateway.request("GET", f"/devices/{device.id}")["firmware"] == "0.1.0"


def test_an_alert_delivered_late_below_the_window_is_still_dispatched(
    stack: Stack, dispatch: MqttListener, device: ScriptedDevice
) -> None:
    """The button stored alert 2, lost power twice (each boot skips a seq block) and its
    heartbeat 200 arrived first: the alert must not be mistaken for a replay."""
    device.send(device.alert_body(seq=1, type="test"))
    dispatched_alert(dispatch)
    device.next_ack()
    heartbeat = {k: v for k, v in device.alert_body(seq=200).items() if k not in ("type", "loc")}
    device.send(heartbeat, leaf="hb")
    deadline = time.monotonic() + 10
    while "panic_heartbeats_total 1" not in stack.gateway.request("GET", "/metrics"):
        assert time.monotonic() < deadline, "the heartbeat was not judged"
        time.sleep(0.05)
    late = device.alert_body(seq=2)
    device.send(late)
    assert dispatched_alert(dispatch)["alert_id"] == f"{device.id}:2"
    assert device.next_ack()["ref"] == 2
    # and it stays replay-proof: the same seq with other bytes is rejected
    device.send({**late, "up": 1})
    assert next_event(dispatch)["reason"] == "replay"


def persistent_dispatch(stack: Stack) -> mqtt.Client:
    """A dispatch consumer as docs/protocol.md asks: fixed client id, clean_session=False, QoS 1."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dispatch-desk-1", clean_session=False)
    client.username_pw_set("dispatch", stack.broker_config.dispatch_password)
    return client


def test_dispatch_offline_then_back_gets_the_alert(stack: Stack, device: ScriptedDevice) -> None:
    received: queue.Queue[bytes] = queue.Queue()
    desk = persistent_dispatch(stack)
    subscribed = threading.Event()
    desk.on_subscribe = lambda *_a: subscribed.set()
    desk.on_message = lambda _c, _u, m: received.put(bytes(m.payload))
    desk.connect(stack.broker_config.host, stack.broker_config.port)
    desk.subscribe("panic/v1/dispatch/alerts", qos=1)
    desk.loop_start()
    assert subscribed.wait(10)
    desk.disconnect()
    desk.loop_stop()
    device.send(device.alert_body())  # while dispatch is away
    assert device.next_ack()["state"] == "received"
    desk = persistent_dispatch(stack)
    desk.on_message = lambda _c, _u, m: received.put(bytes(m.payload))
    desk.connect(stack.broker_config.host, stack.broker_config.port)
    desk.loop_start()
    try:
        assert json.loads(received.get(timeout=10))["alert_id"] == f"{device.id}:1"
    finally:
        desk.disconnect()
        desk.loop_stop()


def test_alert_queued_for_a_stopped_gateway_survives_a_broker_restart(stack: Stack, dispatch: MqttListener,
                                                                       device: ScriptedDevice) -> None:
    stack.gateway.stop()
    device.send(device.alert_body())  # PUBACKed by the broker, queued for the gateway's session
    dispatch.close()
    device.mqtt.close()
    stack.broker.restart()  # persistence: the queued alert is written to disk and read back
    listener = stack.dispatch()
    stack.gateway.start()
    try:
        record = json.loads(listener.next(15, "/dispatch/alerts")[1])
        assert record["alert_id"] == f"{device.id}:1"
    finally:
        listener.close()


def test_a_silent_device_is_declared_offline_and_online_when_heard_again(tmp_path: Path) -> None:
    fast = {"PANIC_OFFLINE_AFTER_S": "1.5", "PANIC_SUPERVISION_INTERVAL_S": "0.2"}
    with Stack(tmp_path, gateway_env=fast) as stack:
        listener = stack.dispatch()
        scripted = ScriptedDevice(stack, new_device_id())
        try:
            scripted.mqtt.publish(scripted.topic("status"), b'{"state":"online","fw":"0.1.0","up":5}')
            online = json.loads(listener.next(10, "/dispatch/events")[1])
            assert (online["event"], online["detail"]) == ("device_online", "connected (birth message)")
            # no heartbeat follows: after 1.5 s of silence the device is offline
            offline = json.loads(listener.next(10, "/dispatch/events")[1])
            assert_valid("dispatch-event.json", offline)
            assert offline["event"] == "device_offline" and "missed heartbeats" in offline["detail"]
            assert stack.gateway.request("GET", f"/devices/{scripted.id}")["online"] is False
            heartbeat = {k: v for k, v in scripted.alert_body().items() if k not in ("type", "loc")}
            scripted.send(heartbeat, leaf="hb")
            back = json.loads(listener.next(10, "/dispatch/events")[1])
            assert (back["event"], back["detail"]) == ("device_online", "heard from again")
        finally:
            scripted.mqtt.close()
            listener.close()


def test_operators_can_act_on_an_alert_over_http(stack: Stack, dispatch: MqttListener,
                                                 device: ScriptedDevice) -> None:
    device.send(device.alert_body())
    alert_id = dispatched_alert(dispatch)["alert_id"]
    assert device.next_ack()["state"] == "received"
    done = stack.gateway.request("POST", f"/alerts/{alert_id}/ack",
                                 {"state": "resolved", "by": "Polsek desk 2", "note": "false alarm: child",
                                  "false_alarm": True})
    # the v1 flag with resolved closes the alert as a false alarm (docs/protocol.md)
    assert (done["state"], done["rev"], done["false_alarm"]) == ("false_alarm", 2, True)
    record = dispatched_alert(dispatch)
    assert (record["rev"], record["state"]) == (2, "false_alarm")
    assert device.next_ack()["state"] == "false_alarm"
    # an end is final: moving it back is refused and changes nothing
    with pytest.raises(RuntimeError, match="409"):
        stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": "acknowledged", "by": "desk 3"})
    with pytest.raises(RuntimeError, match="404"):
        stack.gateway.request("POST", "/alerts/pb-000000000000:1/ack", {"state": "acknowledged", "by": "x"})
    assert stack.gateway.request("GET", f"/alerts/{alert_id}")["rev"] == 2
    # the next alert of this device carries the false alarm in its history
    device.send(device.alert_body())
    assert dispatched_alert(dispatch)["history"] == {
        "recent_alerts": 1, "false_alarms": 1, "last_alert_at": record["received_at"]}


def test_an_operators_retry_over_http_does_not_lose_the_revision(tmp_path: Path) -> None:
    """Hole 4: the acknowledgement is committed, publishing it fails; the operator retries."""
    flag = tmp_path / "link-down"
    stack = Stack(tmp_path, gateway_env={"PANIC_TEST_LINK_DOWN_FLAG": str(flag)})
    stack.broker.start()
    stack.gateway.start(module="tests.gateway.flaky_link_gateway")
    try:
        listener = stack.dispatch()
        scripted = ScriptedDevice(stack, new_device_id())
        scripted.send(scripted.alert_body())
        alert_id = dispatched_alert(listener)["alert_id"]
        flag.touch()  # the link to the dispatch topic fails from now on
        ack = {"state": "acknowledged", "by": "Polsek desk 2"}
        first = stack.gateway.request("POST", f"/alerts/{alert_id}/ack", ack)
        retry = stack.gateway.request("POST", f"/alerts/{alert_id}/ack", ack)
        assert first["rev"] == retry["rev"] == 2 and retry["published"] is False
        with pytest.raises(queue.Empty):
            listener.next(1.5, "/dispatch/alerts")
        flag.unlink()  # the link is back
        record = dispatched_alert(listener)
        assert (record["alert_id"], record["rev"], record["state"]) == (alert_id, 2, "acknowledged")
        deadline = time.monotonic() + 10  # the broker's confirmation is stored right after
        while not stack.gateway.request("GET", f"/alerts/{alert_id}")["published"]:
            assert time.monotonic() < deadline, "the revision was never confirmed"
            time.sleep(0.05)
        scripted.mqtt.close()
        listener.close()
    finally:
        stack.stop()
