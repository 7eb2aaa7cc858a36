"""panic/button.py's gestures under MicroPython: taps, cancel, a stuck button, a storm.

As in test_debounce.py, scripted pins (real time) drive Button tasks side by
side in one MicroPython process; each scenario reports the gestures its
button passed on, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.firmware.test_debounce import PRELUDE

SCRIPT = PRELUDE + """
from panic import log

class StormPin(ScriptedPin):
    # n presses of `on` ms with `off` ms between, computed rather than listed (the heap is small).
    def __init__(self, n, on, off):
        self.n, self.on, self.off = n, on, off
        self.t0 = time.ticks_ms()
    def pressed(self):
        t = time.ticks_diff(time.ticks_ms(), self.t0)
        return t < self.n * (self.on + self.off) and t % (self.on + self.off) < self.on

def bounce(level, n=4):
    return [(level, 4), (not level, 3)] * n

def taps(n, press, gap, noisy=False):
    steps = []
    for _ in range(n):
        steps += (bounce(True) if noisy else []) + [(True, press)] + (bounce(False) if noisy else []) + [(False, gap)]
    return ScriptedPin(steps)

# name: (steps, cancel window open, repeat_ms)
SCENARIOS = {
    "three_taps": (taps(3, 150, 300), False, 30000),
    "three_taps_bouncy": (taps(3, 150, 300, True), False, 30000),
    "three_taps_too_slow": (taps(3, 150, 1600), False, 30000),  # first press to third release: 3.6 s
    "two_taps": (taps(2, 150, 300), False, 30000),
    "six_taps": (taps(6, 150, 300), False, 0),
    "six_taps_coalesced": (taps(6, 150, 300), False, 30000),
    "storm_200": (StormPin(200, 70, 90), False, 30000),  # 32 s of presses a tap could be
    "storm_200_fast": (StormPin(200, 70, 40), False, 30000),  # released for 40 ms: bouncing, no taps
    "bump_and_chatter": (ScriptedPin([(True, 200), (False, 150), (True, 100), (False, 50), (True, 120), (False, 40),
                                      (True, 300)]), False, 30000),
    "chatter_taps": (ScriptedPin([(True, 40), (False, 60)] * 50), False, 30000),  # 40 ms: past the debounce
    "stuck": (ScriptedPin([(True, 14000)]), False, 30000),
    "window_long_hold": (ScriptedPin([(True, 10500)]), True, 30000),
    "window_hold_4s": (ScriptedPin([(True, 4000)]), True, 30000),
    "window_short": (ScriptedPin([(True, 1000)]), True, 30000),
    "window_stuck": (ScriptedPin([(True, 14000)]), True, 30000),
    "no_window_long_hold": (ScriptedPin([(True, 10500)]), False, 30000),
}

seen = {}
sup = Supervisor(Dog())
def make(name, pin, window, repeat_ms):
    seen[name] = []
    pin.t0 = time.ticks_ms()
    b = Button(pin, 2000, lambda g: seen[name].append(g), sup, cancel_ms=10000, taps_ms=3000,
               repeat_ms=repeat_ms)
    if window:
        b.window_until = log.uptime_ms() + 60000
    return b

async def main():
    buttons = [make(n, *s) for n, s in SCENARIOS.items()]
    for b in buttons:
        asyncio.create_task(b.run())
    await asyncio.sleep_ms(32500)
    for n in SCENARIOS:
        print("result", n, ",".join(seen[n]) or "-")

asyncio.run(main())
"""


def test_gestures_from_scripted_presses(run_micropython: Callable[..., Any]) -> None:
    out = run_micropython(SCRIPT, timeout=120).stdout
    results = {}
    for line in out.splitlines():
        if line.startswith("result "):
            _, name, gestures = line.split()
            results[name] = gestures
    assert results == {
        "three_taps": "taps",
        "three_taps_bouncy": "taps",
        "three_taps_too_slow": "-",
        "two_taps": "-",
        "six_taps": "taps,taps",
        "six_taps_coalesced": "taps",  # the second within repeat_ms: logged, not passed on
        "storm_200": "taps,taps",  # dozens recognised in 32 s, one passed on per repeat_ms (30 s)
        "storm_200_fast": "-",
        "bump_and_chatter": "-",  # two clean presses, then releases too short for a rhythm
        "chatter_taps": "-",  # 40 ms pulses are not taps (a tap is 50 ms unbroken)
        "stuck": "hold",  # one gesture per press, however long
        "window_long_hold": "cancel",  # no sos on the way to the cancel
        "window_hold_4s": "hold",  # decided at the release
        "window_short": "-",
        "window_stuck": "cancel",
        "no_window_long_hold": "hold",  # a cancel needs an alert before it
    }, out
    assert out.count("button: coalesced gesture=taps") >= 20, out  # recognised again and again, passed on once
