"""panic/supervisor.py under MicroPython: the watchdog is fed only while every task makes progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

DOG = """
from panic.supervisor import Supervisor

class Dog:
    feeds = 0
    def feed(self):
        self.feeds += 1

dog = Dog()
"""

SCRIPT = DOG + """
import asyncio
sup = Supervisor(dog, tick_ms=50)
steady = sup.register("steady", 300)
flaky = sup.register("flaky", 300)
flaky_alive = True

async def worker(slot, always):
    while True:
        if always or flaky_alive:
            sup.alive(slot)
        await asyncio.sleep_ms(20)

async def main():
    global flaky_alive
    asyncio.create_task(sup.run())
    asyncio.create_task(worker(steady, True))
    asyncio.create_task(worker(flaky, False))
    await asyncio.sleep_ms(500)
    print("fed while all progress", dog.feeds > 0)
    flaky_alive = False              # one task stops reporting
    await asyncio.sleep_ms(500)      # past its 300 ms limit
    starved = dog.feeds
    await asyncio.sleep_ms(500)
    print("fed while one is stuck", dog.feeds - starved)
    flaky_alive = True               # it recovers
    await asyncio.sleep_ms(300)
    print("fed after recovery", dog.feeds > starved)

asyncio.run(main())
"""


def test_watchdog_starves_while_a_task_is_stuck(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    out = run_micropython(SCRIPT, cwd=tmp_path).stdout
    lines = out.splitlines()
    assert "fed while all progress True" in lines, out
    assert "fed while one is stuck 0" in lines, out
    assert "fed after recovery True" in lines, out
    assert any(line.startswith("E ") and "task stalled, watchdog not fed task=flaky" in line for line in lines), out
    assert any("supervisor: recovered task=flaky" in line for line in lines), out


FEED_NOW = DOG + """
import time
sup = Supervisor(dog, tick_ms=1000)
slot = sup.register("task", 100)
print("healthy", sup.feed(), dog.feeds)
time.sleep_ms(200)               # the task is overdue: no feed, however urgent the write
print("overdue", sup.feed(), dog.feeds)
sup.alive(slot)
print("again", sup.feed(), dog.feeds)
"""


def test_feed_before_a_flash_write_only_while_every_task_is_on_time(
    run_micropython: Callable[..., Any], tmp_path: Path
) -> None:
    lines = run_micropython(FEED_NOW, cwd=tmp_path).stdout.splitlines()
    assert lines == ["healthy True 1", "overdue False 1", "again True 2"], lines
