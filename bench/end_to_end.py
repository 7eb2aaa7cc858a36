"""Press → enriched alert on the dispatch topic, through every real part, on loopback.

    .venv/bin/python bench/end_to_end.py [--presses N]

Starts the stack (Mosquitto with the project's config, the gateway on
SQLite), a simulated button running the real firmware under
`micropython -X heapsize=110K`, presses N times, and prints:
- latency from the moment the hold completes (the firmware raises the alert)
  to the enriched alert arriving at a dispatch subscriber, beside a baseline
  measured in the same run: a bare QoS 1 publish → subscriber through the
  same broker;
- the firmware's heap after each acknowledged alert, beside a baseline: a bare
  interpreter with asyncio imported.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.gateway_load import signed
from simulator.button import SimulatedButton, micropython_binary
from simulator.stack import Stack

HOLD_MS = 2000


class Arrivals:
    """Monotonic arrival times of messages on a topic."""

    def __init__(self, stack: Stack, topic: str, user: str = "dispatch") -> None:
        self.times: list[float] = []
        self.event = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        password = stack.broker_config.dispatch_password if user == "dispatch" else stack.broker_config.gateway_password
        self.client.username_pw_set(user, password)
        subscribed = threading.Event()

        def on_connect(client: mqtt.Client, *_: object) -> None:
            client.subscribe(topic, qos=1)

        def on_subscribe(*_: object) -> None:
            subscribed.set()

        def on_message(*_: object) -> None:
            self.times.append(time.monotonic())
            self.event.set()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(stack.broker_config.host, stack.broker_config.port)
        self.client.loop_start()
        subscribed.wait(10)

    def wait(self, count: int, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while len(self.times) < count:
            self.event.wait(max(0.0, deadline - time.monotonic()))
            self.event.clear()
            if time.monotonic() > deadline:
                raise TimeoutError("no alert on dispatch")
        return self.times[count - 1]


def broker_baseline(stack: Stack, rounds: int) -> list[float]:
    """QoS 1 publish → subscriber through the same broker, as the gateway would publish."""
    arrivals = Arrivals(stack, "panic/v1/dispatch/alerts")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.username_pw_set("gateway", stack.broker_config.gateway_password)
    publisher.connect(stack.broker_config.host, stack.broker_config.port)
    publisher.loop_start()
    latencies = []
    for i in range(rounds):
        start = time.monotonic()
        publisher.publish("panic/v1/dispatch/alerts", b"x" * 900, qos=1)
        latencies.append(arrivals.wait(i + 1) - start)
    publisher.disconnect()
    arrivals.client.disconnect()
    return latencies


class HeartbeatLoad:
    """Signed heartbeats from `devices` registered devices at `rate` per second, in a process of
    its own (so it competes for the CPU like a real fleet, not for this process's GIL)."""

    def __init__(self, stack: Stack, rate: int, devices: int = 10) -> None:
        accounts = []
        for i in range(devices):
            issued = stack.register_button(f"pb-0000000a{i:04x}")
            accounts.append((issued["device_id"], issued["mqtt_password"], issued["device_key"]))
        spawn = multiprocessing.get_context("spawn")
        self.sent = spawn.Value("q", 0)
        self.seconds = spawn.Value("d", 0.0)
        self.stop_flag = spawn.Event()
        self.process = spawn.Process(
            target=_publish_heartbeats,
            args=(stack.broker_config.host, stack.broker_config.port, accounts, rate, self.stop_flag, self.sent,
                  self.seconds),
            daemon=True,
        )

    def __enter__(self) -> HeartbeatLoad:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.process.join(timeout=30)


def _publish_heartbeats(host: str, port: int, accounts: list[tuple[str, str, str]], rate: int,
                        stop_flag: Any, sent: Any, seconds: Any) -> None:
    clients = []
    for device_id, password, key_hex in accounts:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        client.username_pw_set(device_id, password)
        client.connect(host, port)
        client.loop_start()
        clients.append((client, device_id, bytes.fromhex(key_hex)))
    # Signed before the clock starts, so the load costs the CPU what a fleet's
    # messages cost the gateway's host: only their delivery.
    payloads = []
    for seq in range(1, 120 * rate // len(clients) + 1):  # enough for two minutes
        for client, device_id, key in clients:
            topic = f"panic/v1/dev/{device_id}/hb"
            body = {"v": 1, "dev": device_id, "seq": seq, "ts": None, "up": seq, "bat": 90, "pwr": "mains",
                    "net": "wifi", "rssi": -60}
            payloads.append((client, topic, signed(key, topic, body)))
    start, count = time.monotonic(), 0
    for client, topic, payload in payloads:
        if stop_flag.is_set():
            break
        client.publish(topic, payload, qos=0)
        count += 1
        if count % 50 == 0:
            sent.value, seconds.value = count, time.monotonic() - start
            ahead = count / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    sent.value, seconds.value = count, time.monotonic() - start
    for client, _, _ in clients:
        client.disconnect()
        client.loop_stop()


def bare_interpreter_heap() -> int:
    out = subprocess.run([micropython_binary(), "-X", "heapsize=110K", "-c",
                          "import gc, asyncio\ngc.collect()\nprint(gc.mem_alloc())"],
                         capture_output=True, text=True, check=True).stdout
    return int(out)


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return f"median {statistics.median(ordered) * 1e3:7.1f} ms   p99 {p99 * 1e3:7.1f} ms   (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=5)
    parser.add_argument("--heartbeats-per-s", type=int, default=0,
                        help="background load of signed heartbeats during the presses (the target: 5000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp)) as stack:
        baseline = broker_baseline(stack, 50)
        issued = stack.register_button("pb-00000000be9c")
        flash = Path(tmp) / "flash"
        SimulatedButton.provision(flash, device_id="pb-00000000be9c", device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                                  broker_port=stack.broker_config.port, hold_ms=HOLD_MS,
                              repeat_ms=0, cancel_window_s=0)  # every press an sos, raised at the hold
        arrivals = Arrivals(stack, "panic/v1/dispatch/alerts")
        on_broker = Arrivals(stack, "panic/v1/dev/+/alert", user="gateway")  # a second reader, not the gateway
        latencies, device_part, gateway_part, heaps = [], [], [], []
        load = HeartbeatLoad(stack, args.heartbeats_per_s) if args.heartbeats_per_s else None
        with SimulatedButton(flash) as button, load or contextlib.nullcontext():
            button.wait_for_indicator("idle", timeout=30)
            for i in range(args.presses):
                mark = button.mark()
                start = time.monotonic()
                button.press(HOLD_MS + 300)
                dispatched = arrivals.wait(i + 1)
                published = on_broker.wait(i + 1)
                latencies.append(dispatched - start - HOLD_MS / 1000)
                device_part.append(published - start - HOLD_MS / 1000)
                gateway_part.append(dispatched - published)
                button.wait_for_log(r"mem: acked seq=", timeout=30, since=mark)
                heaps.append(button.memory())
        if load:
            rate = load.sent.value / max(load.seconds.value, 1e-9)
            metrics = stack.gateway.request("GET", "/metrics")
            judged = re.search(r"^panic_heartbeats_total (\d+)$", metrics, re.M)
            print(f"background: {load.sent.value} heartbeats at {rate:,.0f}/s; the gateway judged "
                  f"{judged.group(1) if judged else 0}")
        print(f"press → dispatch, from hold complete   {summary(latencies)}")
        print(f"  device part: hold → alert on broker  {summary(device_part)}")
        print(f"  gateway part: broker → dispatch      {summary(gateway_part)}")
        print(f"baseline: QoS 1 publish → subscriber   {summary(baseline)}")
        print("  (press latency includes the firmware's 10 ms button poll, signing, flash outbox write,")
        print("   device → broker → gateway verify/commit/enrich → broker → dispatch)")
        last = heaps[-1]
        print(f"firmware heap after acked alert: alloc {last['alloc']:,} B, free {last['free']:,} B, "
              f"peak {last['peak']:,} B, of which loaded code {last.get('code', 0):,} B; "
              f"runtime data {last['alloc'] - last.get('code', 0):,} B")
        print(f"baseline: bare interpreter + asyncio: alloc {bare_interpreter_heap():,} B")


if __name__ == "__main__":
    main()
