"""panic/gps.py (reader, fix age, src, accuracy, power) and panic/gpspower.py under MicroPython."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.firmware.test_nmea import sentence

Run = Callable[..., Any]

# A scripted receiver: `steps` is a list of (uptime_ms, bytes written to the UART before that poll).
DRIVER = """
import json
from panic import gps, fix
class Uart:
    def __init__(self):
        self.data = b""
    def readinto(self, buf):
        n = min(len(buf), len(self.data))
        if not n:
            return None
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n
class Power:
    def __init__(self):
        self.on = None
    def set(self, on):
        self.on = on
uart = Uart()
power = Power()
reader = gps.Gps(uart, power)
for now, data in %r:
    uart.data += data
    new = reader.poll(now)
    loc = reader.loc(now)
    print(json.dumps({"now": now, "new": new, "loc": fix.location(loc) if loc else None,
                      "rejected": reader.nmea.rejected}))
"""

EPOCH = (
    sentence("GNRMC,120000.00,A,0525.4371234,S,10515.4893817,E,0.1,,010125,,,A")
    + sentence("GNGGA,120000.00,0525.4371234,S,10515.4893817,E,1,09,1.26,12.0,M,5.0,M,,")
    + sentence("GNGSA,A,3,01,02,03,04,05,06,07,08,09,,,,1.9,1.26,1.5")
)
LOC = '{"lat":-5.4239521,"lon":105.2581564,"acc":24,"src":"%s","age":%d}'

# Stand-ins for the task's surroundings: a receiver that says nothing, a recording power switch,
# a supervisor that accepts everything.
TASK_FAKES = """
import asyncio, gc
from panic import gps, log
from panic.gpspower import GpsPower
class Uart:
    def readinto(self, buf):
        return None
class Power:
    def __init__(self):
        self.calls = []
    def set(self, on):
        self.calls.append(on)
class Sup:
    def register(self, name, ms):
        return 0
    def alive(self, slot):
        pass
"""


def drive(run: Run, steps: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    out = run(DRIVER % steps).stdout.splitlines()
    return [json.loads(line) for line in out if line.startswith("{")]


def test_a_fix_its_age_and_a_receiver_that_goes_silent(run_micropython: Run) -> None:
    rows = drive(run_micropython, [
        (1000, b""),  # nothing yet: no fix, loc null
        (1100, EPOCH[:50]),  # a burst, split across reads
        (1200, EPOCH[50:]),
        (1600, b""),  # quiet: the epoch is committed (accuracy 1.26 x 19 m = 23.94, rounded up)
        (2500, b""),
        (4599, b""),
        (4600, b""),  # 3 s without a new fix: no longer current
        (3601600, b""),  # an hour later: the last fix, its age grown
    ])
    assert [r["loc"] for r in rows] == [
        None, None, None, LOC % ("gps", 0), LOC % ("gps", 0), LOC % ("gps", 2), LOC % ("last_gps", 3),
        LOC % ("last_gps", 3600),
    ]
    assert [r["new"] for r in rows] == [False, False, False, True, False, False, False, False]


def test_losing_the_fix_keeps_the_last_one(run_micropython: Run) -> None:
    lost = sentence("GNRMC,120001.00,V,,,,,,,010125,,,N") + sentence("GNGGA,120001.00,,,,,0,00,99.99,,,,,,")
    rows = drive(run_micropython, [(0, EPOCH), (500, b""), (1000, lost), (1500, b"")])
    assert [r["loc"] for r in rows] == [None, LOC % ("gps", 0), LOC % ("gps", 0), LOC % ("last_gps", 1)]


def test_wrong_baud_noise_gives_no_fix_and_no_crash(run_micropython: Run) -> None:
    noise = bytes((i * 37 + 11) % 256 for i in range(4000))
    rows = drive(run_micropython, [(100 * i, noise[i * 400:(i + 1) * 400]) for i in range(10)] + [(2000, b"")])
    assert all(r["loc"] is None for r in rows)
    assert rows[-1]["rejected"] > 0


def test_power_at_boot_until_a_fix_then_duty_cycled_and_on_for_an_alert(run_micropython: Run) -> None:
    script = """
from panic.gpspower import GpsPower
p = GpsPower(search_s=600, on_s=60, period_s=1800, alert_s=300)
out = []
for now in (0, 599999):
    out.append(p.wanted(now))                  # searching after boot
p.fixed(100000)                                # first fix at 100 s
p.fixed(150000)                                # later fixes do not move the cycle
for now in (100000, 159999, 160000, 1899999, 1900000, 1959999, 1960000):
    out.append(p.wanted(now))                  # on for 60 s every 1800 s from the first fix
p.alert(1000000)
for now in (1000000, 1299999, 1300000):
    out.append(p.wanted(now))                  # an alert: on at once, for 300 s
q = GpsPower(search_s=600, on_s=60, period_s=1800)
for now in (599999, 600000, 659999, 660000, 2400000):
    out.append(q.wanted(now))                  # never a fix: the search ends, windows follow
print(out)
"""
    out = run_micropython(script).stdout.strip()
    assert out == str([True, True,
                       True, True, False, False, True, True, False,
                       True, True, False,
                       True, True, True, False, True])


def test_the_gps_task_switches_power_and_an_alert_switches_it_on_at_once(run_micropython: Run) -> None:
    script = TASK_FAKES + """
power = Power()
reader = gps.Gps(Uart(), power, GpsPower(search_s=0, on_s=0, period_s=1))
async def main():
    task = asyncio.create_task(reader.run(Sup()))
    await asyncio.sleep_ms(250)
    print("after boot", power.calls)
    reader.alert(log.uptime_ms())
    print("after alert", power.calls)
    task.cancel()
asyncio.run(main())
"""
    lines = run_micropython(script).stdout.splitlines()
    assert "after boot []" in lines, lines  # off at boot (policy says so here) and never switched
    assert any(line.startswith("after alert") and line.endswith("True]") for line in lines), lines
    assert any(" gps: power=on why=alert" in line for line in lines), lines


def test_polling_allocates_nothing(run_micropython: Run) -> None:
    script = """
import gc
from panic import gps
class Uart:
    def __init__(self):
        self.data = b""
        self.pos = 0
    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        if n <= 0:
            return None
        for i in range(n):
            buf[i] = self.data[self.pos + i]
        self.pos += n
        return n
uart = Uart()
reader = gps.Gps(uart)
epoch = %r
def measure(now):  # locals only: a new global would grow the module's dict
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(10):
        uart.data = epoch
        uart.pos = 0
        reader.poll(now)
        now += 1000
        reader.poll(now)  # quiet: commits the epoch
    gc.enable()
    return gc.mem_alloc() - before
measure(0)  # once before measuring: a first call may set up what it keeps
print("allocated", measure(10000), "fixes", reader.nmea.fixes)
""" % (EPOCH,)
    out = run_micropython(script).stdout.split()
    assert out == ["allocated", "0", "fixes", "20"], out


def test_the_task_loop_allocates_nothing(run_micropython: Run) -> None:
    script = TASK_FAKES + """
reader = gps.Gps(Uart(), Power(), GpsPower(search_s=1, on_s=0))
async def main():
    asyncio.create_task(reader.run(Sup()))
    await asyncio.sleep_ms(1300)  # past the search: the power was switched off (and logged) once
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    await asyncio.sleep_ms(1000)  # ten polls with the receiver silent and off
    print("allocated", gc.mem_alloc() - before)
asyncio.run(main())
"""
    out = run_micropython(script).stdout.splitlines()
    assert "allocated 0" in out, out
    assert any(" gps: power=off why=policy" in line for line in out), out


def test_accuracy_is_hdop_times_19_m_rounded_up(run_micropython: Run) -> None:
    out = run_micropython(
        "from panic.gps import accuracy_m\nprint([accuracy_m(h) for h in (-1, 0, 50, 91, 100, 126, 9999)])"
    ).stdout.strip()
    # Unknown (or an impossible 0) HDOP is 100 m; 0.91 x 19 = 17.29 -> 18; 99.99 x 19 = 1899.81 -> 1900.
    assert out == "[100, 100, 10, 18, 19, 24, 1900]"
