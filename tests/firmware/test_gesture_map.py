"""App._on_gesture under MicroPython: which alert each gesture raises, test mode, what a cancel refers to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SCRIPT = """
import panic.mqtt  # as main.py: the biggest compile first, while the heap is empty
from panic.app import App

class Alerts:
    def __init__(self):
        self.seq = 40
        self.quiet = []
    def raise_alert(self, kind, ref=None, quiet=False):
        self.seq += 1
        if quiet:
            self.quiet.append(self.seq)
        print("raised", self.seq, kind, ref, int(quiet))
        return self.seq

class Thing:
    window_until = 0
    cancel_window_s = 120
    def feed(self):
        pass

app = App(None)
app.alerts, app.button, app.sup, app.cfg = Alerts(), Thing(), Thing(), Thing()
app._on_gesture("cancel")            # nothing to cancel yet: nothing raised
app._on_gesture("hold")              # 41 sos
print("window", app.button.window_until > 0)
app._on_gesture("cancel")            # 42 cancel of 41
print("window", app.button.window_until)
app._on_gesture("cancel")            # the window is closed: nothing
app._on_gesture("taps")              # 43 silent_sos, quiet
app._on_gesture("cancel")            # 44 cancel of 43, quiet too
app.set_test_mode(True)
app.button.window_until = 0
app._on_gesture("hold")              # 45 test
app._on_gesture("taps")              # 46 test
print("window", app.button.window_until)  # a test opens no cancel window
app._on_gesture("cancel")            # nothing: a test is not cancelled
app.set_test_mode(False)
app._on_gesture("hold")              # 47 sos
"""


def test_each_gesture_raises_its_alert(run_micropython: Callable[..., Any]) -> None:
    out = run_micropython(SCRIPT).stdout
    lines = [line for line in out.splitlines() if line.startswith(("raised", "window"))]
    assert lines == [
        "raised 41 sos None 0",
        "window True",
        "raised 42 cancel 41 0",
        "window 0",
        "raised 43 silent_sos None 1",
        "raised 44 cancel 43 1",
        "raised 45 test None 0",
        "raised 46 test None 0",
        "window 0",
        "raised 47 sos None 0",
    ], out
    assert "app: test_mode=1" in out and "app: test_mode=0" in out
