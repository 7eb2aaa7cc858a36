"""How long the firmware's synchronous flash steps block the event loop.

    .venv/bin/python bench/flash_timing.py [--entries N] [--repeat R]

Runs the real firmware modules (panic.seq, panic.outbox, panic.sign) under
the MicroPython unix port and times, with time.ticks_us():

- ``raise``: what the button task does when a hold completes - seq.next()
  (a reservation write once per seq_block; the worst case, with the write,
  is measured) and outbox.add() (one atomic write: temp file, close, rename);
- ``ack``: outbox.remove() - one file deleted;
- ``boot``: panic.boot.entries() - the outbox of N entries, each listed,
  size-checked, read and signature-checked.

Each is run twice: on the host's filesystem, and on LittleFS v2 - the
ESP32's filesystem, the same C code as on the device - in a RAM block device
with 4 KB blocks (the ESP32 port's block size) that counts block reads,
programs and erases. Those counts times the flash chip's datasheet timings
give the estimate for the device (the CPU time of LittleFS and of the
Python code is not in it; on a 240 MHz ESP32 it is a few ms per step).

Datasheet figures used (Winbond W25Q32JV, the 4 MB SPI NOR class in the
ESP32-WROOM-32E; section 9.6 "AC electrical characteristics"): page program
(256 bytes) 0.4 ms typical / 3 ms max, sector erase (4 KB) 45 ms typical /
400 ms max; reads at the ESP32's default 40 MHz DIO, 10 MB/s.

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from simulator.button import micropython_binary

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

PAGE_PROGRAM_MS = (0.4, 3.0)  # typical, max
SECTOR_ERASE_MS = (45.0, 400.0)
READ_BYTES_PER_MS = 10_000  # 40 MHz DIO: 2 bits per clock

SCRIPT = """
import os, time, vfs
from panic import boot, log
from panic.outbox import Outbox
from panic.seq import SeqCounter
from panic.sign import Signer

class CountingBlockDevice:
    def __init__(self, block_size, blocks):
        self.block_size = block_size
        self.data = bytearray(block_size * blocks)
        self.reads = self.pages = self.erases = 0
    def readblocks(self, n, buf, offset=0):
        a = n * self.block_size + offset
        buf[:] = self.data[a:a + len(buf)]
        self.reads += len(buf)
    def writeblocks(self, n, buf, offset=None):
        a = n * self.block_size + (offset or 0)
        self.data[a:a + len(buf)] = buf
        self.pages += (len(buf) + 255) // 256
    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.block_size
        if op == 5:
            return self.block_size
        if op == 6:
            self.erases += 1
            return 0

dev = None
if %(littlefs)r:
    dev = CountingBlockDevice(4096, 96)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/flash")
    os.chdir("/flash")

def counts():
    return (dev.reads, dev.pages, dev.erases) if dev else (0, 0, 0)

def report(step, t0, c0):
    c = counts()
    print("RESULT", step, time.ticks_diff(time.ticks_us(), t0), c[0] - c0[0], c[1] - c0[1], c[2] - c0[2])

log.info = lambda m, t: None  # keep the console out of the timings
DEV = "pb-0123456789ab"
TOPIC = "panic/v1/dev/%%s/alert" %% DEV
signer = Signer(bytes(range(32)))
def body(seq):
    return ('{"v":1,"dev":"%%s","seq":%%d,"type":"sos","ts":1767225600,"up":123456,"loc":null,'
            '"bat":87,"pwr":"mains","net":"wifi","rssi":-61}' %% (DEV, seq)).encode()

for r in range(%(repeat)d):
    box = Outbox(capacity=%(entries)d + 1)
    boot.entries(box, "panic/v1/dev/%%s/" %% DEV, signer.verify)
    seq = SeqCounter(block=1)  # block=1: every next() writes the ceiling, the worst case
    boot.load_seq(seq, 0)
    for i in range(%(entries)d):
        t0, c0 = time.ticks_us(), counts()
        s = seq.next()
        payload = signer.sign(TOPIC, body(s))
        box.add(s, TOPIC, payload, True)
        report("raise", t0, c0)
    t0, c0 = time.ticks_us(), counts()
    box2 = Outbox(capacity=%(entries)d + 1)
    boot.entries(box2, "panic/v1/dev/%%s/" %% DEV, signer.verify)
    report("boot", t0, c0)
    for e in list(box2.entries):
        t0, c0 = time.ticks_us(), counts()
        box2.remove(e.seq)
        report("ack", t0, c0)
    os.remove("seq")
"""


def run(littlefs: bool, entries: int, repeat: int) -> dict[str, list[tuple[int, int, int, int]]]:
    with tempfile.TemporaryDirectory() as flash:
        env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
        out = subprocess.run(
            [micropython_binary(), "-X", "heapsize=2M", "-c",
             SCRIPT % {"littlefs": littlefs, "entries": entries, "repeat": repeat}],
            cwd=flash, env=env, capture_output=True, text=True, check=True, timeout=300,
        ).stdout
    results: dict[str, list[tuple[int, int, int, int]]] = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            _, step, us, reads, pages, erases = line.split()
            results.setdefault(step, []).append((int(us), int(reads), int(pages), int(erases)))
    return results


def estimate_ms(reads: int, pages: int, erases: int, which: int) -> float:
    return reads / READ_BYTES_PER_MS + pages * PAGE_PROGRAM_MS[which] + erases * SECTOR_ERASE_MS[which]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=32, help="outbox entries (the default outbox_max)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"outbox of {args.entries} entries, {args.repeat} rounds; times in ms (median / max)\n")
    for littlefs in (False, True):
        results = run(littlefs, args.entries, args.repeat)
        print("LittleFS v2 in RAM, 4 KB blocks" if littlefs else "host filesystem")
        for step in ("raise", "ack", "boot"):
            rows = results[step]
            times = sorted(r[0] / 1000 for r in rows)
            line = f"  {step:5} unix port {times[len(times) // 2]:7.2f} / {times[-1]:7.2f}"
            if littlefs:
                worst = max(rows, key=lambda r: (r[3], r[2]))
                typical = sorted(rows, key=lambda r: (r[3], r[2]))[len(rows) // 2]
                line += (
                    f"   flash ops median: {typical[1]} B read, {typical[2]} pages, {typical[3]} erases;"
                    f" worst: {worst[1]} B, {worst[2]} pages, {worst[3]} erases"
                    f"  -> ESP32 estimate {estimate_ms(*typical[1:], 0):.0f} ms typical,"
                    f" {estimate_ms(*worst[1:], 1):.0f} ms worst case"
                )
            print(line)
        print()


if __name__ == "__main__":
    main()
