"""When the GPS receiver gets power (board.json's ``gps_power`` switch): a pure policy, no hardware.

- **Boot**: on until the first fix, for at most ``_SEARCH_S`` (a unit deep
  inside a building may never get one; it then joins the duty cycle, whose
  every window is another try).
- **Duty cycle**: after the first fix (or the search), on for ``_ON_S``
  every ``_PERIOD_S``, counted from that moment. A window keeps the
  receiver's ephemeris and almanac warm, so the next start is a hot start
  (seconds, not the ~30 s of a cold one) and an alert finds a recent fix.
  hardware/power_budget.py takes these two numbers (power_data.json's
  ``gps_on_s`` / ``gps_period_s``; a test holds them equal).
- **Alert**: ``alert()`` powers it at once and keeps it on for ``_ALERT_S``,
  so the alert and what follows it carry a fresh position.

Times are the firmware's uptime in ms (log.uptime_ms: it does not wrap).
"""

from micropython import const

# const, "_" names: compiled in, no global and no interned name (docs/firmware.md, "Heap and qstrs").
_SEARCH_S = const(600)
_ON_S = const(60)
_PERIOD_S = const(1800)
_ALERT_S = const(300)


class GpsPower:
    def __init__(self, search_s: int = _SEARCH_S, on_s: int = _ON_S, period_s: int = _PERIOD_S,
                 alert_s: int = _ALERT_S) -> None:
        self._search_ms = search_s * 1000
        self._on_ms = on_s * 1000
        self._period_ms = period_s * 1000
        self._alert_ms = alert_s * 1000
        self._cycle_from = -1  # uptime when the duty cycle started; -1 while searching after boot
        self._alert_until = -1

    def fixed(self, now: int) -> None:
        """The receiver reported a fix: the boot search is over."""
        if self._cycle_from < 0:
            self._cycle_from = now

    def alert(self, now: int) -> None:
        self._alert_until = now + self._alert_ms

    def wanted(self, now: int) -> bool:
        """Should the receiver be powered at uptime ``now``?"""
        if now < self._alert_until:
            return True
        if self._cycle_from < 0:
            if now < self._search_ms:
                return True
            self._cycle_from = self._search_ms  # no fix in the search: duty-cycle from its end
        return (now - self._cycle_from) % self._period_ms < self._on_ms
