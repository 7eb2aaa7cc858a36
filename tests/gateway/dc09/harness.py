"""A pysiaalarm receiver process the tests can start, kill (SIGKILL) and restart on its port."""

from __future__ import annotations

import json
import queue
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from broker.run import stop_process
from gateway.dc09 import ReceiverConfig
from gateway.dc09.frame import frame, split_frames
from gateway.dc09.message import Message, decode_message

ROOT = Path(__file__).resolve().parents[3]
PYSIA_KEY = "0123456789ABCDEF"  # pysiaalarm's form: the characters are the AES key bytes
KEY_HEX = PYSIA_KEY.encode("ascii").hex()  # the same key in ours (and the standard's): hex digits


class PysiaReceiver:
    def __init__(self, accounts: list[str], protocol: str = "tcp", key: str | None = None) -> None:
        self.accounts = accounts
        self.protocol = protocol
        self.key = key
        self.port = 0
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> PysiaReceiver:
        command = [sys.executable, "-m", "tests.gateway.dc09.pysia_receiver", "--port", str(self.port)]
        command += ["--protocol", self.protocol]
        for account in self.accounts:
            command += ["--account", f"{account}:{self.key}" if self.key else account]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[:1] == ["READY"], f"pysiaalarm receiver did not start: {ready}"
        self.port = int(ready[1])
        self._process = process
        threading.Thread(target=self._read, args=(process,), daemon=True).start()
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.events.put(json.loads(line))

    def kill(self) -> None:
        """Down hard, as a crash: SIGKILL, its sockets closed by the kernel."""
        if self._process is not None:
            stop_process(self._process, signal.SIGKILL)
            self._process = None

    def take(self, count: int, timeout_s: float = 20.0, kind: str = "ADM-CID") -> list[dict[str, Any]]:
        """The next `count` events of `kind` (other kinds, e.g. link tests, are skipped)."""
        deadline = time.monotonic() + timeout_s
        found: list[dict[str, Any]] = []
        while len(found) < count:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"receiver got {len(found)} of {count} {kind} events: {found}") from None
            if event["message_type"] == kind:
                found.append(event)
        return found

    def quiet(self, seconds: float, kind: str = "ADM-CID") -> list[dict[str, Any]]:
        """Events of `kind` that arrive within `seconds` (to check nothing more comes)."""
        time.sleep(seconds)
        extra = []
        while not self.events.empty():
            event = self.events.get()
            if event["message_type"] == kind:
                extra.append(event)
        return extra


def receiver_config(receiver: PysiaReceiver, **fields: Any) -> ReceiverConfig:
    settings: dict[str, Any] = {
        "name": "arc",
        "host": "127.0.0.1",
        "port": receiver.port,
        "transport": receiver.protocol,
        "ack_timeout_s": 2.0,
        "retry_initial_s": 0.1,
        "retry_max_s": 0.5,
        "link_test_s": 0,
        "send_location": False,  # pysiaalarm 3.2 takes one extended-data block in ADM-CID only
    }
    return ReceiverConfig.model_validate(settings | fields)


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class ScriptedReceiver:
    """A scripted TCP receiver built on our codec, for what pysiaalarm never does: answer DUH to ADM-CID
    (it maps unknown codes to 'YN' and ACKs), or hang up after every answer (as some receivers do)."""

    def __init__(self, kind_for: Callable[[Message], str], hang_up: bool = False) -> None:
        self.seen: list[Message] = []
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                buffer = b""
                while chunk := self.request.recv(4096):
                    frames, buffer = split_frames(buffer + chunk)
                    for text in frames:
                        message = decode_message(text, None).message
                        owner.seen.append(message)
                        answer = f'"{kind_for(message)}"{message.sequence:04d}R1L1#{message.account}[]'
                        self.request.sendall(frame(answer))
                        if hang_up:
                            return

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
