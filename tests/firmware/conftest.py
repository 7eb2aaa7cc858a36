"""Helpers for firmware tests: devices on the broker, a paho peer, MicroPython processes.

The root conftest's `broker` and `run_micropython` fixtures do the heavy
lifting; here are the pieces for tests that need the MicroPython program
running *while* the test acts (stopping the broker, publishing to the device):

* `device`        a fresh device account (id ^pb-[0-9a-f]{12}$) the broker accepts;
* `mqtt_peer`     factory of paho-mqtt 2.x clients; `gateway` is one logged in as `gateway`;
* `micropython`   factory of MicroPython processes under the ESP32-sized heap,
                  with `expect(prefix)` on their output lines.
"""

from __future__ import annotations

import os
import queue
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from tests.conftest import FIRMWARE, HEAPSIZE, BrokerUnderTest, micropython_binary


@dataclass(frozen=True)
class Device:
    id: str
    password: str


class Peer:
    """A paho-mqtt client on the CPython side; received messages queue up in `messages`."""

    def __init__(
        self, host: str, port: int, user: str, password: str, *,
        client_id: str | None = None, clean_session: bool = True, timeout: float = 10,
    ) -> None:
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self._connected: queue.Queue[Any] = queue.Queue()
        self._subacks: dict[int, queue.Queue[list[Any]]] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id or f"peer-{secrets.token_hex(4)}",
            clean_session=clean_session, protocol=paho.MQTTv311,
        )
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, u, flags, rc, props: self._connected.put(rc)
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        try:
            rc = self._connected.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise AssertionError(f"paho client {user} got no CONNACK") from None
        if rc.is_failure:
            self.close()
            raise ConnectionRefusedError(f"broker refused {user}: {rc}")

    def _suback_queue(self, mid: int) -> queue.Queue[list[Any]]:
        with self._lock:
            return self._subacks.setdefault(mid, queue.Queue())

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: list[Any], props: Any) -> None:
        self._suback_queue(mid).put(codes)

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10) -> int:
        """Subscribe and wait for the SUBACK; returns the granted QoS (or the failure code)."""
        rc, mid = self.client.subscribe(topic, qos)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        codes = self._suback_queue(mid).get(timeout=timeout)
        return int(codes[0].value)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                timeout: float = 10) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"paho publish to {topic} not acknowledged"

    def get(self, timeout: float = 10) -> paho.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


PeerFactory = Callable[..., Peer]


@pytest.fixture
def mqtt_peer(broker: BrokerUnderTest) -> Iterator[PeerFactory]:
    """`mqtt_peer(user, password, **kw)`: a connected paho client, closed after the test."""
    peers: list[Peer] = []

    def make(user: str, password: str, **kw: Any) -> Peer:
        peer = Peer(broker.host, broker.port, user, password, **kw)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def gateway(mqtt_peer: PeerFactory, broker: BrokerUnderTest) -> Peer:
    """A paho client logged in as the `gateway` account."""
    return mqtt_peer("gateway", broker.config.gateway_password)


@pytest.fixture
def device(broker: BrokerUnderTest) -> Device:
    """A new device account, usable once the broker has re-read its password file."""
    dev = Device("pb-" + secrets.token_hex(6), secrets.token_urlsafe(16))
    broker.add_device(dev.id, dev.password)
    deadline = time.monotonic() + 10
    while True:  # the broker reloads on SIGHUP, asynchronously
        try:
            Peer(broker.host, broker.port, dev.id, dev.password, client_id=f"probe-{dev.id}").close()
            return dev
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class MicroPythonProcess:
    """A MicroPython program running beside the test; stdout and stderr read line by line."""

    def __init__(self, code: str, path: list[Path]) -> None:
        search = [str(p) for p in path]
        prologue = "import sys\n" + "".join(f"sys.path.insert({i}, {p!r})\n" for i, p in enumerate(search))
        env = dict(os.environ, MICROPYPATH=":".join([*search, ".frozen"]))
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={HEAPSIZE}", "-c", prologue + code],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, prefix: str, timeout: float = 15) -> str:
        """Wait for an output line starting with `prefix`; return the rest of it, stripped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} within {timeout} s; output:\n" + self.text()) from None
            if line is None:
                self.proc.wait()
                raise AssertionError(
                    f"micropython exited {self.proc.returncode} before {prefix!r}; output:\n" + self.text()
                )
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 30) -> str:
        """Wait for a clean exit; return the whole output."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("micropython did not exit; output:\n" + self.text()) from None
        time.sleep(0.05)  # let the pump thread take the last lines
        assert self.proc.returncode == 0, f"micropython exited {self.proc.returncode}:\n" + self.text()
        return self.text()

    def text(self) -> str:
        return "\n".join(self.output)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def micropython() -> Iterator[Callable[..., MicroPythonProcess]]:
    """`micropython(code, path=[FIRMWARE])`: start a MicroPython process; killed after the test."""
    procs: list[MicroPythonProcess] = []

    def start(code: str, path: list[Path] | None = None) -> MicroPythonProcess:
        proc = MicroPythonProcess(code, path if path is not None else [FIRMWARE])
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
