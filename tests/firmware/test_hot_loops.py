"""The firmware's polling loops allocate nothing per iteration (under MicroPython, GC off)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

SCRIPT = """
import asyncio, gc
from panic.button import Button
from panic.delivery import Delivery
from panic.heartbeat import Heartbeat
from panic.indicator import Indicator
from panic.outbox import Outbox
from panic.supervisor import Supervisor

class Pin:
    def pressed(self):
        return False
class Led:
    def set(self, on):
        pass
class Dog:
    def feed(self):
        pass
class Link:
    connected = False
    generation = 0
    publish_timeout_ms = 5000

sup = Supervisor(Dog())
ind = Indicator(Led(), Led(), sup)
ind.set("sending", "test")  # the busiest pattern
link = Link()
loops = [
    Button(Pin(), 2000, lambda g: None, sup).run(),
    ind.run(),
    Delivery(Outbox(), link, 1000, 2000, sup).run(),
    Heartbeat("pb-0123456789ab", None, None, None, link, 1, sup).run(),
]

async def main():
    for loop in loops:
        asyncio.create_task(loop)
    await asyncio.sleep_ms(300)  # past start-up
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    await asyncio.sleep_ms(1500)
    print("allocated", gc.mem_alloc() - before)

asyncio.run(main())
"""


def test_idle_loops_allocate_nothing(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    out = run_micropython(SCRIPT, cwd=tmp_path).stdout
    assert "allocated 0" in out.splitlines(), out
