"""AT command engine for the board's cellular modem (SIMCom A7670E, SIM800L), over its UART.

Loaded only on a button whose board has a modem and whose configuration uses
it (panic.cellular, an SMS sender): a Wi-Fi button never imports it.

API (stable: panic.cellular and the SMS fallback use it)::

    m = Modem(uart, model)          # uart: machine.UART(..., timeout=0); model: board.json "modem.model"
    lines = await m.cmd(b"AT+CSQ", timeout_ms)  # info lines (str) before the final OK; line: str or
                                    # bytes (bytes: a short str literal would be an interned name)
    lines = await m.cmd('AT+CMGS=23', timeout_ms, data=b"0011...")  # waits for "> ",
                                    # writes data + Ctrl-Z, then the final result as above
    lines = await m.cmd("ATD*99#", timeout_ms)  # a CONNECT final: its line is the last one returned
    m.poll()                        # read what waits: URCs between commands (never blocks)
    await m.idle(ms)                # wait ms, polling (URCs are seen meanwhile)
    await m.sync(ms)                # "AT" until it answers OK (True) or ms pass (False)
    await m.power(pwrkey, reset)    # hardware power-on / reset pulses, timed by MODELS[model]
    await m.escape()                # data -> command mode: +++ inside the guard times, OK
    m.hold = True                   # PPP owns the UART: the engine does not read it

Errors: ``AtError`` (``args[0]`` the final line, ``code`` the +CME/+CMS number,
``ERROR_PLAIN`` for ERROR, ``NO_CARRIER`` for NO CARRIER/BUSY/NO ANSWER/NO
DIALTONE, ``REBOOTED`` when the modem rebooted under the command);
``OSError(ETIMEDOUT)`` when no final result came in time. A command that
failed leaves the engine ready for the next one.

State kept from unsolicited result codes, wherever they appear (between
commands, or in the middle of one: a URC line is never taken as a command's
answer unless it names the command being run, e.g. ``+CREG:`` for
``AT+CREG?``)::

    m.reboots   RDY / *ATREADY seen: the modem restarted (its settings are lost;
                the pending command fails with REBOOTED, the bearer re-initialises)
    m.sim       last +CPIN: state ("READY", "SIM PIN", "NOT INSERTED"), None unknown
    m.reg       last +CREG/+CGREG/+CEREG URC stat (1 home, 5 roaming, 3 denied, ...), -1 unknown
    m.sms       indices announced by +CMTI (oldest first, at most _SMS_MAX), for an SMS reader
    m.carrier   False once NO CARRIER arrived outside a command (data session lost)
    m.junk      lines dropped: undecodable, too long, or unexpected

Resilience: the UART is read in place into one buffer (no allocation per
poll; one str per complete line); a line longer than the buffer is dropped
whole (junk), so garbage can never grow the heap; bytes that are not text
are dropped (junk); a command waits for the previous one (one at a time);
every wait has a deadline. A modem that never answers costs ``timeout_ms``
per command and nothing else; the caller (panic.cellular) backs off and power
cycles it.

What differs between the models is data in ``MODELS``, not code:
(PWRKEY pulse ms, boot wait ms, RESET pulse ms, registration queries in order).
Figures from the vendors' hardware design manuals: A7670 Series Hardware
Design V1.0x (PWRKEY low >= 50 ms to power on, UART ready after ~10 s, RESET
low 2-2.5 s; LTE registration is +CEREG) and SIM800 Series Hardware Design
V1.0x (PWRKEY low >= 1 s, serial port ready after ~3 s, RESET low >= 105 ms;
2G: +CREG / +CGREG). Verified against the emulator only (hardware/README.md).
"""

import asyncio
import errno
import time

from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Protocol

    from panic.hal import Switch

    class ModemUart(Protocol):
        def readinto(self, __buf: bytearray) -> int | None: ...
        def write(self, __buf: bytes | str) -> int | None: ...

# model: (pwrkey_ms, boot_ms, reset_ms, registration queries: the packet-domain one for data first)
MODELS = {
    "A7670E": (100, 15000, 2500, (b"+CEREG", b"+CGREG")),
    "SIM800L": (1200, 5000, 200, (b"+CGREG", b"+CREG")),
}

ERROR_PLAIN = const(-1)
NO_CARRIER = const(-2)
REBOOTED = const(-3)

_POLL_MS = const(20)  # 115200 baud: ~230 bytes per poll at most; the UART's rx buffer holds 1 KB
_CHUNK = const(64)
_BIG = const(400)  # longest line kept: a +CMGR PDU of a full SMS is at most 2 x 176 hex digits
_KEEP = const(8)  # info lines kept per command, and +CMTI indices remembered
_GUARD_MS = const(1100)  # +++ escape guard time (S12 = 50, i.e. 1 s on both models) plus margin
_WAIT_MS = const(10)

# Protocol tokens are bytes: a str this short would be interned for good (docs/firmware.md, "Heap and qstrs").
_FAILS = (b"NO CARRIER", b"BUSY", b"NO ANSWER", b"NO DIALTONE")  # failing finals besides ERROR (V.25ter)


class AtError(Exception):
    """A command's failing final result: args[0] the line, code the +CME/+CMS number or a negative kind."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.code = code


class Modem:
    def __init__(self, uart: ModemUart, model: str) -> None:
        self.uart = uart
        self.model = model
        self.spec = MODELS[model]  # KeyError: a model this firmware does not know (boarddef checks it)
        self._buf = bytearray(_CHUNK)
        self._line = bytearray(_BIG)
        self._len = 0  # bytes in _line
        self._skip = False  # the line being read overflowed: dropped at its end
        self.hold = False
        self.reboots = 0
        self.sim: str | None = None
        self.reg = -1
        self.sms: list[int] = []
        self.carrier = True
        self.junk = 0
        # The command in progress (names already interned elsewhere: no new qstrs)
        self.locked = False
        self._text = b""  # b"+CSQ" for AT+CSQ: its info lines start with it
        self.lines: list[str] = []
        self._last: bytes | None = None  # its final result
        self.code = 0
        self._pend = False  # waiting for the "> " prompt
        self._data: bytes | None = None  # what to send at the prompt

    # --- reading -----------------------------------------------------------------------

    def poll(self) -> None:
        """Read everything the UART holds; handle each complete line. Never blocks."""
        if self.hold:
            return
        buf = self._buf
        line = self._line
        while True:
            n = self.uart.readinto(buf)
            if not n:
                return
            for i in range(n):
                b = buf[i]
                if b == 13 or b == 10:
                    if self._len:
                        if self._skip:
                            self.junk += 1
                        else:
                            self._take(bytes(line[:self._len]))
                        self._len = 0
                        self._skip = False
                elif self._len >= _BIG:
                    self._skip = True
                else:
                    line[self._len] = b
                    self._len += 1
                    if self._pend and self._len == 2 and line[0] == 62 and b == 32:  # "> ": the SMS prompt
                        self._len = 0
                        self._pend = False
            if n < _CHUNK:
                return

    def _take(self, line: bytes) -> None:
        # Unsolicited result codes first, wherever they come.
        if line == b"RDY" or line.startswith(b"*ATREADY"):
            self.reboots += 1
            self.sim = None
            self.reg = -1
            self.carrier = True
            self.hold = False
            self._end(line, REBOOTED)
            return
        busy = self.locked and self._last is None  # after its final result, lines are URCs again
        name = self._text if busy else b"-"
        if line.startswith(b"+CPIN:") and name != b"+CPIN":
            self.sim = line[6:].strip().decode()
            return
        if line.startswith(b"+CMTI:"):
            try:
                if len(self.sms) < _KEEP:
                    self.sms.append(int(line[line.rfind(b",") + 1:]))
            except ValueError:
                self.junk += 1
            return
        if line.startswith(b"+C") and line[2:5] in (b"REG", b"GRE", b"ERE") and not line.startswith(name + b":"):
            # +CREG: <stat>[,...] as a URC (a query's answer has <n>,<stat> and names the command)
            try:
                self.reg = int(line[line.find(b":") + 1:].split(b",")[0])
            except ValueError:
                self.junk += 1
            return
        if line in _FAILS:
            self.carrier = False  # a data session ended (or a dial failed)
            if busy:
                self._end(line, NO_CARRIER)
            return
        if not busy:
            if line != b"OK":
                self.junk += 1  # a stray line: nobody asked
            return
        # The command's answer
        if line == b"OK":
            self._end(line, 0)
        elif line.startswith(b"CONNECT"):
            self.lines.append(line.decode())
            self.carrier = True  # a data session: until NO CARRIER (which may follow at once)
            self._end(line, 0)
        elif line == b"ERROR":
            self._end(line, ERROR_PLAIN)
        elif line.startswith(b"+CME ERROR") or line.startswith(b"+CMS ERROR"):
            try:
                code = int(line[11:])
            except ValueError:
                code = ERROR_PLAIN  # verbose errors (AT+CMEE=2): the text is in args[0]
            self._end(line, code)
        elif line.startswith(b"AT"):
            pass  # our own echo (before ATE0 took effect)
        elif len(self.lines) < _KEEP:
            try:
                self.lines.append(line.decode())
            except UnicodeError:  # noise on the line
                self.junk += 1
        else:
            self.junk += 1

    def _end(self, line: bytes, code: int) -> None:
        if self.locked and self._last is None:
            self._last = line
            self.code = code
            self._pend = False

    # --- commands ----------------------------------------------------------------------

    async def _lock(self) -> None:
        while self.locked:  # one command at a time
            await asyncio.sleep_ms(_WAIT_MS)
        self.poll()  # URCs that arrived before this command are not its answer
        self.locked = True
        self.lines = []
        self._last = None

    async def _wait(self, ms: int) -> None:
        """Until the final result (AtError when it fails), or OSError(ETIMEDOUT) after `ms`."""
        end = time.ticks_add(time.ticks_ms(), ms)
        while self._last is None:
            if time.ticks_diff(end, time.ticks_ms()) <= 0:
                raise OSError(errno.ETIMEDOUT)
            await asyncio.sleep_ms(_POLL_MS)
            self.poll()
            data = self._data
            if data is not None and not self._pend and self._last is None:
                self._data = None
                self.uart.write(data)
                self.uart.write(b"\x1a")  # Ctrl-Z: send
        if self.code:
            raise AtError(self._last.decode(), self.code)

    async def cmd(self, line: str | bytes, timeout_ms: int = 1000, data: bytes | None = None) -> list[str]:
        """Send one command; its info lines, or AtError / OSError(ETIMEDOUT) (see the module docstring)."""
        await self._lock()
        try:
            raw = line.encode() if isinstance(line, str) else line
            at = raw.find(b"=")
            head = raw[2:at] if at > 0 else raw[2:]
            self._text = head[:-1] if head.endswith(b"?") else head
            self._pend = data is not None
            self._data = data
            self.uart.write(raw)
            self.uart.write(b"\r")
            await self._wait(timeout_ms)
            return self.lines
        finally:
            self.locked = False
            self._text = b""
            self._pend = False
            self._data = None

    async def idle(self, ms: int) -> None:
        """Wait ``ms``, reading URCs meanwhile."""
        end = time.ticks_add(time.ticks_ms(), ms)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            self.poll()
            await asyncio.sleep_ms(_POLL_MS * 5)

    async def sync(self, ms: int) -> bool:
        """Send AT until the modem answers OK, for at most ``ms``; then echo off and numeric errors on."""
        end = time.ticks_add(time.ticks_ms(), ms)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            try:
                await self.cmd(b"AT", 500)
                await self.cmd(b"ATE0", 500)
                await self.cmd(b"AT+CMEE=1", 500)
                return True
            except (OSError, AtError):  # booting, garbage, or a reboot under us: again
                await self.idle(200)
        return False

    async def power(self, pwrkey: Switch | None, reset: Switch | None) -> None:
        """Reset the modem if the board can (RESET pulse), else pulse PWRKEY; then wait for its boot.

        The switches drive transistors that pull the modem's pins low while on (board.json).
        """
        spec = self.spec
        pin, ms = (reset, spec[2]) if reset is not None else (pwrkey, spec[0])
        if pin is not None:
            pin.set(True)
            await asyncio.sleep_ms(ms)
            pin.set(False)
        self.hold = False
        seen = self.reboots
        end = time.ticks_add(time.ticks_ms(), spec[1])
        while self.reboots == seen and time.ticks_diff(end, time.ticks_ms()) > 0:
            await self.idle(100)

    async def escape(self) -> None:
        """Data -> command mode (+++ between two guard times of silence); the session stays up for ATO."""
        await self._lock()
        self._text = b""
        self._data = None
        self.hold = False
        try:
            await asyncio.sleep_ms(_GUARD_MS)
            self.uart.write(b"+++")
            await self._wait(2 * _GUARD_MS)
        finally:
            self.locked = False
