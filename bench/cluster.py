"""The clustered broker beside the single one: latency, heartbeat throughput, node-loss recovery.

    .venv/bin/python bench/cluster.py [--alerts 200] [--heartbeats 20000] [--buttons 3]

For each backend in the same run - single-node Mosquitto, then a 3-node NATS
cluster (broker/nats.py, R3 JetStream) - it starts the stack (simulator/stack.py:
the broker and one gateway on SQLite) and measures:

- alert → dispatch: a registered device publishes a signed alert (QoS 1) and
  the enriched dispatch alert arrives at a dispatch subscriber; one at a time,
  p50/p99 over `--alerts`;
- heartbeat throughput: 20 devices publish `--heartbeats` signed heartbeats
  (QoS 0) as fast as paho sends them; the rate at which the gateway judges
  them (panic_heartbeats_total), first to last;
- node loss: `--buttons` real firmware buttons (MicroPython, 110 KB heap,
  default reconnect settings) are on one node; it is SIGKILLed and every button
  is pressed at once: the time from the kill to each button's alert at
  dispatch. NATS: the buttons move to their next endpoint (config "brokers").
  Mosquitto: the only node is started again at once (the best an operator or
  systemd can do), the buttons reconnect to it.

Prints numbers; asserts nothing. Loopback, one machine: the cluster's nodes
share its cores, so the figures say what the software costs, not what three
machines would do.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.gateway_load import signed
from broker.nats import NatsCluster
from simulator.button import SimulatedButton
from simulator.stack import BaseStack, make_stack

HEARTBEAT_DEVICES = 20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def device_client(stack: BaseStack, device_id: str, password: str, endpoint: tuple[str, int]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
    client.username_pw_set(device_id, password)
    client.connect(*endpoint)
    client.loop_start()
    return client


def alert_latency(stack: BaseStack, alerts: int) -> list[float]:
    issued = stack.register_button("pb-00000000be01")
    key = bytes.fromhex(issued["device_key"])
    endpoint = (stack.broker_config.host, stack.broker_config.port)
    client = device_client(stack, issued["device_id"], issued["mqtt_password"], endpoint)
    dispatch = stack.dispatch()
    topic = f"panic/v1/dev/{issued['device_id']}/alert"
    latencies = []
    for seq in range(1, alerts + 1):
        body = {"v": 1, "dev": issued["device_id"], "seq": seq, "ts": 1795800000, "up": seq, "bat": 90,
                "pwr": "mains", "net": "wifi", "rssi": -60, "type": "test", "loc": None}
        payload = signed(key, topic, body)
        start = time.monotonic()
        client.publish(topic, payload, qos=1)
        while json.loads(dispatch.next(30, "/dispatch/alerts")[1])["alert_id"] != f"{issued['device_id']}:{seq}":
            pass
        latencies.append(time.monotonic() - start)
    client.disconnect()
    client.loop_stop()
    dispatch.close()
    return latencies


def judged_heartbeats(stack: BaseStack) -> int:
    with urllib.request.urlopen(urllib.request.Request(
            stack.gateway.url + "/metrics", headers={"Authorization": f"Bearer {stack.gateway.token}"})) as r:
        match = re.search(r"^panic_heartbeats_total (\d+)", r.read().decode(), re.M)
    return int(match.group(1)) if match else 0


def heartbeat_throughput(stack: BaseStack, count: int) -> tuple[float, int]:
    """(heartbeats judged per second, how many were judged) for `count` published."""
    endpoint = (stack.broker_config.host, stack.broker_config.port)
    devices = []
    for i in range(HEARTBEAT_DEVICES):
        issued = stack.register_button(f"pb-00000000{i:04x}")
        client = device_client(stack, issued["device_id"], issued["mqtt_password"], endpoint)
        devices.append((client, issued["device_id"], bytes.fromhex(issued["device_key"])))
    payloads = []
    for seq in range(1, count // HEARTBEAT_DEVICES + 1):
        for client, device_id, key in devices:
            topic = f"panic/v1/dev/{device_id}/hb"
            body = {"v": 1, "dev": device_id, "seq": seq, "ts": None, "up": seq, "bat": 90, "pwr": "mains",
                    "net": "wifi", "rssi": -60}
            payloads.append((client, topic, signed(key, topic, body)))
    before = judged_heartbeats(stack)
    start = time.monotonic()
    for client, topic, payload in payloads:
        client.publish(topic, payload, qos=0)
    last, last_change = before, time.monotonic()
    while time.monotonic() - last_change < 3:
        time.sleep(0.2)
        now = judged_heartbeats(stack)
        if now != last:
            last, last_change = now, time.monotonic()
    for client, _, _ in devices:
        client.disconnect()
        client.loop_stop()
    judged = last - before
    return judged / max(1e-9, last_change - start), judged


def node_loss(stack: BaseStack, buttons: int, state: Path) -> list[float]:
    """Seconds from SIGKILL of the buttons' node to each button's alert at dispatch."""
    config = stack.broker_config
    nats = isinstance(stack.broker, NatsCluster)
    endpoints = [config.endpoints[i] for i in (1, 2, 0)] if nats else None  # type: ignore[union-attr]
    dispatch = stack.dispatch(endpoint=config.endpoints[0] if nats else None)  # type: ignore[union-attr]
    running = []
    for n in range(buttons):
        device_id = f"pb-00000000fa{n:02x}"
        issued = stack.register_button(device_id)
        SimulatedButton.provision(state / device_id, device_id=device_id, device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=config.host,
                                  broker_port=config.port, brokers=endpoints, hold_ms=200)
        running.append(SimulatedButton(state / device_id))
        running[-1].start()
    try:
        for button in running:
            button.wait_for_indicator("idle", timeout=60)
        killed = time.monotonic()
        if nats:
            stack.broker.kill(config.nodes[1].name)  # type: ignore[union-attr]
        else:
            process = stack.broker.process  # type: ignore[union-attr]
            assert process is not None
            process.send_signal(signal.SIGKILL)
            process.wait()
            stack.broker.process = None  # type: ignore[union-attr]
            stack.broker.start()
        for button in running:
            button.press(400)
        arrived: dict[str, float] = {}
        while len(arrived) < buttons:
            record = json.loads(dispatch.next(40, "/dispatch/alerts")[1])
            arrived.setdefault(record["alert_id"].split(":")[0], time.monotonic() - killed)
        return sorted(arrived.values())
    finally:
        for button in running:
            button.stop()
        dispatch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--heartbeats", type=int, default=20_000)
    parser.add_argument("--buttons", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="panic-cluster-bench-") as tmp:
        for kind in ("mosquitto", "nats"):
            stack = make_stack(kind, Path(tmp) / kind)
            with stack:
                latencies = alert_latency(stack, args.alerts)
                rate, judged = heartbeat_throughput(stack, args.heartbeats)
                recovery = node_loss(stack, args.buttons, Path(tmp) / kind / "buttons")
            label = "Mosquitto, 1 node" if kind == "mosquitto" else "NATS, 3 nodes (R3)"
            print(f"{label}:")
            print(f"  alert -> dispatch over {len(latencies)}: p50 {statistics.median(latencies) * 1000:.1f} ms, "
                  f"p99 {pct(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
            print(f"  heartbeats judged: {judged} of {args.heartbeats} at {rate:.0f}/s")
            print("  node killed -> each button's alert at dispatch: "
                  + ", ".join(f"{s:.1f} s" for s in recovery), flush=True)


if __name__ == "__main__":
    main()
