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
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp)) as stack:
        baseline = broker_baseline(stack, 50)
        issued = stack.register_button("pb-00000000be9c")
        flash = Path(tmp) / "flash"
        SimulatedButton.provision(flash, device_id="pb-00000000be9c", device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                                  broker_port=stack.broker_config.port, hold_ms=HOLD_MS)
        arrivals = Arrivals(stack, "panic/v1/dispatch/alerts")
        on_broker = Arrivals(stack, "panic/v1/dev/+/alert", user="gateway")  # a second reader, not the gateway
        latencies, device_part, gateway_part, heaps = [], [], [], []
        with SimulatedButton(flash) as button:
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
