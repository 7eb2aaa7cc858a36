"""Virtual hardware for the simulator (runs under MicroPython).

Same interface as firmware/panic/hal.py's Hardware, so the firmware runs
unmodified; the host (simulator/button.py) drives and watches it over a
line-based TCP channel:

host -> device                        device -> host
``press <ms>``  hold, then release    ``hello``              channel is up
``pattern <ms>,<ms>,...``             ``pin 0|1``            virtual button level
   levels alternate, starting pressed ``done``               a press/pattern finished (and
   (read as played: any length)
``pattern+ <ms>,...``  a long pattern's
   earlier pieces (short lines: no
   big block on the device's heap)
                                                             its release lasted 100 ms)
``down`` / ``up``  raw level          ``led 0|1``, ``buzzer 0|1``
``stall <ms>``  block the event loop  ``reset <why>``        device resets (exit 75)
``gps <hex>``  bytes from the GPS     ``gps 0|1``            GPS receiver power
   receiver into its virtual UART
``tamper 0|1``  lid closed / open
``mains 0|1``   mains lost / present
``battery <pct>|none``  gauge reading

Wi-Fi is always up (the host's network) with a fixed rssi, the clock is the
host's (already synced); battery is unknown, power is mains and the lid
closed until the host says otherwise. The
watchdog is virtual: if it is not fed in time the process exits with
_RESET_EXIT (75), which the host treats as a reboot.
"""

import asyncio
import binascii
import sys
import time

from micropython import const

# Constants, and names starting with "_" for the numbers: none of them becomes an
# interned name (qstr). The firmware from source runs a few names short of the
# qstr pool that needs a 7.4 KB block at once (docs/firmware.md, "Heap and qstrs").
TYPE_CHECKING = const(False)
if TYPE_CHECKING:
    from typing import Iterator

from panic import log

_RESET_EXIT = const(75)
_WDT_CHECK_MS = const(100)
_SETTLE_MS = const(100)
_RSSI = const(-55)  # dBm, fixed


def send(channel: asyncio.StreamReader, line: str) -> None:
    """One line to the host on the control channel (a function, not a class: see VirtualHardware)."""
    # In MicroPython one Stream both reads and writes; the stubs split them.
    channel.write(line.encode() + b"\n")  # type: ignore[attr-defined]


def reset(channel: asyncio.StreamReader, why: str) -> None:
    log.error("sim", "reset why=%s" % why)
    send(channel, "reset " + why)
    sys.exit(_RESET_EXIT)


class VirtualUart:
    """The GPS receiver's UART: what the host writes waits to be read.

    Same interface as the ESP32's ``machine.UART`` opened with ``timeout=0``, as
    far as panic.gps uses it: ``readinto(buf)`` returns at once, with the number
    of bytes copied or None when nothing waits. (gps-replay's device side uses it too.)
    """

    def __init__(self) -> None:
        self._data = b""
        self._pos = 0

    def write(self, data: bytes) -> None:
        """Bytes from the device on the other end (a GPS receiver)."""
        self._data = self._data[self._pos:] + data
        self._pos = 0

    def readinto(self, buf: bytearray) -> int | None:
        n = min(len(buf), len(self._data) - self._pos)
        if n <= 0:
            return None
        buf[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n

    def waiting(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos


def durations(pieces: list | tuple) -> Iterator[int]:
    """The ms of a ``pattern``'s pieces (["15,10,15", "20"]), one at a time.

    A long pattern is never held as a list of numbers, nor as one string: on the
    running firmware's heap, the list of a few hundred durations (and the split
    strings before it), or a 1.6 KB line, did not fit. ValueError for anything
    but comma-separated integers.
    """
    for text in pieces:
        start = 0
        while start <= len(text):
            end = text.find(",", start)
            if end < 0:
                end = len(text)
            yield int(text[start:end])
            start = end + 1


class VirtualButton:
    """The SOS contact; its level follows schedules sent by the host."""

    def __init__(self, channel: asyncio.StreamReader) -> None:
        self.channel = channel
        self.level = False
        self.steps: list = []  # a pattern's pieces (see durations), [] when none is playing
        self.pending: list = []  # pieces sent ahead of a long pattern's last one (``pattern+``)
        self.generation = 0

    def pressed(self) -> bool:
        return self.level

    def _set(self, level: bool) -> None:
        if level != self.level:
            self.level = level
            send(self.channel, "pin 1" if level else "pin 0")

    async def run(self) -> None:
        while True:
            if not self.steps:
                await asyncio.sleep_ms(5)
                continue
            generation = self.generation
            pressed = True
            for ms in durations(self.steps):
                self._set(pressed)
                pressed = not pressed
                end = time.ticks_add(time.ticks_ms(), ms)
                while time.ticks_diff(end, time.ticks_ms()) > 0 and generation == self.generation:
                    await asyncio.sleep_ms(1)
                if generation != self.generation:
                    break
            if generation == self.generation:
                self._set(False)
                self.steps = []
                # Report "done" once the release has lasted long enough for the
                # firmware's debounce to see it, so back-to-back presses stay apart.
                await asyncio.sleep_ms(_SETTLE_MS)
                send(self.channel, "done")


class VirtualOutput:
    def __init__(self, channel: asyncio.StreamReader, name: str) -> None:
        self.channel = channel
        self.name = name

    def set(self, on: bool) -> None:
        send(self.channel, "%s %d" % (self.name, on))  # the host keeps the level


class VirtualHardware:
    """The board; also its Wi-Fi (always up: the host's network, a fixed rssi), its clock (the host's:
    the unix port's time.time() is already Unix seconds, synced) and its watchdog. One object rather
    than four classes: every class and name costs the simulated button's heap (docs/firmware.md)."""

    def __init__(self, channel: asyncio.StreamReader, name: str, uid: str, has_buzzer: bool) -> None:
        self.channel = channel
        self.name = name
        self.uid = uid
        self.button = VirtualButton(channel)
        self.led = VirtualOutput(channel, "led")
        self.buzzer = VirtualOutput(channel, "buzzer") if has_buzzer else None
        self.fault_led = None  # the host watches the indicator's log lines instead
        self.wifi = self
        self.clock = self
        self.gps_uart = VirtualUart()  # fed by the host (``gps <hex>``), read by panic.gps
        self.gps_power = VirtualOutput(channel, "gps")
        self.tamper = self  # the tamper switch's pressed() (lid open) is below: no class of its own
        # Set by the host's tamper / mains / battery commands (see command()).
        self._tamper: int | None = 0
        self._mains: int | None = 1
        self._battery: int | None = None

    def watchdog(self, timeout_ms: int) -> VirtualHardware:
        """The virtual watchdog (this object's feed): the process exits with _RESET_EXIT unless fed in time."""
        self.timeout_ms = timeout_ms
        self._fed = time.ticks_ms()
        asyncio.create_task(self._watch())
        return self

    def feed(self) -> None:
        self._fed = time.ticks_ms()

    async def _watch(self) -> None:
        # A blocked event loop also starves this check, but the overrun is
        # seen as soon as the loop runs again - close enough to a real WDT.
        while time.ticks_diff(time.ticks_ms(), self._fed) <= self.timeout_ms:
            await asyncio.sleep_ms(_WDT_CHECK_MS)
        reset(self.channel, "watchdog")

    def unique_id(self) -> str:
        return self.uid

    def connect(self, ssid: str | None, password: str | None) -> None:
        pass

    def isconnected(self) -> bool:
        return True

    def rssi(self) -> int | None:
        return _RSSI

    def utc(self) -> int | None:
        return int(time.time())

    async def sync(self, host: str | None) -> bool:
        return True

    def pressed(self) -> bool:
        """The tamper switch (``self.tamper``): lid open or wiring cut."""
        return self._tamper == 1

    def battery(self) -> int | None:
        return self._battery

    def power(self) -> str:
        return "mains" if self._mains else "battery"

    def reset(self) -> None:
        reset(self.channel, "requested")

    def command(self, line: str) -> None:
        """One line from the host."""
        # partition, not split: a pattern's argument is copied once, never cut into a list.
        cmd, _, arg = line.partition(" ")
        if not cmd:
            return
        if cmd == "press" or cmd == "pattern" or cmd == "pattern+":  # a press is a pattern of one
            try:
                for _ in durations((arg,)):  # the whole argument checked before a level changes
                    pass
                # Alternate pressed/released, starting pressed; ends released. The pieces `pattern+`
                # sent before (a long pattern's, in short lines) come first: one pattern, played whole.
                b = self.button
                b.pending.append(arg)
                if cmd != "pattern+":
                    b.steps, b.pending = b.pending, []
                    b.generation += 1
                return
            except ValueError:
                pass
        elif cmd == "down" or cmd == "up":  # a raw level: ends any pattern
            b = self.button
            b.steps = []
            b.generation += 1
            b._set(cmd == "down")
            return
        elif cmd == "gps":
            try:
                self.gps_uart.write(binascii.unhexlify(arg))  # any bytes: garbage and noise too
                return
            except ValueError:
                pass
        elif cmd in ("tamper", "mains", "battery") and (arg == "none" or arg.isdigit() and int(arg) <= 100):
            setattr(self, "_" + cmd, None if arg == "none" else int(arg))  # tamper, mains: 0 or 1
            return
        elif cmd == "stall" and arg.isdigit():
            # Block the whole event loop, as a blocking call on the device would (DNS, a slow
            # flash): the watchdog is not fed meanwhile.
            log.warn("sim", "stalling the event loop ms=%s" % arg)
            time.sleep_ms(int(arg))
            return
        log.warn("sim", "unknown command=%s" % log.q(line))
