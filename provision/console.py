"""The host side of the firmware's serial console (protocol/console.md), over pyserial.

`Console(port)` opens the port exclusively (a second tool on the same port
gets ``port_busy``), skips log lines (they never start with ``{``) and
answers from earlier sessions (their ``id`` differs), and returns each
answer as a dict; a refusal raises `DeviceError` with the unit's error code.
"""

from __future__ import annotations

import errno
import itertools
import json
import time
from types import TracebackType
from typing import Any

import serial

BAUD = 115200
READ_ONLY = frozenset(("hello", "info", "selftest", "challenge"))  # asked again after an `internal` answer


class PortError(RuntimeError):
    """args: (text key in provision.texts, port)."""


class DeviceError(RuntimeError):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


class Console:
    def __init__(self, port: str, timeout: float = 5.0) -> None:
        self.port = port
        self.timeout = timeout
        self._ids = itertools.count(int(time.time() * 1000) % 1_000_000)
        try:
            self._serial = serial.Serial(port, BAUD, timeout=0.2, exclusive=True)
        except serial.SerialException as e:
            raise PortError(port_problem(e), port) from None
        self._serial.reset_input_buffer()

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def request(self, op: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send one request, return its answer (ok); DeviceError when refused, PortError when silent.
        A read-only op the unit could not answer for lack of heap (`internal`) is asked once more."""
        try:
            return self._request(op, timeout, **fields)
        except DeviceError as e:
            if e.code != "internal" or op not in READ_ONLY:
                raise
        return self._request(op, timeout, **fields)

    def _request(self, op: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        rid = next(self._ids)
        line = json.dumps({"v": 1, "op": op, "id": rid, **fields}, separators=(",", ":")).encode() + b"\n"
        try:
            self._serial.write(line)
            self._serial.flush()
        except serial.SerialException:
            raise PortError("port_missing", self.port) from None
        finally:
            del line  # may hold secrets: gone as soon as it is written
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            try:
                raw = self._serial.readline()
            except serial.SerialException:
                raise PortError("port_missing", self.port) from None
            if not raw.startswith(b"{"):
                continue  # a log line (or nothing yet)
            try:
                answer = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(answer, dict):
                continue
            # An answer without id is the unit's for a line it could not read, or for one it could not
            # answer (`internal`: out of heap); one request is in flight at a time, so it is this one's.
            if answer.get("id") != rid and not (answer.get("id") is None and answer.get("ok") is False):
                continue  # an answer to an earlier session's request
            if not answer.get("ok"):
                raise DeviceError(str(answer.get("error")), str(answer.get("msg", "")))
            return answer
        raise PortError("wrong_device", self.port)

    def wait_up(self, timeout: float = 20.0) -> dict[str, Any]:
        """After a reboot: the first `hello` the unit answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request("hello", timeout=1.0)
            except PortError:
                if time.monotonic() > deadline:
                    raise


def port_problem(e: serial.SerialException) -> str:
    code = e.errno if isinstance(e.errno, int) else None
    text = str(e).lower()
    if code in (errno.EACCES, errno.EPERM) or "permission denied" in text:
        return "port_denied"
    if code == errno.EBUSY or "exclusively lock" in text or "busy" in text:
        return "port_busy"
    return "port_missing"
