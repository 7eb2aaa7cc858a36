"""Sensors task: the tamper switch, mains sense and battery, as device events.

Polled every 100 ms. Each condition is reported when its level has been the
same for 1 s (a knock on the lid, a flicker of the mains or a
noisy ADC reading is not an event), and at most once per `repeat_ms` per
condition: a flapping lid or mains is reported again only when the hold-off
has passed, with the level it has then (a flap that ends where it began in
between is not reported at all).

==============  ==================  ========================================
condition       raised              ended
==============  ==================  ========================================
lid open        ``tamper``          ``tamper_restored`` (closed again)
mains lost      ``power_lost``      ``power_restored``
battery low     ``battery_low``     ``battery_restored``
==============  ==================  ========================================

Battery hysteresis: low at or below 20 %, back only at or above
30 %; hw.battery() is percent from the board's divider, integer math
in panic.hal. An unknown reading (None) keeps the last level. At boot every
condition is taken as ended, so one already present is reported.
Kept small (it is resident on the 110 KB heap): one coroutine, one list of state.
"""

import asyncio

from micropython import const

from panic import log, messages

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.alerts import Alerts
    from panic.hal import Hardware
    from panic.supervisor import Supervisor

# messages.ALERT_TYPES[_EVENTS + i]: tamper, power_lost, battery_low, then their restores (no tuple of our own).
_EVENTS = const(4)
# const() and names starting with "_": no interned name (qstr) on the heap for these.
_SETTLE_MS = const(1000)
_LOW_PCT = const(20)
_OK_PCT = const(30)


async def run(hw: Hardware, alerts: Alerts, sup: Supervisor, repeat_ms: int) -> None:
    slot = sup.register("sensors", 3000)
    # Per condition i (tamper, mains, battery): s[i] the level last reported, s[3+i] the level now,
    # s[6+i] uptime it last changed, s[9+i] uptime of the last report. One list, allocated once.
    s = [False, False, False, False, False, False, 0, 0, 0, -repeat_ms, -repeat_ms, -repeat_ms]
    while True:
        sup.alive(slot)
        pct = hw.battery()
        low = s[5]
        if pct is not None:
            low = pct < _OK_PCT if low else pct <= _LOW_PCT
        up = log.uptime_ms()
        for i in range(3):  # no tuple, no iterator object: nothing allocated per poll
            now = hw.tamper.pressed() if i == 0 else hw.power() != "mains" if i == 1 else low
            if now != s[3 + i]:
                s[3 + i] = now
                s[6 + i] = up
            elif now != s[i] and up - s[6 + i] >= _SETTLE_MS and up - s[9 + i] >= repeat_ms:
                s[i] = now
                s[9 + i] = up
                # Signed and kept like an alert (below alerts in the outbox), quiet on the indicator.
                # Storing blocks the loop on flash: the write gets the watchdog's whole timeout.
                sup.feed()
                alerts.raise_alert(messages.ALERT_TYPES[_EVENTS + (i if now else 3 + i)], None, True)
        await asyncio.sleep_ms(100)
