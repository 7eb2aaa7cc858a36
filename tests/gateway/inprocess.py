"""The gateway's bridge in this process, on a real broker and a given database.

For tests that swap in a failing part (a store that breaks on some messages,
a publish that fails while "the broker is away"): no hooks in gateway/.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine

from gateway.bridge import Bridge
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.storage.db import session_factory
from gateway.storage.store import Store
from simulator.stack import MqttListener
from tests.conftest import BrokerUnderTest
from tests.gateway.harness import register


@contextmanager
def running_bridge(broker: BrokerUnderTest, database_url: str, store_type: type[Store] = Store,
                   **overrides: Any) -> Iterator[Bridge]:
    settings = Settings(database_url=database_url, mqtt_host=broker.host, mqtt_port=broker.port,
                        mqtt_password=broker.config.gateway_password, **overrides)
    store = store_type(session_factory(create_engine(database_url)), instance=settings.mqtt_client_id,
                       lease_s=settings.outbox_lease_s)
    bridge = Bridge(settings, store, Metrics())
    bridge.start()
    try:
        assert bridge.connected.wait(10), "the bridge did not connect"
        time.sleep(0.3)  # its subscriptions are in place
        yield bridge
    finally:
        bridge.stop()


class Button:
    """A registered device speaking MQTT, its messages written by the test."""

    def __init__(self, broker: BrokerUnderTest, bridge: Bridge) -> None:
        self.id = "pb-" + secrets.token_hex(6)
        self.key = secrets.token_bytes(32)
        register(bridge.store, self.id, self.key.hex())
        password = secrets.token_urlsafe(12)
        broker.add_device(self.id, password)  # in force once it returns (dynamic security answered)
        self.mqtt = MqttListener(broker.config, self.id, password, [f"panic/v1/dev/{self.id}/ack"])
        self.seq = 0

    def alert(self, **changes: Any) -> int:
        self.seq += 1
        topic = f"panic/v1/dev/{self.id}/alert"
        body = {"v": 1, "dev": self.id, "seq": self.seq, "type": "sos", "ts": None, "up": 1, "loc": None,
                "bat": None, "pwr": "mains", "net": "wifi", "rssi": None, **changes}
        signed = json.dumps(body, separators=(",", ":")).encode()
        sig = hmac.new(self.key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()
        self.mqtt.publish(topic, signed[:-1] + f',"sig":"{sig}"}}'.encode())
        return self.seq

    def close(self) -> None:
        self.mqtt.close()


def dispatch_listener(broker: BrokerUnderTest) -> MqttListener:
    """A dispatch consumer that sends a receipt for every alert revision it gets."""
    return MqttListener(broker.config, "dispatch", broker.config.dispatch_password,
                        ["panic/v1/dispatch/alerts", "panic/v1/dispatch/events"], receipt_as="test-desk")
