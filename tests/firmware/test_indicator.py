"""panic/indicator.py under MicroPython: the fault LED follows the fault state (issue 7, finding 4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPT = """
from panic.indicator import Indicator
from panic.supervisor import Supervisor

class Led:
    def __init__(self, name):
        self.name = name
    def set(self, on):
        print(self.name, int(on))
class Dog:
    def feed(self):
        pass

ind = Indicator(Led("status"), None, Supervisor(Dog()), Led("fault"))
ind.set("fault", "config")        # already fault: no change, the LED is on since boot
ind.set("idle", "link_up")
ind.set("sending", "raised")
ind.set("fault", "link_down")
"""


def test_fault_led_is_lit_exactly_while_the_state_is_fault(
    run_micropython: Callable[..., Any], tmp_path: Path
) -> None:
    lines = [line for line in run_micropython(SCRIPT, cwd=tmp_path).stdout.splitlines() if line.startswith("fault ")]
    assert lines == ["fault 1", "fault 0", "fault 0", "fault 1"], lines
