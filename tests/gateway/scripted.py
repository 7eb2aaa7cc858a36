"""A device the test scripts by hand: signs with stdlib hmac, independently of gateway.protocol."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from simulator.stack import BaseStack, MqttListener
from tests.contract import assert_valid


def sign_bytes(key: bytes, topic: str, signed: bytes) -> bytes:
    """Append the sig member to any signed bytes, even ones that are not valid JSON."""
    sig = hmac.new(key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()
    return signed[:-1] + f',"sig":"{sig}"}}'.encode()


def sign(key: bytes, topic: str, body: dict[str, Any]) -> bytes:
    """Sign as the contract says, independently of gateway.protocol."""
    return sign_bytes(key, topic, json.dumps(body).encode())  # with spaces: no canonical form is needed


class ScriptedDevice:
    """A registered device whose messages the test writes by hand."""

    def __init__(self, stack: BaseStack, device_id: str, owner: dict[str, Any] | None = None,
                 endpoint: tuple[str, int] | None = None) -> None:
        self.id = device_id
        self.stack = stack
        issued = stack.register_button(device_id, owner=owner)
        self.key = bytes.fromhex(issued["device_key"])
        self.account = (issued["mqtt_username"], issued["mqtt_password"])
        self.mqtt = self.connect(endpoint)
        self.seq = 0

    def connect(self, endpoint: tuple[str, int] | None = None) -> MqttListener:
        """A connection of this device (to one endpoint of the broker: a cluster's node)."""
        return MqttListener(self.stack.broker_config, *self.account, [f"panic/v1/dev/{self.id}/ack"],
                            endpoint=endpoint)

    def topic(self, leaf: str = "alert") -> str:
        return f"panic/v1/dev/{self.id}/{leaf}"

    def alert_body(self, seq: int | None = None, **changes: Any) -> dict[str, Any]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        body = {"v": 1, "dev": self.id, "seq": seq, "type": "sos", "ts": 1795800000, "up": 123456,
                "loc": None, "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}
        body.update(changes)
        return body

    def send(self, body: dict[str, Any], leaf: str = "alert", puback_within: float | None = None) -> bytes:
        """Sign and publish (alerts at QoS 1). With `puback_within`: wait that long for the broker's PUBACK
        (paho sends the alert again after a reconnect) and fail without one."""
        payload = sign(self.key, self.topic(leaf), body)
        acked = self.mqtt.publish(self.topic(leaf), payload, qos=1 if leaf == "alert" else 0,
                                  timeout=puback_within or 10.0)
        assert puback_within is None or acked, f"no PUBACK for {self.topic(leaf)} seq {body.get('seq')}"
        return payload

    def next_ack(self, timeout: float = 10.0) -> dict[str, Any]:
        topic, payload = self.mqtt.next(timeout, "/ack")
        signed = payload[:-74] + b"}"
        expected = hmac.new(self.key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()
        assert payload[-74:] == f',"sig":"{expected}"}}'.encode(), "ack is not signed with the device key"
        ack: dict[str, Any] = json.loads(payload)
        assert_valid("device-ack.json", ack)
        return ack


def new_device_id() -> str:
    return "pb-" + secrets.token_hex(6)
