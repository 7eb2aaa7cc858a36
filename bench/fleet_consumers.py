"""The baselines the gateway is measured beside, each a process of its own on the same broker.

- counting subscriber: subscribes to the device topics and counts; what one
  paho connection can take at all;
- pass-through bridge: subscribes, republishes every alert to dispatch and
  every heartbeat to a topic nobody reads; no verification, no storage, one
  connection, one thread: the gateway's work minus the gateway.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.run import BrokerConfig


def _consume(host: str, port: int, password: str, republish: bool, counts: Any, stop: Any) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{'pass' if republish else 'count'}")
    client.username_pw_set("gateway", password)
    client.max_inflight_messages_set(100)

    def on_connect(c: mqtt.Client, *_: object) -> None:
        c.subscribe([("panic/v1/dev/+/hb", 0), ("panic/v1/dev/+/alert", 1)])

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        alert = message.topic.endswith("/alert")
        if republish:
            if alert:
                c.publish("panic/v1/dispatch/alerts", message.payload, qos=1)
            else:
                c.publish(message.topic[:-2] + "ack", message.payload, qos=0)
        counts[1 if alert else 0] += 1

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()


class Consumer:
    """A baseline consumer process; `heartbeats` and `alerts` count what it has taken."""

    def __init__(self, broker: BrokerConfig, *, republish: bool) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.name = "pass-through bridge" if republish else "counting subscriber"
        self.dispatches = republish
        self.counts = spawn.Array("q", 2)
        self._stop = spawn.Event()
        self.process = spawn.Process(target=_consume, daemon=True, args=(
            broker.host, broker.port, broker.gateway_password, republish, self.counts, self._stop))

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.process.pid else []

    def heartbeats(self) -> int:
        return int(self.counts[0])

    def __enter__(self) -> Consumer:
        self.process.start()
        time.sleep(1.0)  # connected and subscribed
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.process.join(timeout=10)
