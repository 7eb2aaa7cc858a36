"""The gateway's GSM modem over a serial port (pyserial): AT commands, unsolicited codes, SMS in PDU mode.

One reader thread reads the port line by line. While a command runs, its
response lines go to it; unsolicited result codes go to `events`:
`("sms", index)` for `+CMTI`, `("reset", line)` when the modem announces a
(re)boot (`RDY`, `*ATREADY`, `SMS Ready`, `SMS DONE`, `+CFUN: 1` alone). A
reset in the middle of a command fails that command with `ModemReset`: the
caller sets the modem up again (its settings are gone) and goes on.

`send_sms(number, text)` sends one GSM-7 SMS (the button protocol's acks,
which are never more); `send_text(number, text)` is what the notifier uses:
any alphabet, a concatenated SMS when one is not enough. Both are safe to
call from any thread (one command at a time).
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol

import serial

from gateway.logsafe import printable
from gateway.sms import pdu

log = logging.getLogger("gateway.sms.modem")

FINAL_OK = "OK"
FINAL_ERRORS = ("ERROR", "+CME ERROR:", "+CMS ERROR:", "NO CARRIER")
# What a modem prints when it has (re)booted: SIM800 "RDY", "+CFUN: 1", "Call Ready", "SMS Ready";
# A7670 "*ATREADY: 1", "SMS DONE", "PB DONE". Any of them means the settings made before are gone.
RESET_MARKERS = ("RDY", "*ATREADY: 1", "SMS Ready", "SMS DONE", "+CFUN: 1")
CTRL_Z = b"\x1a"
# Set-up after every (re)boot: no echo, numeric errors, PDU mode, SMS stored on the SIM and announced
# by +CMTI (mode 2, mt 1), SIM storage for reading, writing and receiving.
SETUP = ("ATE0", "AT+CMEE=1", "AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', "AT+CNMI=2,1,0,0,0")


class Port(Protocol):
    """What the driver needs of a serial port (serial.Serial has it)."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes, /) -> int | None: ...
    def close(self) -> None: ...


class ModemError(RuntimeError):
    """The modem answered ERROR (or +CMS/+CME ERROR), or did not answer in time."""


class ModemReset(ModemError):
    """The modem rebooted while a command was running."""


class SmsSender(Protocol):
    """One GSM-7 SMS, never more: what the button protocol's acks go out through (protocol/README.md, SMS)."""

    def send_sms(self, number: str, text: str) -> None: ...


class Modem:
    def __init__(self, port: Port, *, timeout_s: float = 5.0, send_timeout_s: float = 60.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self.send_timeout_s = send_timeout_s
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self._lines: queue.Queue[str] = queue.Queue()
        self._busy = threading.Lock()  # one command at a time
        self._in_command = threading.Event()
        self._prompt = threading.Event()
        self._closed = threading.Event()
        # Concatenated SMS references: one per message, so a phone never joins parts of two. The start is
        # random so that a restarted gateway does not repeat the references it has just used.
        self._references = itertools.count(random.randrange(256))
        self._reader = threading.Thread(target=self._read, name="sms-modem-reader", daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, port: str, baud: int, **kwargs: float) -> Modem:
        return cls(serial.Serial(port, baudrate=baud, timeout=0.1, exclusive=True), **kwargs)

    def close(self) -> None:
        self._closed.set()
        self._reader.join(timeout=2)
        self.port.close()

    # --- reading -----------------------------------------------------------------

    def _read(self) -> None:
        buffer = b""
        while not self._closed.is_set():
            try:
                chunk = self.port.read(256)
            except OSError as exc:  # the port went away (USB unplugged, pty closed)
                if not self._closed.is_set():
                    log.error("modem port failed: %s", exc)
                    self.events.put(("lost", str(exc)))
                return
            if not chunk:
                continue
            buffer += chunk
            while True:
                if buffer.lstrip(b"\r\n").startswith(b"> "):  # AT+CMGS prompt: no line end follows it
                    buffer = buffer.lstrip(b"\r\n")[2:]
                    self._prompt.set()
                    continue
                line, sep, rest = buffer.partition(b"\n")
                if not sep:
                    break
                buffer = rest
                self._line(line.strip(b"\r").decode("latin-1").strip())

    def _line(self, line: str) -> None:
        if not line:
            return
        if line.startswith("+CMTI:"):
            index = line.rsplit(",", 1)[-1].strip()
            if index.isdigit():
                self.events.put(("sms", index))
            return
        if line in RESET_MARKERS:
            log.warning("modem announced a reboot (%s)", line)
            self.events.put(("reset", line))
            if self._in_command.is_set():
                self._lines.put("\0reset")
            return
        if self._in_command.is_set():
            self._lines.put(line)
        else:
            log.debug("modem: %s", printable(line, 120))

    # --- commands ----------------------------------------------------------------

    def command(self, text: str, timeout_s: float | None = None, *, data: bytes | None = None) -> list[str]:
        """Run one AT command; its response lines without the final OK. `data` is written after the
        "> " prompt (AT+CMGS). Raises ModemError (ERROR, timeout) or ModemReset."""
        with self._busy:
            while not self._lines.empty():
                self._lines.get_nowait()
            self._prompt.clear()
            self._in_command.set()
            try:
                return self._run(text, timeout_s or self.timeout_s, data)
            finally:
                self._in_command.clear()

    def _run(self, text: str, timeout_s: float, data: bytes | None) -> list[str]:
        deadline = time.monotonic() + timeout_s
        self.port.write(text.encode("ascii") + b"\r")
        if data is not None:
            if not self._prompt.wait(timeout_s):
                self.port.write(b"\x1b")  # ESC: abandon the message
                raise ModemError(f"{text}: no prompt")
            self.port.write(data + CTRL_Z)
        lines: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ModemError(f"{text}: no answer in {timeout_s:g} s") from None
            if line == "\0reset":
                raise ModemReset(f"{text}: the modem rebooted")
            if line == text:  # the echo, before ATE0 took effect
                continue
            if line == FINAL_OK:
                return lines
            if line.startswith(FINAL_ERRORS):
                raise ModemError(f"{text}: {line}")
            lines.append(line)

    def setup(self) -> None:
        """Make the modem ready for SMS after power-on or a reboot: the SIM must be ready."""
        self.command("AT")
        sim = self.command("AT+CPIN?")
        if "+CPIN: READY" not in sim:
            raise ModemError(f"SIM not ready: {printable(' '.join(sim), 80)}")
        for text in SETUP:
            self.command(text)

    def read(self, index: str) -> str | None:
        """The PDU (hex) in SIM slot `index`, or None if the slot is empty."""
        lines = self.command(f"AT+CMGR={index}")
        # A URC that slipped in among the answer's lines (+CREG: …) is passed over.
        heads = [i for i, line in enumerate(lines[:-1]) if line.startswith("+CMGR:")]
        return lines[heads[0] + 1] if heads else None

    def list_all(self) -> list[tuple[str, str]]:
        """(slot, PDU) of every SMS on the SIM, read or not (AT+CMGL=4)."""
        lines = self.command("AT+CMGL=4", self.send_timeout_s)
        found = []
        for head, body in itertools.pairwise(lines):
            if head.startswith("+CMGL:"):
                found.append((head[6:].split(",")[0].strip(), body))
        return found

    def delete(self, index: str) -> None:
        self.command(f"AT+CMGD={index}")

    def send_sms(self, number: str, text: str) -> None:
        """Send one GSM-7 SMS (SmsSender). Raises ValueError for text that is not GSM-7 or too long."""
        hex_pdu, length = pdu.encode_submit(number, text)
        self.command(f"AT+CMGS={length}", self.send_timeout_s, data=hex_pdu.encode("ascii"))

    def send_text(self, number: str, text: str) -> None:
        """Send `text` for a person to read: GSM-7 or UCS-2, in up to pdu.MAX_PARTS concatenated parts, each
        its own AT+CMGS. ValueError if it cannot be encoded (too long, not a number), before anything is sent.
        A part that fails raises ModemError naming it; the parts before it are out already (the phone holds
        them, incomplete): the caller sends the whole text again, with a new reference."""
        parts = pdu.encode_submit_parts(number, text, next(self._references) % 256)
        for i, (hex_pdu, length) in enumerate(parts, 1):
            try:
                self.command(f"AT+CMGS={length}", self.send_timeout_s, data=hex_pdu.encode("ascii"))
            except ModemError as exc:
                if len(parts) == 1:
                    raise
                raise type(exc)(f"part {i} of {len(parts)}: {exc}") from exc


def wait_events(modem: Modem, timeout_s: float, handle: Callable[[str, str], None]) -> None:
    """Hand every event that arrives within `timeout_s` to `handle(kind, value)`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            kind, value = modem.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return
        handle(kind, value)
