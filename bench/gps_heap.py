"""Heap cost of reading a GPS under MicroPython: adafruit_gps (with a shim) beside panic.nmea / panic.gps.

    .venv/bin/python bench/gps_heap.py [CAPTURE]     # default tests/data/nmea/neo-m8n.log

Both run under ``micropython -X heapsize=110K`` (unix port: 8-byte pointers,
modules compiled from source onto the heap) on the same capture, one
sentence at a time, and report:
- import: live heap the modules add once imported (panic: nmea, gps, gpspower;
  asyncio and panic.log are loaded by the firmware anyway and not counted);
- state: live heap after the whole capture (the parser object and what it keeps);
- garbage per sentence: bytes allocated while parsing one sentence, with the
  GC off (mean and worst), i.e. what the collector must reclaim.
adafruit_gps (adafruit-circuitpython-gps, from this venv) needs a shim for
the CircuitPython names MicroPython lacks: ``time.struct_time`` and
``time.monotonic`` (a ``time.py`` extending the built-in module). Prints
numbers; asserts nothing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.button import FIRMWARE_DIR, micropython_binary  # noqa: E402

TIME_SHIM = '''
from utime import *  # noqa: F403  - the built-in time, extended with what CircuitPython has
import utime


class struct_time:
    def __init__(self, t):
        self.tm_year, self.tm_mon, self.tm_mday, self.tm_hour, self.tm_min, self.tm_sec = t[:6]


def monotonic():
    return utime.ticks_ms() / 1000
'''

MEASURE = '''
import gc, sys
%(pre)s
gc.collect()
base = gc.mem_alloc()
%(setup)s
gc.collect()
imported = gc.mem_alloc() - base
def run():
    total = 0
    worst = 0
    n = 0
    with open(sys.argv[1], "rb") as f:
        for line in f:
            if line.startswith(b"#") or len(line) < 3:
                continue
            line = line.strip() + b"\\r\\n"
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
            %(parse)s
            used = gc.mem_alloc() - before
            gc.enable()
            total += used
            worst = max(worst, used)
            n += 1
    return total, worst, n
gc.collect()
start = gc.mem_alloc()
total, worst, n = run()
gc.collect()
print("%%-12s import %%6d B  state %%6d B  garbage per sentence %%5d B mean, %%5d B worst (%%d sentences)" %% (
    "%(name)s", imported, gc.mem_alloc() - start + state_base, total // n, worst, n))
'''

ADAFRUIT = {
    "name": "adafruit_gps",
    "pre": "",
    "setup": "import adafruit_gps\n"
             "class Uart:\n"
             "    data = b''\n"
             "    @property\n"
             "    def in_waiting(self):\n"
             "        return len(self.data)\n"
             "    def readline(self):\n"
             "        line, self.data = self.data, b''\n"
             "        return line\n"
             "uart = Uart()\n"
             "gc.collect()\n"
             "state_base = -gc.mem_alloc()\n"
             "reader = adafruit_gps.GPS(uart)\n"
             "gc.collect()\n"
             "state_base += gc.mem_alloc()\n",
    "parse": "uart.data = line\n            reader.update()",
}
PANIC = {
    "name": "panic.nmea",
    "pre": "import asyncio\nfrom panic import log  # the firmware has both loaded already",
    "setup": "from panic import gps\n"
             "class Uart:\n"
             "    data = b''\n"
             "    def readinto(self, buf):\n"
             "        n = len(self.data)\n"
             "        if not n:\n"
             "            return None\n"
             "        buf[:n] = self.data\n"
             "        self.data = b''\n"
             "        return n\n"
             "uart = Uart()\n"
             "gc.collect()\n"
             "state_base = -gc.mem_alloc()\n"
             "reader = gps.Gps(uart)\n"
             "gc.collect()\n"
             "state_base += gc.mem_alloc()\n",
    "parse": "reader.nmea.feed(line, len(line))",
}


def run(spec: dict[str, str], path: list[str], capture: Path) -> str:
    env = dict(os.environ, MICROPYPATH=":".join([*path, ".frozen"]))
    result = subprocess.run([micropython_binary(), "-X", "heapsize=110K", "-c", MEASURE % spec, str(capture)],
                            capture_output=True, text=True, env=env, timeout=120)
    return result.stdout.strip() or result.stderr.strip()


def main() -> int:
    capture = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "nmea" / "neo-m8n.log"
    spec = importlib.util.find_spec("adafruit_gps")
    print(f"capture: {capture.name}; heap 110K; unix port (8-byte pointers), modules compiled from source")
    print(run(PANIC, [str(FIRMWARE_DIR)], capture))
    if spec is None or spec.origin is None:
        print("adafruit_gps is not installed: pip install adafruit-circuitpython-gps")
        return 0
    with tempfile.TemporaryDirectory() as shim:
        Path(shim, "time.py").write_text(TIME_SHIM)
        print(run(ADAFRUIT, [shim, str(Path(spec.origin).parent)], capture))
    return 0


if __name__ == "__main__":
    sys.exit(main())
