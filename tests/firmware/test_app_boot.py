"""panic/app.py under MicroPython: the boot reads the flash before the watchdog starts.

Issue 7, finding 5: the whole outbox used to be read after the hardware
watchdog had started (it cannot be stopped once running), so a slow or
damaged flash could turn into a watchdog reset at every boot. Hardware here
is a stand-in that prints when the watchdog is created.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.button import DEVICE_DIR, FIRMWARE_DIR, micropython_binary
from simulator.compiled import firmware_path

KEY = "9f" * 32

IMPORTS = """
import panic.mqtt  # as main.py: the biggest compile first, then config and boot, then the app
import panic.config
import panic.boot
import asyncio
from panic import app
"""

STAND_IN = """
class Pin:
    def pressed(self):
        return False
    def set(self, on):
        pass
class Wifi:
    def connect(self, ssid, password):
        pass
    def isconnected(self):
        return False
    def rssi(self):
        return None
class Clock:
    def utc(self):
        return None
    async def sync(self, host):
        return False
class Dog:
    def feed(self):
        pass
class Hardware:
    name = "stand-in"
    button = Pin()
    tamper = Pin()
    led = Pin()
    buzzer = None
    fault_led = None
    wifi = Wifi()
    clock = Clock()
    gps_uart = None
    gps_power = None
    def watchdog(self, timeout_ms):
        print("HW watchdog started timeout_ms=%d" % timeout_ms)
        return Dog()
    def unique_id(self):
        return "0123456789ab"
    def battery(self):
        return None
    def power(self):
        return "mains"
    def reset(self):
        print("HW reset")
"""

RUN = """
try:
    asyncio.run(asyncio.wait_for_ms(app.App(Hardware()).run(), 300))
except asyncio.TimeoutError:
    print("HW still running")
"""

BOOT = IMPORTS + STAND_IN + RUN


def test_flash_is_read_before_the_watchdog_starts(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"broker_host": "127.0.0.1", "broker_port": 1}))
    (tmp_path / "secrets.json").write_text(json.dumps({"device_key": KEY, "mqtt_password": "pw"}))
    # The compiled firmware, as a unit runs it: compiling every module from source on the 110K heap (no unit
    # does) needs large free blocks and failed or not with the checkout's path (CI: MemoryError, 3,568 B).
    compiled = firmware_path(FIRMWARE_DIR, DEVICE_DIR, micropython_binary())
    lines = run_micropython(BOOT, cwd=tmp_path, path=compiled).stdout.splitlines()
    order = [i for i, line in enumerate(lines) if "outbox: loaded" in line or "seq: loaded" in line]
    started = [i for i, line in enumerate(lines) if line.startswith("HW watchdog started")]
    assert len(order) == 2 and len(started) == 1, lines
    assert max(order) < started[0], "the outbox and seq must be read before the watchdog runs:\n" + "\n".join(lines)
    assert "HW still running" in lines and "HW reset" not in lines


# What panic.config costs to load, then the heap right before the app runs, then `code`.
MEASURED_BOOT = """
import gc
import panic.mqtt
from panic import app, mem
gc.collect()
before = gc.mem_alloc()
import panic.config
gc.collect()
print("HW config bytes=%d" % (gc.mem_alloc() - before))
""" + IMPORTS + STAND_IN + """
gc.collect()
before = gc.mem_alloc()
""" + RUN + """
import sys
print("HW left bytes=%d loaded=%s" % (mem.code - before, [m for m in ("panic.config", "panic.boot") if m in sys.modules]))
"""


def test_boot_only_code_is_freed(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """panic.config and panic.boot leave only their data behind, not their code.

    Unloading a module frees its code only once nothing refers to it: names
    bound in App.run, whose frame lives as long as the app, kept both modules
    (about 8 KB) on the heap for good. What the boot adds to the heap of the
    app without panic.config (the configuration, the outbox, the app's
    objects, the names the two modules interned) is less than panic.config's
    code alone.
    """
    (tmp_path / "config.json").write_text(json.dumps({"broker_host": "127.0.0.1", "broker_port": 1}))
    (tmp_path / "secrets.json").write_text(json.dumps({"device_key": KEY, "mqtt_password": "pw"}))
    lines = run_micropython(MEASURED_BOOT, cwd=tmp_path).stdout.splitlines()
    config = int(next(line for line in lines if line.startswith("HW config"))[len("HW config bytes="):])
    left = next(line for line in lines if line.startswith("HW left"))
    assert left.endswith("loaded=[]"), left
    added = config + int(left.split()[2].removeprefix("bytes="))  # `before` included panic.config
    assert added < config, f"the boot left {added} B on the heap; panic.config alone is {config} B"
