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

KEY = "9f" * 32

BOOT = """
import panic.mqtt  # as main.py: the biggest compile first, then config, then the app
import panic.config
import asyncio
from panic import app

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
    led = Pin()
    buzzer = None
    fault_led = None
    wifi = Wifi()
    clock = Clock()
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

try:
    asyncio.run(asyncio.wait_for_ms(app.App(Hardware()).run(), 300))
except asyncio.TimeoutError:
    print("HW still running")
"""


def test_flash_is_read_before_the_watchdog_starts(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"broker_host": "127.0.0.1", "broker_port": 1}))
    (tmp_path / "secrets.json").write_text(json.dumps({"device_key": KEY, "mqtt_password": "pw"}))
    lines = run_micropython(BOOT, cwd=tmp_path).stdout.splitlines()
    order = [i for i, line in enumerate(lines) if "outbox: loaded" in line or "seq: loaded" in line]
    started = [i for i, line in enumerate(lines) if line.startswith("HW watchdog started")]
    assert len(order) == 2 and len(started) == 1, lines
    assert max(order) < started[0], "the outbox and seq must be read before the watchdog runs:\n" + "\n".join(lines)
    assert "HW still running" in lines and "HW reset" not in lines
