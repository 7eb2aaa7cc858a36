"""Button task: turns the SOS pin into gestures a bump cannot produce.

The pin is polled every `poll_ms` (10 ms).

- A press or release counts once the level has been stable for
  `debounce_ms` (30 ms), so contact bounce never starts or ends a press.
- A press becomes a ``hold`` gesture once the pin has read pressed on every
  poll for `hold_ms` (default 2000). Any released reading restarts that
  count, so a chattering contact (a loose wire, a device knocking against
  the button) never adds up to a hold, and neither does a bump.
- One gesture per press, however long it lasts: the next needs a release.

Log lines: ``I <up> button: down``, ``I <up> button: hold held_ms=<n>``,
``I <up> button: up held_ms=<n>``, ``I <up> button: ignored short press held_ms=<n>``.

Seam for later gestures (cancel, three presses for silent SOS): every press
ends in ``_released`` with its duration; a recogniser there calls
``on_gesture`` with another name.
"""

import asyncio
import time

from micropython import const

from panic import log

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Callable

    from panic.hal import PinIn
    from panic.supervisor import Supervisor

HOLD = "hold"


class Button:
    def __init__(
        self,
        pin: PinIn,
        hold_ms: int,
        on_gesture: Callable[[str], None],
        sup: Supervisor,
        poll_ms: int = 10,
        debounce_ms: int = 30,
    ) -> None:
        self._pin = pin
        self.hold_ms = hold_ms
        self._on_gesture = on_gesture
        self._sup = sup
        self._poll_ms = poll_ms
        self._debounce_ms = debounce_ms

    async def run(self) -> None:
        slot = self._sup.register("button", 1000)
        stable = False  # debounced level: True while pressed
        raw_prev = False
        raw_since = time.ticks_ms()  # when the raw level last changed
        down_at = raw_since  # when the debounced press began
        fired = False
        while True:
            self._sup.alive(slot)
            raw = self._pin.pressed()
            now = time.ticks_ms()
            if raw != raw_prev:
                raw_prev = raw
                raw_since = now
            elif raw != stable and time.ticks_diff(now, raw_since) >= self._debounce_ms:
                stable = raw
                if stable:
                    down_at = raw_since
                    fired = False
                    log.info("button", "down")
                else:
                    self._released(time.ticks_diff(raw_since, down_at), fired)
            # raw_since is also when the pin last read released, while it reads pressed.
            if raw and stable and not fired and time.ticks_diff(now, raw_since) >= self.hold_ms:
                fired = True
                log.info("button", "hold held_ms=%d" % time.ticks_diff(now, down_at))
                try:
                    self._on_gesture(HOLD)
                except Exception as e:  # a failing handler must not stop the button
                    log.exc("button", "gesture handler failed", e)
                # The handler stores the alert on flash, blocking the loop for up to ~1.3 s
                # (docs/firmware.md): that is not the button being stuck.
                self._sup.alive(slot)
            await asyncio.sleep_ms(self._poll_ms)

    def _released(self, held_ms: int, fired: bool) -> None:
        if fired:
            log.info("button", "up held_ms=%d" % held_ms)
        else:
            log.info("button", "ignored short press held_ms=%d" % held_ms)
