"""Alerts pressed during a phase, and the clock at dispatch that times them.

`AlertPresses` sends signed QoS 1 alerts from devices that send no
heartbeats, round robin, at a steady rate, noting when each PUBLISH left the
button (its socket write). `DispatchClock` is a dispatch consumer: it notes
when each alert first arrives on the dispatch topic, enriched by the gateway
or republished by the pass-through bridge, and sends the gateway its
receipts as a dispatch desk does. Both clocks are CLOCK_MONOTONIC.
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.fleet_load import Account
from bench.fleet_wire import connect, publish_packet
from bench.gateway_load import signed
from broker.run import BrokerConfig


class AlertPresses:
    def __init__(self, broker: BrokerConfig, accounts: list[Account]) -> None:
        self.devices = [(connect(broker.host, broker.port, d, d, pw), d, bytes.fromhex(k)) for d, pw, k in accounts]
        for sock, _, _ in self.devices:
            sock.setblocking(False)  # only to drain the broker's PUBACKs, which are not looked at
        self.seq = 0
        self.sent: dict[str, float] = {}  # alert id -> when its PUBLISH left the button

    def press_for(self, seconds: float, per_second: float) -> dict[str, float]:
        """Send alerts for `seconds`; returns those sent in this phase, by alert id."""
        phase: dict[str, float] = {}
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            sock, device_id, key = self.devices[n % len(self.devices)]
            if n % len(self.devices) == 0:
                self.seq += 1
            topic = f"panic/v1/dev/{device_id}/alert"
            body: dict[str, object] = {"v": 1, "dev": device_id, "seq": self.seq, "type": "test", "ts": None,
                                       "up": self.seq, "loc": None, "bat": 90, "pwr": "mains", "net": "wifi",
                                       "rssi": -60}
            packet = publish_packet(topic, signed(key, topic, body), qos=1, packet_id=self.seq % 65535 + 1)
            sock.setblocking(True)
            phase[f"{device_id}:{self.seq}"] = time.monotonic()
            sock.sendall(packet)
            sock.setblocking(False)
            self._drain(sock)
            n += 1
            time.sleep(max(0.0, start + n / per_second - time.monotonic()))
        self.sent.update(phase)
        return phase

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        try:
            while sock.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        for sock, _, _ in self.devices:
            sock.close()


class DispatchClock:
    def __init__(self, broker: BrokerConfig) -> None:
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-dispatch")
        self.client.username_pw_set("dispatch", broker.dispatch_password)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("panic/v1/dispatch/alerts", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        record = json.loads(message.payload)
        if "alert_id" in record:  # the gateway's enriched alert: receipt it
            alert_id = record["alert_id"]
            client.publish("panic/v1/dispatch/receipt", json.dumps(
                {"alert_id": alert_id, "rev": record["rev"], "by": "bench-desk"}), qos=1)
        else:  # the device's own message, republished by the pass-through bridge
            alert_id = f"{record['dev']}:{record['seq']}"
        with self._lock:
            self.arrived.setdefault(alert_id, now)

    def latencies(self, sent: dict[str, float], grace_s: float = 5.0) -> tuple[list[float], int]:
        """Latencies of the alerts in `sent` that arrived (waiting up to `grace_s` for the rest), and how
        many did not arrive at all."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(a not in self.arrived for a in sent):
            time.sleep(0.05)
        with self._lock:
            got = [self.arrived[a] - t for a, t in sent.items() if a in self.arrived]
        return got, len(sent) - len(got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentiles(values: list[float]) -> str:
    if not values:
        return "—"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered) * 1e3:.1f} / {p99 * 1e3:.1f} ms"
