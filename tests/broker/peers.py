"""MQTT peers for the broker tests: connect, subscribe (with the SUBACK code), publish, collect."""

from __future__ import annotations

import queue
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import BrokerUnderTest

# paho reports MQTT 3.1.1 CONNACK codes as MQTT 5 reason names (return code 5 -> "Not authorized")
ACCEPTED, REFUSED = "Success", "Not authorized"
SUBACK_REFUSED = 0x80


class Peer:
    def __init__(self, broker: BrokerUnderTest, user: str, password: str, client_id: str | None = None,
                 clean_session: bool = True) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[str] = queue.Queue()
        self.disconnected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"{user}-{time.monotonic_ns()}",
                                  clean_session=clean_session)
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.getName())
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        # Generous: on NATS the CONNECT waits on JetStream (the session), slow on a loaded machine.
        self.rc = self.connack.get(timeout=30)

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; the SUBACK's code (1 granted, 0x80 refused)."""
        done: queue.Queue[int] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: done.put(int(codes[0].value))
        self.client.subscribe(topic, qos=1)
        return done.get(timeout=10)

    def publish(self, topic: str, payload: bytes = b"x", retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connack(broker: BrokerUnderTest, user: str, password: str) -> str:
    peer = Peer(broker, user, password)
    peer.close()
    return peer.rc


def received(peer: Peer, wait: float = 0.7) -> list[str]:
    topics = []
    deadline = time.monotonic() + wait
    while True:
        try:
            topics.append(peer.messages.get(timeout=max(0.0, deadline - time.monotonic()))[0])
        except queue.Empty:
            return topics
