"""The gateway process under MQTT load, beside the broker's own capacity in the same run.

    .venv/bin/python bench/gateway_load.py [--devices N] [--heartbeats N] [--alerts N]

Starts the stack (Mosquitto with the project's config, `panic-gateway` on
SQLite), registers N devices, then publishes pre-signed heartbeats (QoS 0)
and alerts (QoS 1) as fast as one paho client per device can, and reads the
gateway's /metrics until everything is judged. Baseline: the same messages
through the same broker to a plain paho subscriber that only counts them.
Loopback only; bounded in count; prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.run import Mosquitto, free_port, prepare
from simulator.stack import Stack


def signed(key: bytes, topic: str, body: dict[str, object]) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    sig = hmac.new(key, topic.encode() + b"\n" + raw, hashlib.sha256).hexdigest()
    return raw[:-1] + f',"sig":"{sig}"}}'.encode()


def workload(device_id: str, key: bytes, heartbeats: int, alerts: int) -> list[tuple[str, bytes, int]]:
    out = []
    for seq in range(1, heartbeats + alerts + 1):
        kind = "alert" if seq % (heartbeats // max(alerts, 1) + 1) == 0 and alerts else "hb"
        topic = f"panic/v1/dev/{device_id}/{kind}"
        body: dict[str, object] = {"v": 1, "dev": device_id, "seq": seq, "ts": 1795800000, "up": seq,
                                   "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}
        if kind == "alert":
            body |= {"type": "test", "loc": None}
        out.append((topic, signed(key, topic, body), 1 if kind == "alert" else 0))
    return out


def publish_all(host: str, port: int, accounts: list[tuple[str, str]],
                loads: list[list[tuple[str, bytes, int]]]) -> float:
    """One paho client per device publishes its load as fast as it can; returns the start time."""
    clients = []
    for device_id, password in accounts:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        client.username_pw_set(device_id, password)
        client.max_inflight_messages_set(1000)
        client.connect(host, port)
        client.loop_start()
        clients.append(client)
    start = time.perf_counter()

    def send(client: mqtt.Client, load: list[tuple[str, bytes, int]]) -> None:
        infos = [client.publish(topic, payload, qos=qos) for topic, payload, qos in load]
        for info in infos:  # written to the socket (QoS 0) or PUBACKed (QoS 1)
            info.wait_for_publish(timeout=60)

    threads = [threading.Thread(target=send, args=(c, load)) for c, load in zip(clients, loads, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return start


def metric(text: str, name: str) -> int:
    return sum(int(v) for v in re.findall(rf"^panic_{name}(?:{{[^}}]*}})? (\d+)$", text, re.M))


def baseline(state_dir: Path, accounts: list[tuple[str, str]], loads: list[list[tuple[str, bytes, int]]]) -> None:
    """The same load through a second broker with the same config to a subscriber that only counts."""
    config = prepare(state_dir, free_port())
    for device_id, password in accounts:
        config.accounts().set(device_id, password)
    total = sum(len(load) for load in loads)
    received = 0
    done, subscribed = threading.Event(), threading.Event()
    counter = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline")
    counter.username_pw_set("gateway", config.gateway_password)

    def on_message(*_: object) -> None:
        nonlocal received
        received += 1
        if received >= total:
            done.set()

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe([("panic/v1/dev/+/hb", 0), ("panic/v1/dev/+/alert", 1)])

    def on_subscribe(*_: object) -> None:
        subscribed.set()

    counter.on_message = on_message
    counter.on_connect = on_connect
    counter.on_subscribe = on_subscribe
    with Mosquitto(config):
        counter.connect(config.host, config.port)
        counter.loop_start()
        subscribed.wait(10)
        start = publish_all(config.host, config.port, accounts, loads)
        done.wait(120)
        elapsed = time.perf_counter() - start
        counter.disconnect()
        counter.loop_stop()
    print(f"baseline  broker → counting subscriber {received:>7} of {total} in {elapsed:6.2f} s "
          f"= {received / elapsed:>8,.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--heartbeats", type=int, default=1000, help="per device")
    parser.add_argument("--alerts", type=int, default=50, help="per device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp) / "stack") as stack:
        accounts, loads = [], []
        for i in range(args.devices):
            issued = stack.register_button(f"pb-{i:012x}")
            accounts.append((issued["device_id"], issued["mqtt_password"]))
            loads.append(workload(issued["device_id"], bytes.fromhex(issued["device_key"]),
                                  args.heartbeats, args.alerts))
        total = sum(len(load) for load in loads)
        baseline(Path(tmp) / "baseline-broker", accounts, loads)
        time.sleep(0.5)  # the stack's broker reloaded its password file (SIGHUP) long ago; be sure
        start = publish_all(stack.broker_config.host, stack.broker_config.port, accounts, loads)
        deadline = time.perf_counter() + 120
        judged = 0
        while time.perf_counter() < deadline:
            text = stack.gateway.request("GET", "/metrics")
            judged = sum(metric(text, m) for m in ("heartbeats_total", "alerts_total", "rejected_total"))
            if judged >= total and metric(text, "dispatch_published_total") >= metric(text, "alerts_total"):
                break  # every message judged, every alert published to dispatch
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        print(f"gateway   judged, alerts dispatched   {judged:>7} of {total} in {elapsed:6.2f} s "
              f"= {judged / elapsed:>8,.0f} msg/s")
        print(f"          heartbeats {metric(text, 'heartbeats_total')}, alerts {metric(text, 'alerts_total')} "
              f"(enriched and dispatched: {metric(text, 'dispatch_published_total')}), "
              f"rejected {metric(text, 'rejected_total')}; {args.devices} devices")


if __name__ == "__main__":
    main()
