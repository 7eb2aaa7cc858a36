"""Supervisor: feeds the hardware watchdog only while every task makes progress.

Each long-running task registers with the longest silence it may keep
(``register(name, max_ms)``) and calls ``alive(slot)`` from its loop. Every
tick the supervisor checks all slots; if one is overdue the watchdog is not
fed, so a stuck or crashed task resets the device (after ``wdt_ms``) instead
of leaving a button that looks armed but is not. It also samples the heap.

``feed()`` is for code about to block the loop on flash (storing
an alert, removing an acked one): it feeds the watchdog now if every task is
on time, so the whole ``wdt_ms`` is available for the write rather than
whatever was left of the current tick (see "Flash, boot and the watchdog"
in docs/firmware.md for the numbers).
"""

import asyncio
import time

from micropython import const

from panic import log, mem

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.hal import Watchdog


class Supervisor:
    def __init__(self, wdt: Watchdog, tick_ms: int = 1000) -> None:
        self._wdt = wdt
        self.tick_ms = tick_ms
        self.names: list[str] = []
        self._limits: list[int] = []
        self._seen: list = []  # ticks_ms of each task's last progress
        self._stalled = -1  # slot whose stall was logged, -1 when all are well

    def register(self, name: str, max_ms: int) -> int:
        self.names.append(name)
        self._limits.append(max_ms)
        self._seen.append(time.ticks_ms())
        return len(self.names) - 1

    def alive(self, slot: int) -> None:
        self._seen[slot] = time.ticks_ms()

    def check(self) -> int:
        """Index of the first overdue task, or -1 when all are on time."""
        now = time.ticks_ms()
        for i in range(len(self._seen)):
            if time.ticks_diff(now, self._seen[i]) > self._limits[i]:
                return i
        return -1

    def feed(self) -> bool:
        """Feed the watchdog now unless a task is overdue; True if fed."""
        if self.check() >= 0:
            return False
        self._wdt.feed()
        return True

    async def run(self) -> None:
        log.info("supervisor", "started tick_ms=%d" % self.tick_ms)
        while True:
            log.uptime_ms()  # keeps the uptime accumulator ahead of ticks wrap-around
            stalled = self.check()
            if stalled < 0:
                self._wdt.feed()
                if self._stalled >= 0:
                    log.info("supervisor", "recovered task=%s" % self.names[self._stalled])
            elif stalled != self._stalled:
                log.error(
                    "supervisor",
                    "task stalled, watchdog not fed task=%s silent_ms=%d"
                    % (self.names[stalled], time.ticks_diff(time.ticks_ms(), self._seen[stalled])),
                )
            self._stalled = stalled
            mem.sample()
            await asyncio.sleep_ms(self.tick_ms)
