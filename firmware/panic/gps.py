"""GPS task: reads the receiver's UART, keeps the last good fix and its age, switches its power.

Rules for what counts as a fix, and exact coordinates, are in panic/nmea.py;
when the receiver is powered, in panic/gpspower.py. This module adds time:

- the UART is polled every ``_POLL_MS``; bytes go to the parser as they come
  (a sentence may be split over reads);
- a receiver sends each epoch as one burst; ``QUIET_MS`` without a byte ends
  the burst's cycle, so its fix is committed without waiting for the next
  epoch (and a receiver that went silent cannot leave a fix half-read);
- a fix's age counts from the moment it was committed (firmware uptime,
  which does not wrap). A fix younger than ``_CURRENT_MS`` is ``gps``; older
  (the receiver went silent, lost the sky, or is switched off) it is
  ``last_gps``, with its growing age. Before the first fix there is none.
- accuracy in metres is HDOP x ``_M_PER_HDOP`` (19 m, the factor gpsd uses
  for its 95 % horizontal error without DGPS), rounded up; with HDOP
  unknown, ``_NO_HDOP_M`` (100 m) rather than a claim of precision.

The alert task calls ``loc(now)`` and passes the tuple to panic.fix.location
(None: ``loc`` null), and ``alert(now)`` to power the receiver at once.

Nothing here allocates per poll: the UART is read into one buffer and the
parser works in place (tests/firmware/test_gps.py checks it with the GC off).
"""

import asyncio

from micropython import const

from panic import log
from panic.gpspower import GpsPower
from panic.nmea import Nmea

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Protocol

    from panic.hal import Switch
    from panic.supervisor import Supervisor

    class Uart(Protocol):
        """machine.UART opened with timeout=0: readinto returns at once, None when nothing waits."""

        # Positional-only (the "__" name: MicroPython has no "/" syntax), as machine.UART's stub has it.
        def readinto(self, __buf: bytearray) -> int | None: ...

# const: compiled in; "_" names are not even interned (docs/firmware.md, "Heap and qstrs").
_POLL_MS = const(100)  # at 9600 baud ~96 bytes per poll: the UART's rx buffer (>= 256) never overflows
QUIET_MS = const(300)  # a burst's sentences follow each other without a gap; epochs are >= 1 s apart
_CURRENT_MS = const(3000)  # a receiver reports every second: a fix older than 3 s is no longer current
_M_PER_HDOP = const(19)
_NO_HDOP_M = const(100)
_CHUNK = const(64)


def accuracy_m(hdop: int) -> int:
    """Metres from HDOP in hundredths (-1 unknown), rounded up: never better than the receiver says."""
    if hdop <= 0:
        return _NO_HDOP_M
    return (hdop * _M_PER_HDOP + 99) // 100


class Gps:
    def __init__(self, uart: Uart, power: Switch | None = None, policy: GpsPower | None = None) -> None:
        self.nmea = Nmea()
        self.uart = uart
        self.power = power
        self.policy = policy or GpsPower()
        self._buf = bytearray(_CHUNK)
        self._seen = 0  # nmea.fixes already taken
        self._fix_at = -1  # uptime ms when the last fix was committed
        self._heard_at = 0  # uptime ms of the last byte
        self.on = False

    def poll(self, now: int) -> bool:
        """Read what the UART holds; True when a new fix was committed."""
        nmea = self.nmea
        got = False
        while True:
            n = self.uart.readinto(self._buf)
            if not n:
                break
            nmea.feed(self._buf, n)
            got = True
            if n < _CHUNK:
                break
        if got:
            self._heard_at = now
        elif now - self._heard_at >= QUIET_MS:
            nmea.end_cycle()
        if nmea.fixes == self._seen:
            return False
        self._seen = nmea.fixes
        self._fix_at = now
        return True

    def age_ms(self, now: int) -> int:
        """How old the last fix is; -1 before the first."""
        return -1 if self._fix_at < 0 else now - self._fix_at

    def loc(self, now: int) -> tuple[int, int, int, str, int] | None:
        """(lat_e7, lon_e7, acc_m, src, age_s) of the last fix, for panic.fix.location; None without one."""
        age = self.age_ms(now)
        if age < 0:
            return None
        nmea = self.nmea
        src = "gps" if nmea.valid and age < _CURRENT_MS else "last_gps"
        return (nmea.lat, nmea.lon, accuracy_m(nmea.hdop), src, age // 1000)

    def alert(self, now: int) -> None:
        """An alert was raised: power the receiver now (not at the next poll)."""
        self.policy.alert(now)
        self._switch(True, "alert")

    def _switch(self, on: bool, why: str) -> None:
        if on != self.on:
            self.on = on
            if self.power is not None:
                self.power.set(on)
            log.info("gps", "power=%s why=%s" % ("on" if on else "off", why))

    async def run(self, sup: Supervisor) -> None:
        slot = sup.register("gps", 5 * _POLL_MS + 1000)
        nmea = self.nmea
        had = False  # the previous poll's fix state, to log changes only
        while True:
            now = log.uptime_ms()
            if self.poll(now):
                self.policy.fixed(now)
            if nmea.valid != had:
                had = nmea.valid
                if had:
                    log.info("gps", "fix dim=%d sats=%d hdop=%d fixes=%d" % (nmea.dim, nmea.sats, nmea.hdop, nmea.fixes))
                else:
                    log.warn("gps", "no fix sentences=%d rejected=%d" % (nmea.sentences, nmea.rejected))
            self._switch(self.policy.wanted(now), "policy")
            sup.alive(slot)
            await asyncio.sleep_ms(_POLL_MS)
