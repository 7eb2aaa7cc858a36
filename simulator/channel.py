"""Host end of the simulator's control channel (TCP on 127.0.0.1).

The virtual hardware (simulator/device/vhal.py) connects here at start-up
and again after every simulated reboot. Lines from the host are commands
(``press <ms>``, ``pattern <ms>,...``, ``down``, ``up``); lines from the
device are events (``hello``, ``pin 0|1``, ``done``, ``led 0|1``,
``buzzer 0|1``, ``reset <why>``), handed to `on_event` on a reader thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class ControlServer:
    def __init__(self, on_event: Callable[[str], None], host: str = "127.0.0.1") -> None:
        self._on_event = on_event
        self._server = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept_loop, name="sim-accept", daemon=True)
        self._acceptor.start()

    def send(self, line: str) -> None:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise ConnectionError("the simulated device is not connected")
            conn.sendall(line.encode() + b"\n")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _addr = self._server.accept()
            except OSError:
                return  # server closed
            with self._lock:
                old, self._conn = self._conn, conn
            if old is not None:
                old.close()
            threading.Thread(target=self._read_loop, args=(conn,), name="sim-events", daemon=True).start()

    def _read_loop(self, conn: socket.socket) -> None:
        try:
            with conn.makefile("rb") as stream:
                for raw in stream:
                    self._on_event(raw.decode(errors="replace").strip())
        except (OSError, ValueError):
            pass  # connection closed under us: the device process ended
        with self._lock:
            if self._conn is conn:
                self._conn = None
