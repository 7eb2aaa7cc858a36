"""panic/button.py under MicroPython: only a deliberate hold raises an alert.

Several virtual pins, each following a scripted level timeline in real time,
drive their own Button task side by side in one MicroPython process; each
scenario reports how many gestures its button produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PRELUDE = """
import asyncio, time
from panic.button import Button
from panic.supervisor import Supervisor

class ScriptedPin:
    # Levels over time: [(pressed, ms), ...] from the moment the test starts; released afterwards.
    def __init__(self, steps):
        self.steps = steps
        self.t0 = time.ticks_ms()
    def pressed(self):
        t = time.ticks_diff(time.ticks_ms(), self.t0)
        for level, ms in self.steps:
            if t < ms:
                return level
            t -= ms
        return False

class Dog:
    def feed(self):
        pass
"""  # MicroPython: scripted pins and a watchdog that needs nothing (test_gestures.py uses it too)

SCRIPT = PRELUDE + """

def chatter(total_ms, seed):
    # A bad contact: pressed and released in random slices of 3..25 ms.
    steps, level, t, x = [], True, 0, seed
    while t < total_ms:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        ms = 3 + x % 23
        steps.append((level, ms))
        level = not level
        t += ms
    return steps

def bounce(level, n=4):
    return [(level, 4), (not level, 3)] * n

SCENARIOS = {
    "bump_100ms": (2000, [(False, 50), (True, 100)]),
    "chatter_3s": (2000, chatter(3000, 7)),
    "chatter_mostly_pressed": (2000, [(True, 20), (False, 8)] * 110),
    "hold_2500ms": (2000, [(True, 2500)]),
    "hold_bouncy_contacts": (2000, bounce(True) + [(True, 2500)] + bounce(False)),
    "hold_6s_once": (2000, [(True, 6000)]),
    "two_holds": (2000, [(True, 2300), (False, 500), (True, 2300)]),  # the second coalesced (repeat_ms)
    "hold_1900ms_short": (2000, [(True, 1900)]),
    "hold_ms_500_press_700": (500, [(True, 700)]),
    "hold_ms_500_press_300": (500, [(True, 300)]),
}

counts = {}
sup = Supervisor(Dog())
def make(name, hold_ms, steps):
    counts[name] = 0
    def on_gesture(g):
        counts[name] += 1
    return Button(ScriptedPin(steps), hold_ms, on_gesture, sup)

async def main():
    buttons = [make(n, h, s) for n, (h, s) in SCENARIOS.items()]
    tasks = [asyncio.create_task(b.run()) for b in buttons]
    await asyncio.sleep_ms(6600)
    for n in SCENARIOS:
        print("result", n, counts[n])

asyncio.run(main())
"""


def test_only_a_deliberate_hold_raises_an_alert(run_micropython: Callable[..., Any]) -> None:
    out = run_micropython(SCRIPT, timeout=60).stdout
    results = {}
    for line in out.splitlines():
        if line.startswith("result "):
            _, name, count = line.split()
            results[name] = int(count)
    assert results == {
        "bump_100ms": 0,
        "chatter_3s": 0,
        "chatter_mostly_pressed": 0,  # 8 ms drop-outs every 20 ms: not a clean hold
        "hold_2500ms": 1,
        "hold_bouncy_contacts": 1,
        "hold_6s_once": 1,
        "two_holds": 1,
        "hold_1900ms_short": 0,
        "hold_ms_500_press_700": 1,
        "hold_ms_500_press_300": 0,
    }, out
    assert "button: ignored short press" in out
