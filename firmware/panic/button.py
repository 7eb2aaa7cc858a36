"""Button task: turns the SOS pin into gestures a bump cannot produce.

The pin is polled every `poll_ms` (10 ms).

- A press or release counts once the level has been stable for
  `debounce_ms` (30 ms), so contact bounce never starts or ends a press.
- ``hold``: a press that has read pressed on every poll for `hold_ms`
  (default 2000). Any released reading restarts that count, so a chattering
  contact (a loose wire, a device knocking against the button) never adds
  up to a hold, and neither does a bump.
- ``taps``: three short presses (each under `hold_ms`, pressed without a
  break for at least 50 ms and released for at least 80 ms before it: a
  chattering or bouncing contact whose pulses get past the debounce does not
  count, and restarts the count), the first press to the third release
  within `taps_ms` (default 3000).
- ``cancel``: while the cancel window is open (``window_until``, set by the
  app after an alert), a press held for `cancel_ms` (default 10000). In the
  window a hold is decided when it ends: released after `hold_ms` but before
  `cancel_ms` it is a ``hold``, so a cancel never raises an SOS on its way.
- One gesture per press, however long it lasts: the next needs a release,
  so a stuck button raises one gesture, not one per `hold_ms`.
- The same gesture as the last one, within `repeat_ms` (default 30000) of it, is coalesced:
  logged, not passed on (what it would raise is already on its way); a storm
  of presses raises at most one alert per gesture per `repeat_ms`.

Times are panic.log.uptime_ms() (never wraps). Log lines: ``I <up> button:
down``, ``... hold held_ms=<n>``, ``... up held_ms=<n>``, ``... ignored short
press held_ms=<n>``, ``... gesture=<g>``, ``... coalesced gesture=<g>``.
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
_TAP_MS = const(50)  # a tap is pressed without a break for this long
_GAP_MS = const(80)  # and released for this long before it


class Button:
    def __init__(
        self,
        pin: PinIn,
        hold_ms: int,
        on_gesture: Callable[[str], None],
        sup: Supervisor,
        poll_ms: int = 10,
        debounce_ms: int = 30,
        cancel_ms: int = 10000,
        taps_ms: int = 3000,
        repeat_ms: int = 30000,
    ) -> None:
        self._pin = pin
        self.hold_ms = hold_ms
        self._on_gesture = on_gesture
        self.sup = sup
        self.poll_ms = poll_ms
        self.debounce_ms = debounce_ms
        self.cancel_ms = cancel_ms
        self.taps_ms = taps_ms
        self.repeat_ms = repeat_ms
        self.window_until = 0  # uptime_ms until which a long hold cancels (the app opens it)

    async def run(self) -> None:
        slot = self.sup.register("button", 1000)
        stable = False  # debounced level: True while pressed
        raw_prev = False
        raw_since = time.ticks_ms()  # when the raw level last changed
        # When the debounced press (or, once released, the release) began; as if released long ago.
        down_at = time.ticks_add(raw_since, -_GAP_MS)
        tap_ok = True  # this press may count towards "taps"
        fired = False
        clean = 0  # longest unbroken pressed run of this press, in ms
        taps = 0  # short presses counted towards "taps"
        tap0 = 0  # uptime when the first of them began
        last = ""  # the gesture last passed on, and when (uptime): for coalescing
        last_at = 0
        while True:
            self.sup.alive(slot)
            raw = self._pin.pressed()
            now = time.ticks_ms()
            gesture = ""
            held = 0
            if raw != raw_prev:
                raw_prev = raw
                raw_since = now
            elif raw != stable and time.ticks_diff(now, raw_since) >= self.debounce_ms:
                stable = raw
                if stable:
                    # After a release under 80 ms (a contact bouncing back) the count starts again.
                    tap_ok = time.ticks_diff(raw_since, down_at) >= _GAP_MS
                    if not tap_ok:
                        taps = 0
                    down_at = raw_since
                    fired = False
                    clean = 0
                    log.info("button", "down")
                else:
                    held = time.ticks_diff(raw_since, down_at)
                    down_at = raw_since  # from here: when the release began
                    if fired:
                        log.info("button", "up held_ms=%d" % held)
                    elif clean >= self.hold_ms:  # only in the cancel window: a hold short of a cancel
                        gesture = HOLD
                    else:
                        log.info("button", "ignored short press held_ms=%d" % held)
                        up = log.uptime_ms()
                        if taps == 0 or up - tap0 > self.taps_ms:  # a new count starts at this press
                            taps = 0
                            tap0 = up - held
                        if tap_ok and clean >= _TAP_MS:  # chatter that got past the debounce is no tap
                            taps += 1
                        if taps == 3:
                            taps = 0
                            gesture = "taps"
            # raw_since is also when the pin last read released, while it reads pressed.
            if raw and stable and not fired:
                held = time.ticks_diff(now, raw_since)
                clean = held if held > clean else clean
                if log.uptime_ms() < self.window_until:
                    fired = held >= self.cancel_ms
                    gesture = "cancel" if fired else ""
                else:
                    fired = held >= self.hold_ms
                    gesture = HOLD if fired else ""
            if gesture:
                log.info("button", "gesture=%s held_ms=%d" % (gesture, held))
                up = log.uptime_ms()
                if gesture == last and up - last_at < self.repeat_ms:
                    log.info("button", "coalesced gesture=%s" % gesture)
                else:
                    last = gesture
                    last_at = up
                    try:
                        self._on_gesture(gesture)
                    except Exception as e:  # a failing handler must not stop the button
                        log.exc("button", "gesture handler failed", e)
                # The handler stores the alert on flash, blocking the loop for up to ~1.3 s
                # (docs/firmware.md): that is not the button being stuck.
                self.sup.alive(slot)
            await asyncio.sleep_ms(self.poll_ms)
