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


# Slots of GpsPower._t (one list, not six attributes: every attribute name is interned for good).
_SEARCH = const(0)  # ms
_ON = const(1)
_PERIOD = const(2)
_ALERT = const(3)
_CYCLE_FROM = const(4)  # uptime when the duty cycle started; -1 while searching after boot
_ALERT_UNTIL = const(5)


class GpsPower:
    def __init__(self, search_s: int = _SEARCH_S, on_s: int = _ON_S, period_s: int = _PERIOD_S,
                 alert_s: int = _ALERT_S) -> None:
        self._t = [search_s * 1000, on_s * 1000, period_s * 1000, alert_s * 1000, -1, -1]

    def fixed(self, now: int) -> None:
        """The receiver reported a fix: the boot search is over."""
        t = self._t
        if t[_CYCLE_FROM] < 0:
            t[_CYCLE_FROM] = now

    def alert(self, now: int) -> None:
        t = self._t
        t[_ALERT_UNTIL] = now + t[_ALERT]

    def wanted(self, now: int) -> bool:
        """Should the receiver be powered at uptime ``now``?"""
        t = self._t
        if now < t[_ALERT_UNTIL]:
            return True
        if t[_CYCLE_FROM] < 0:
            if now < t[_SEARCH]:
                return True
            t[_CYCLE_FROM] = t[_SEARCH]  # no fix in the search: duty-cycle from its end
        return (now - t[_CYCLE_FROM]) % t[_PERIOD] < t[_ON]
