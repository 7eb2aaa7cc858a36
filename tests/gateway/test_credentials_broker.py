"""Rotation and revocation against the real broker and the gateway process.

The broker side here is the password file the gateway writes; SIGHUP
makes Mosquitto re-read it and disconnect sessions whose credentials no
longer hold (the dynamic security plugin does the same when an account is
removed). Messages of a revoked button that still arrive are refused with
reason `revoked` (tests/gateway/test_credentials.py).
"""

from __future__ import annotations

import json
import queue
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice

ACCEPTED, REFUSED = "Success", "Not authorized"


def connack(stack: Stack, user: str, password: str) -> str:
    """What the broker answers a new connection with these credentials."""
    answers: queue.Queue[str] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}")
    client.username_pw_set(user, password)
    client.on_connect = lambda _c, _u, _f, rc, _p: answers.put(rc.getName())
    client.connect(stack.broker_config.host, stack.broker_config.port)
    client.loop_start()
    try:
        return answers.get(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def connack_becomes(stack: Stack, user: str, password: str, wanted: str) -> str:
    """Connect until the broker answers `wanted` (its reload is asynchronous) or 5 s pass."""
    deadline = time.monotonic() + 5
    while (answer := connack(stack, user, password)) != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer


def dispatched(dispatch: MqttListener, kind: str) -> dict[str, Any]:
    _topic, payload = dispatch.next(10, f"/dispatch/{kind}")
    record: dict[str, Any] = json.loads(payload)
    assert_valid(f"dispatch-{kind[:-1]}.json", record)
    return record


def test_rotate_then_revoke_a_button(stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    old_password = stack.broker_config.dynsec_file.read_text()  # only to prove it changes
    device.send(device.alert_body())
    assert device.next_ack()["state"] == "received"
    assert dispatched(dispatch, "alerts")["alert_id"] == f"{device.id}:1"

    rotated = stack.gateway.request("POST", f"/devices/{device.id}/rotate")
    assert stack.broker_config.dynsec_file.read_text() != old_password
    assert connack_becomes(stack, device.id, rotated["mqtt_password"], ACCEPTED) == ACCEPTED
    previous_password = device.mqtt.client.password  # what the button was provisioned with
    assert previous_password is not None and previous_password != rotated["mqtt_password"]
    assert connack(stack, device.id, previous_password) == REFUSED

    # Re-provisioned: new password; its outbox still holds an alert signed with the old key.
    device.mqtt.close()
    device.mqtt = MqttListener(stack.broker_config, device.id, rotated["mqtt_password"],
                               [f"panic/v1/dev/{device.id}/ack"])
    device.send(device.alert_body())
    device.key = bytes.fromhex(rotated["device_key"])
    assert device.next_ack()["state"] == "received"  # acked, and the ack is signed with the new key
    assert dispatched(dispatch, "alerts")["alert_id"] == f"{device.id}:2"
    device.send(device.alert_body())
    assert device.next_ack()["state"] == "received"
    assert dispatched(dispatch, "alerts")["alert_id"] == f"{device.id}:3"
    metrics = stack.gateway.request("GET", "/metrics")
    assert 'panic_verified_total{key="previous"} 1' in metrics

    revoked = stack.gateway.request("DELETE", f"/devices/{device.id}")
    assert revoked["status"] == "revoked"
    assert connack_becomes(stack, device.id, rotated["mqtt_password"], REFUSED) == REFUSED
    # the open session is ended too, and its reconnections are refused
    deadline = time.monotonic() + 5
    while device.mqtt.client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not device.mqtt.client.is_connected()
    assert [t for t, _ in dispatch.drain(1.0) if t.endswith("/alerts")] == []
