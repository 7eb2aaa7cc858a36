"""The fleet's heartbeats, from a process of its own (it must not share the consumer's GIL or this one's).

`HeartbeatFleet` starts the process; each `phase(rate, seconds)` has every
device send its next signed heartbeat in turn, at `rate` per second in
total, each device on its own connection. Payloads are signed before the
clock starts, so during a phase the process only writes to sockets, as a
fleet costs the consumer's host only its messages' delivery.
"""

from __future__ import annotations

import multiprocessing
import socket
import time
from multiprocessing.connection import Connection

from bench.fleet_wire import connect, publish_packet
from bench.gateway_load import signed

Account = tuple[str, str, str]  # device id, broker password, device key (hex)


def heartbeat(device_id: str, key: bytes, seq: int) -> bytes:
    topic = f"panic/v1/dev/{device_id}/hb"
    body: dict[str, object] = {"v": 1, "dev": device_id, "seq": seq, "ts": None, "up": seq, "bat": 90,
                               "pwr": "mains", "net": "wifi", "rssi": -60}
    return publish_packet(topic, signed(key, topic, body))


def _run(host: str, port: int, accounts: list[Account], commands: Connection) -> None:
    sockets: list[tuple[socket.socket, str, bytes]] = []
    for device_id, password, key_hex in accounts:
        sockets.append((connect(host, port, device_id, device_id, password), device_id, bytes.fromhex(key_hex)))
    seq = 0
    commands.send("connected")
    while True:
        command = commands.recv()
        if command is None:
            break
        rate, seconds = command
        rounds = max(1, rate * seconds // len(sockets))
        packets = [(sock, heartbeat(device_id, key, seq + r + 1))
                   for r in range(rounds) for sock, device_id, key in sockets]
        seq += rounds
        commands.send("ready")
        start, sent = time.monotonic(), 0
        for sock, packet in packets:
            sock.sendall(packet)
            sent += 1
            if sent % 100 == 0:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        commands.send((sent, time.monotonic() - start))
    for sock, _, _ in sockets:
        sock.close()


class HeartbeatFleet:
    def __init__(self, host: str, port: int, accounts: list[Account]) -> None:
        self.accounts = accounts
        spawn = multiprocessing.get_context("spawn")
        self._commands, theirs = spawn.Pipe()
        self.process = spawn.Process(target=_run, args=(host, port, accounts, theirs), daemon=True)

    def __enter__(self) -> HeartbeatFleet:
        self.process.start()
        if self._commands.recv() != "connected":
            raise RuntimeError("the fleet did not connect")
        return self

    def __exit__(self, *exc: object) -> None:
        self._commands.send(None)
        self.process.join(timeout=30)

    def start_phase(self, rate: int, seconds: int) -> None:
        """Returns once the payloads are signed and the heartbeats start flowing."""
        self._commands.send((rate, seconds))
        if self._commands.recv() != "ready":
            raise RuntimeError("the fleet is not ready")

    def end_phase(self) -> tuple[int, float]:
        """Waits for the phase to end: heartbeats sent and the seconds it took."""
        sent, elapsed = self._commands.recv()
        return int(sent), float(elapsed)
