"""Sensors task: the tamper switch, mains sense and battery, as device events.

Polled every 100 ms. Each condition is reported when its level has been the
same for SETTLE_MS (1 s: a knock on the lid, a flicker of the mains or a
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

Battery hysteresis: low at or below LOW_PCT (20), back only at or above
OK_PCT (30); hw.battery() is percent from the board's divider, integer math
in panic.hal. An unknown reading (None) keeps the last level. At boot every
condition is taken as ended, so one already present is reported.
Kept small (it is resident on the 110 KB heap): one coroutine, locals only.
"""

import asyncio

from panic import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from panic.hal import Hardware
    from panic.supervisor import Supervisor

EVENTS = ("tamper", "power_lost", "battery_low")
RESTORED = ("tamper_restored", "power_restored", "battery_restored")
SETTLE_MS = 1000
LOW_PCT = 20
OK_PCT = 30


async def run(hw: Hardware, on_event: Callable[[str], None], sup: Supervisor, repeat_ms: int) -> None:
    slot = sup.register("sensors", 3000)
    reported = [False, False, False]  # per EVENTS: the level last reported
    level = [False, False, False]
    since = [0, 0, 0]  # uptime the level last changed
    sent = [-repeat_ms] * 3  # uptime of the last report
    while True:
        sup.alive(slot)
        pct = hw.battery()
        low = level[2]
        if pct is not None:
            low = pct < OK_PCT if low else pct <= LOW_PCT
        up = log.uptime_ms()
        for i in range(3):  # no tuple, no iterator object: nothing allocated per poll
            now = hw.tamper.pressed() if i == 0 else hw.power() != "mains" if i == 1 else low
            if now != level[i]:
                level[i] = now
                since[i] = up
            elif now != reported[i] and up - since[i] >= SETTLE_MS and up - sent[i] >= repeat_ms:
                reported[i] = now
                sent[i] = up
                try:
                    on_event(EVENTS[i] if now else RESTORED[i])
                except Exception as e:  # a failing handler must not stop the sensors
                    log.exc("sensors", "event handler failed", e)
        await asyncio.sleep_ms(100)
