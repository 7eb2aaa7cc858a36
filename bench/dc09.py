"""DC-09 forwarding against a pysiaalarm receiver on loopback, beside a TCP echo baseline.

    .venv/bin/python bench/dc09.py [--count N]

All in the same run, each server in a process of its own:
- baseline: round trips of a message of the same size to a plain TCP echo
  server (the floor for any request/answer over loopback);
- latency added by DC-09: one message out, its ACK back (our encoding, AES for
  the encrypted line, pysiaalarm's parsing and answer, our answer check),
  one at a time over one connection;
- forwarded messages per second: N events submitted to the forwarder, until
  the last is ACKed (persistent queue, sequence numbers, one message in
  flight at a time as DC-09 requires);
- through the gateway (Mosquitto, `panic-gateway` on SQLite, a button
  publishing signed alerts): per alert, when pysiaalarm reports it against
  when the dispatch consumer gets it on MQTT (the latency DC-09 adds beside
  the dispatch publish), pressed one at a time; then a burst of N alerts:
  forwarded per second to the receiver against dispatched per second.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gateway.dc09 import Dc09Event, Dc09Forwarder, contact_id_for, load_receivers
from gateway.dc09.account import AccountScheme
from gateway.dc09.answer import parse_answer
from gateway.dc09.crypto import Dc09Key
from gateway.dc09.message import Message, Route
from gateway.dc09.queue import Dc09Queue
from gateway.dc09.transport import TcpLink
from gateway.storage.db import make_engine, migrate, session_factory
from simulator.stack import MqttListener, Stack
from tests.gateway.scripted import sign

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "pb-3c71bf4a9e10"
ACCOUNT = AccountScheme().account_for(DEVICE)
PYSIA_KEY = "0123456789ABCDEF"  # pysiaalarm takes these characters as the key bytes
KEY_HEX = PYSIA_KEY.encode().hex()


def echo_server(
    ready: multiprocessing.synchronize.Event, port_box: multiprocessing.sharedctypes.Synchronized[int]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port_box.value = server.getsockname()[1]
        ready.set()
        connection, _ = server.accept()
        with connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := connection.recv(4096):
                connection.sendall(data)


def start_pysiaalarm(key: str | None) -> tuple[subprocess.Popen[str], int]:
    account = f"{ACCOUNT}:{key}" if key else ACCOUNT
    command = [sys.executable, "-m", "tests.gateway.dc09.pysia_receiver", "--account", account, "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline().split()[1])


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    rate = len(latencies) / sum(latencies)
    return f"median {statistics.median(latencies) * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms   {rate:7.0f} /s"


async def echo_round_trips(port: int, size: int, count: int) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload, latencies = b"x" * size, []
    for _ in range(count):
        start = time.perf_counter()
        writer.write(payload)
        await writer.drain()
        received = 0
        while received < size:
            received += len(await reader.read(4096))
        latencies.append(time.perf_counter() - start)
    writer.close()
    return latencies


async def dc09_round_trips(port: int, key: Dc09Key | None, count: int) -> list[float]:
    link, rng, latencies = TcpLink("127.0.0.1", port, connect_timeout_s=5), random.Random(1), []
    data = f"#{ACCOUNT}|{contact_id_for('sos').text()}"
    loop = asyncio.get_running_loop()
    for n in range(count):
        start = time.perf_counter()
        message = Message("ADM-CID", n % 9999 + 1, Route("1", "1"), ACCOUNT, time.time(), data)
        await link.send(message.encode(key, rng))
        (answer,) = [parse_answer(text, key) for text in await link.receive(loop.time() + 5)]
        assert answer.kind == "ACK" and answer.sequence == message.sequence
        latencies.append(time.perf_counter() - start)
    await link.close()
    return latencies


def forwarded_per_second(port: int, key_hex: str | None, count: int, folder: Path) -> float:
    receiver = {"name": "bench", "host": "127.0.0.1", "port": port, "link_test_s": 0, "key": key_hex}
    url = f"sqlite:///{folder / f'{key_hex}.db'}"
    migrate(url)
    queue = Dc09Queue(session_factory(make_engine(url)), "bench", lease_s=30.0)
    forwarder = Dc09Forwarder(load_receivers(json.dumps([receiver])), queue)
    forwarder.start()
    start = time.perf_counter()
    for n in range(count):
        forwarder.submit(Dc09Event(f"bench:{n}", DEVICE, contact_id_for("sos")))
    while forwarder.metrics.get("dc09_delivered_total", receiver="bench") < count:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    forwarder.stop()
    return count / elapsed


class Arrivals:
    """When each alert seq showed up: at pysiaalarm (its DC-09 sequence) and at the dispatch consumer."""

    def __init__(self) -> None:
        self.dc09: dict[int, float] = {}
        self.dispatch: dict[int, float] = {}

    def read_receiver(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            if event["message_type"] == "ADM-CID":
                self.dc09[int(event["sequence"])] = time.perf_counter()

    def read_dispatch(self, listener: MqttListener) -> None:
        while True:
            try:
                _topic, payload = listener.next(60.0, "/dispatch/alerts")
            except Exception:  # the listener closed, or nothing more comes
                return
            self.dispatch.setdefault(int(json.loads(payload)["alert_id"].split(":")[1]), time.perf_counter())

    def wait(self, seq: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while seq not in self.dc09 or seq not in self.dispatch:
            if time.monotonic() > deadline:
                raise TimeoutError(f"alert {seq} did not arrive at both ends")
            time.sleep(0.0005)


def through_the_gateway(count: int, pysia_key: str | None, key_hex: str | None, folder: Path) -> None:
    account = f"{ACCOUNT}:{pysia_key}" if pysia_key else ACCOUNT
    receiver = subprocess.Popen(
        [sys.executable, "-m", "tests.gateway.dc09.pysia_receiver", "--account", account],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline().split()[1])
    arrivals = Arrivals()
    threading.Thread(target=arrivals.read_receiver, args=(receiver,), daemon=True).start()
    setting = [{"name": "bench", "host": "127.0.0.1", "port": port, "key": key_hex, "link_test_s": 0,
                "send_location": False}]
    stack = Stack(folder / f"stack-{key_hex}", gateway_env={"PANIC_DC09_RECEIVERS": json.dumps(setting)})
    stack.start()
    try:
        issued = stack.register_button(DEVICE)
        key = bytes.fromhex(issued["device_key"])
        button = MqttListener(stack.broker_config, issued["mqtt_username"], issued["mqtt_password"], [])
        dispatch = stack.dispatch()
        threading.Thread(target=arrivals.read_dispatch, args=(dispatch,), daemon=True).start()
        topic = f"panic/v1/dev/{DEVICE}/alert"

        def press(seq: int) -> None:
            body = {"v": 1, "dev": DEVICE, "seq": seq, "type": "sos", "ts": 1795800000, "up": seq, "loc": None,
                    "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}
            button.publish(topic, sign(key, topic, body))

        added = []
        for seq in range(1, count + 1):  # one at a time: latency
            press(seq)
            arrivals.wait(seq)
            added.append(arrivals.dc09[seq] - arrivals.dispatch[seq])
        label = "AES-128" if key_hex else "plain"
        ordered = sorted(added)
        print(f"gateway   DC-09 report after the dispatch alert, {label:7}  median "
              f"{statistics.median(added) * 1e3:6.1f} ms   p99 {ordered[int(len(ordered) * 0.99) - 1] * 1e3:6.1f} ms")
        start = time.perf_counter()
        for seq in range(count + 1, 2 * count + 1):  # a burst: throughput
            press(seq)
        arrivals.wait(2 * count, timeout_s=120)
        last_dispatch = max(arrivals.dispatch[s] for s in range(count + 1, 2 * count + 1))
        print(f"gateway   burst of {count}, {label:7}: dispatched {count / (last_dispatch - start):6.0f} /s, "
              f"forwarded to the receiver {count / (arrivals.dc09[2 * count] - start):6.0f} /s")
        button.close()
        dispatch.close()
    finally:
        stack.stop()
        receiver.kill()
        receiver.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--gateway-count", type=int, default=100, help="alerts through the gateway, twice")
    arguments = parser.parse_args()
    count = arguments.count
    ready, port_box = multiprocessing.Event(), multiprocessing.Value("i", 0)
    echo = multiprocessing.Process(target=echo_server, args=(ready, port_box), daemon=True)
    echo.start()
    ready.wait()
    sample = Message("ADM-CID", 1, Route("1", "1"), ACCOUNT, time.time(), f"#{ACCOUNT}|1120 01 001")
    size = len(sample.encode(None, random.Random(1)))
    print(f"messages: {count}   ADM-CID frame: {size} bytes plain")
    echo_trips = asyncio.run(echo_round_trips(port_box.value, size, count))
    print(f"baseline  TCP echo round trip ({size} B)      {summary(echo_trips)}")
    echo.terminate()
    with tempfile.TemporaryDirectory() as folder:
        for label, pysia_key, key_hex in (("plain", None, None), ("AES-128", PYSIA_KEY, KEY_HEX)):
            receiver, port = start_pysiaalarm(pysia_key)
            try:
                key = Dc09Key.from_hex(key_hex) if key_hex else None
                trips = asyncio.run(dc09_round_trips(port, key, count))
                print(f"dc09      send -> ACK, {label:7}              {summary(trips)}")
                rate = forwarded_per_second(port, key_hex, count, Path(folder))
                print(f"forwarder submit -> all ACKed, {label:7}      {rate:7.0f} messages/s")
            finally:
                receiver.kill()
                receiver.wait()
        for pysia_key, key_hex in ((None, None), (PYSIA_KEY, KEY_HEX)):
            through_the_gateway(arguments.gateway_count, pysia_key, key_hex, Path(folder))


if __name__ == "__main__":
    main()
