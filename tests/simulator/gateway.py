"""A stand-in for the gateway in simulator tests: paho-mqtt as the `gateway` account.

It sees what the device publishes (alert, hb, status), checks signatures
with the device key using CPython's hmac (independently of the firmware),
and sends signed acks exactly as protocol/README.md describes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def leaf(self) -> str:
        return self.topic.rsplit("/", 1)[-1]

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.payload)
        return body


def sign(key: bytes, topic: str, body: dict[str, Any]) -> bytes:
    signed = json.dumps(body, separators=(",", ":")).encode()
    sig = hmac.new(key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()
    return signed[:-1] + b',"sig":"' + sig.encode() + b'"}'


def verify(key: bytes, topic: str, payload: bytes) -> dict[str, Any]:
    """The parsed body of a correctly signed payload; AssertionError otherwise."""
    assert payload[-74:-66] == b',"sig":"' and payload.endswith(b'"}'), payload
    signed = payload[:-74] + b"}"
    expected = hmac.new(key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()
    assert payload[-66:-2].decode() == expected, f"bad signature on {topic}: {payload!r}"
    body: dict[str, Any] = json.loads(payload)
    assert list(body)[-1] == "sig"
    return body


class Gateway:
    """Subscribed to one device's alert, hb and status; re-subscribes after a broker restart."""

    def __init__(self, host: str, port: int, password: str, device_id: str, key: bytes) -> None:
        self.device_id = device_id
        self.key = key
        self.messages: queue.Queue[Message] = queue.Queue()
        self.seen: list[Message] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-gateway-{device_id}")
        self.client.username_pw_set("gateway", password)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("test gateway could not subscribe")

    def topic(self, leaf: str) -> str:
        return f"panic/v1/dev/{self.device_id}/{leaf}"

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        client.subscribe([(self.topic(leaf), 1) for leaf in ("alert", "hb", "status")])

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        m = Message(msg.topic, bytes(msg.payload), bool(msg.retain))
        self.seen.append(m)
        self.messages.put(m)

    def expect(self, leaf: str, timeout: float = 15, where: Callable[[Message], bool] | None = None) -> Message:
        """The next message on `leaf` (alert, hb, status) that satisfies `where`; others are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                m = self.messages.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"no {leaf} message within {timeout}s") from None
            if m.leaf == leaf and (where is None or where(m)):
                return m

    def verified(self, m: Message) -> dict[str, Any]:
        return verify(self.key, m.topic, m.payload)

    def ack(self, ref: int, state: str = "received", *, key: bytes | None = None) -> bytes:
        """Publish a signed ack for alert `ref` (signed with `key`, default the device's)."""
        body = {"v": 1, "dev": self.device_id, "ref": ref, "state": state, "ts": int(time.time())}
        payload = sign(key or self.key, self.topic("ack"), body)
        self.client.publish(self.topic("ack"), payload, qos=1).wait_for_publish(10)
        return payload

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_status(host: str, port: int, password: str, device_id: str, timeout: float = 10) -> Message:
    """What a client subscribing now gets as the retained status of the device."""
    got: queue.Queue[Message] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.username_pw_set("gateway", password)
    client.on_connect = lambda c, *_a: c.subscribe(f"panic/v1/dev/{device_id}/status", 1)
    client.on_message = lambda _c, _u, msg: got.put(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
    client.connect(host, port)
    client.loop_start()
    try:
        return got.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no retained status") from None
    finally:
        client.disconnect()
        client.loop_stop()
