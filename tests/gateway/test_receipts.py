"""Hole 8: the gateway → dispatch leg is acknowledged end to end by receipts from the consumer."""

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

from simulator.stack import Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice, new_device_id

FAST = {"PANIC_DISPATCH_RECEIPT_RETRY_S": "1", "PANIC_DISPATCH_RECEIPT_RETRY_MAX_S": "2",
        "PANIC_OUTBOX_POLL_S": "0.2"}


class Desk:
    """A dispatch consumer as docs/protocol.md asks: fixed client id, persistent session, QoS 1, receipts."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.records: queue.Queue[dict[str, Any]] = queue.Queue()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dispatch-desk-1", clean_session=False)
        self.client.username_pw_set("dispatch", stack.broker_config.dispatch_password)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = lambda c, *_a: c.subscribe("panic/v1/dispatch/alerts", qos=1)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        record = json.loads(message.payload)
        assert_valid("dispatch-alert.json", record)
        self.records.put(record)
        receipt = {"alert_id": record["alert_id"], "rev": record["rev"], "by": "dispatch-desk-1"}
        client.publish("panic/v1/dispatch/receipt", json.dumps(receipt), qos=1)

    def connect(self) -> None:
        self.subscribed.clear()
        self.client.connect(self.stack.broker_config.host, self.stack.broker_config.port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def published(stack: Stack) -> int:
    text = stack.gateway.request("GET", "/metrics")
    return sum(int(line.split()[-1]) for line in text.splitlines() if line.startswith("panic_dispatch_published_total"))


@pytest.mark.parametrize("snapshot", ["lost", "kept"])
def test_alerts_queued_for_an_absent_dispatch_survive_a_broker_killed(tmp_path: Path, snapshot: str) -> None:
    """Mosquitto saves its queues by periodic snapshot: a SIGKILL loses what was queued since the last one.

    "lost" deletes the snapshot with the kill: the worst case (killed just
    before the next save). "kept": the broker saved the queue, and the desk
    may get the broker's copy and the gateway's re-publication. Either way
    every alert arrives, and re-publication stops with the receipts.
    """
    with Stack(tmp_path, gateway_env=FAST) as stack:
        desk = Desk(stack)
        desk.connect()
        desk.disconnect()  # dispatch goes away (its session keeps the subscription)
        device = ScriptedDevice(stack, new_device_id())
        try:
            sent = set()
            for _ in range(5):
                body = device.alert_body()
                device.send(body)
                sent.add(f"{device.id}:{body['seq']}")
            assert sorted(device.next_ack()["ref"] for _ in sent) == [1, 2, 3, 4, 5]
            deadline = time.monotonic() + 10
            while published(stack) < len(sent):  # the broker PUBACKed each to the gateway
                assert time.monotonic() < deadline, "the gateway did not publish"
                time.sleep(0.05)
            assert stack.broker.process is not None
            stack.broker.process.kill()
            stack.broker.process.wait()
            if snapshot == "lost":
                (stack.broker_config.state_dir / "mosquitto.db").unlink(missing_ok=True)
            stack.broker.start()
            desk.connect()  # back, subscribing again: the broker lost its session too
            got: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 30
            while set(got) != sent:
                assert time.monotonic() < deadline, f"lost: {sorted(sent - set(got))}"
                record = desk.records.get(timeout=max(0.1, deadline - time.monotonic()))
                got[record["alert_id"]] = record
            if snapshot == "lost":  # only the gateway's re-publications can have brought them
                assert all(record["redelivery"] for record in got.values())
            time.sleep(1.0)  # copies already on their way when the receipts went out
            while not desk.records.empty():
                desk.records.get_nowait()
            time.sleep(3.0)  # receipted: no more re-publication (retries would come every 1-2 s)
            assert desk.records.empty(), "still re-published after the receipts"
            assert stack.gateway.request("GET", f"/alerts/{device.id}:1")["published"] is True
        finally:
            device.mqtt.close()
            desk.disconnect()


def test_no_consumer_receipts_an_alert_then_dispatch_hears_of_it(tmp_path: Path) -> None:
    env = {**FAST, "PANIC_DISPATCH_UNRECEIPTED_AFTER_S": "1.5"}
    with Stack(tmp_path, gateway_env=env) as stack:
        listener = stack.dispatch(receipts=False)
        device = ScriptedDevice(stack, new_device_id())
        try:
            device.send(device.alert_body())
            first = json.loads(listener.next(10, "/dispatch/alerts")[1])
            assert first["redelivery"] is False
            again = json.loads(listener.next(10, "/dispatch/alerts")[1])
            assert (again["alert_id"], again["rev"], again["redelivery"]) == (first["alert_id"], 1, True)
            event = json.loads(listener.next(10, "/dispatch/events")[1])
            assert_valid("dispatch-event.json", event)
            assert (event["event"], event["device"]) == ("dispatch_unreceipted", device.id)
            assert first["alert_id"] in event["detail"] and event["owner"]["name"] == "Toko Emas Sinar Jaya"
            assert "panic_dispatch_unreceipted_total 1" in stack.gateway.request("GET", "/metrics")
            assert "WARNING gateway.publisher: alert " + first["alert_id"] in stack.gateway.log()
            # a receipt, however late, ends the re-publication
            listener.publish("panic/v1/dispatch/receipt",
                             json.dumps({"alert_id": first["alert_id"], "rev": 1, "by": "late-desk"}).encode())
            listener.drain(1.0)
            assert [t for t, _ in listener.drain(3.0) if t.endswith("/alerts")] == []
        finally:
            device.mqtt.close()
            listener.close()
