"""Virtual hardware for the simulator (runs under MicroPython).

Same interface as firmware/panic/hal.py's Hardware, so the firmware runs
unmodified; the host (simulator/button.py) drives and watches it over a
line-based TCP channel:

host -> device                        device -> host
``press <ms>``  hold, then release    ``hello``              channel is up
``pattern <ms>,<ms>,...``             ``pin 0|1``            virtual button level
   levels alternate, starting pressed ``done``               a press/pattern finished (and
                                                             its release lasted 100 ms)
``down`` / ``up``  raw level          ``led 0|1``, ``buzzer 0|1``
``stall <ms>``  block the event loop  ``reset <why>``        device resets (exit 75)

Wi-Fi is always up (the host's network) with a fixed rssi, the clock is the
host's (already synced), battery is unknown and power is mains. The
watchdog is virtual: if it is not fed in time the process exits with
RESET_EXIT, which the host treats as a reboot.
"""

import asyncio
import sys
import time

from panic import log

RESET_EXIT = 75
_WDT_CHECK_MS = 100
_SETTLE_MS = 100


class Channel:
    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream

    def send(self, line: str) -> None:
        # In MicroPython one Stream both reads and writes; the stubs split them.
        self._stream.write(line.encode() + b"\n")  # type: ignore[attr-defined]


def reset(channel: Channel, why: str) -> None:
    log.error("sim", "reset why=%s" % why)
    channel.send("reset " + why)
    sys.exit(RESET_EXIT)


class VirtualButton:
    """The SOS contact; its level follows schedules sent by the host."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self.level = False
        self._steps: list = []
        self._generation = 0

    def pressed(self) -> bool:
        return self.level

    def _set(self, level: bool) -> None:
        if level != self.level:
            self.level = level
            self._channel.send("pin 1" if level else "pin 0")

    def play(self, durations: list) -> None:
        """Alternate pressed/released for the given ms, starting pressed; ends released."""
        self._steps = durations
        self._generation += 1

    def hold(self, level: bool) -> None:
        self._steps = []
        self._generation += 1
        self._set(level)

    async def run(self) -> None:
        while True:
            if not self._steps:
                await asyncio.sleep_ms(5)
                continue
            generation = self._generation
            steps = self._steps
            for i in range(len(steps)):
                self._set(i % 2 == 0)
                end = time.ticks_add(time.ticks_ms(), steps[i])
                while time.ticks_diff(end, time.ticks_ms()) > 0 and generation == self._generation:
                    await asyncio.sleep_ms(1)
                if generation != self._generation:
                    break
            if generation == self._generation:
                self._set(False)
                self._steps = []
                # Report "done" once the release has lasted long enough for the
                # firmware's debounce to see it, so back-to-back presses stay apart.
                await asyncio.sleep_ms(_SETTLE_MS)
                self._channel.send("done")


class VirtualOutput:
    def __init__(self, channel: Channel, name: str) -> None:
        self._channel = channel
        self._name = name
        self.on = False

    def set(self, on: bool) -> None:
        self.on = bool(on)
        self._channel.send("%s %d" % (self._name, self.on))


class VirtualWatchdog:
    def __init__(self, channel: Channel, timeout_ms: int) -> None:
        self._channel = channel
        self._timeout_ms = timeout_ms
        self._fed = time.ticks_ms()
        asyncio.create_task(self._run())

    def feed(self) -> None:
        self._fed = time.ticks_ms()

    async def _run(self) -> None:
        # A blocked event loop also starves this check, but the overrun is
        # seen as soon as the loop runs again - close enough to a real WDT.
        while time.ticks_diff(time.ticks_ms(), self._fed) <= self._timeout_ms:
            await asyncio.sleep_ms(_WDT_CHECK_MS)
        reset(self._channel, "watchdog")


class VirtualWifi:
    def __init__(self, rssi: int) -> None:
        self._rssi = rssi

    def connect(self, ssid: str | None, password: str | None) -> None:
        pass

    def isconnected(self) -> bool:
        return True

    def rssi(self) -> int | None:
        return self._rssi


class HostClock:
    """The host's clock: the unix port's time.time() is already Unix seconds."""

    def utc(self) -> int | None:
        return int(time.time())

    async def sync(self, host: str | None) -> bool:
        return True


class VirtualHardware:
    def __init__(self, channel: Channel, name: str, uid: str, has_buzzer: bool, rssi: int = -55) -> None:
        self._channel = channel
        self.name = name
        self._uid = uid
        self.button = VirtualButton(channel)
        self.led = VirtualOutput(channel, "led")
        self.buzzer = VirtualOutput(channel, "buzzer") if has_buzzer else None
        self.fault_led = None  # the host watches the indicator's log lines instead
        self.wifi = VirtualWifi(rssi)
        self.clock = HostClock()

    def watchdog(self, timeout_ms: int) -> VirtualWatchdog:
        return VirtualWatchdog(self._channel, timeout_ms)

    def unique_id(self) -> str:
        return self._uid

    def battery(self) -> int | None:
        return None

    def power(self) -> str:
        return "mains"

    def reset(self) -> None:
        reset(self._channel, "requested")

    def command(self, line: str) -> None:
        """One line from the host."""
        parts = line.split()
        if not parts:
            return
        cmd = parts[0]
        if cmd == "press" and len(parts) == 2:
            self.button.play([int(parts[1])])
        elif cmd == "pattern" and len(parts) == 2:
            self.button.play([int(x) for x in parts[1].split(",")])
        elif cmd == "down":
            self.button.hold(True)
        elif cmd == "up":
            self.button.hold(False)
        elif cmd == "stall" and len(parts) == 2:
            # Block the whole event loop, as a blocking call on the device would (DNS, a slow
            # flash): the watchdog is not fed meanwhile.
            log.warn("sim", "stalling the event loop ms=%s" % parts[1])
            time.sleep_ms(int(parts[1]))
        else:
            log.warn("sim", "unknown command=%s" % log.q(line))
