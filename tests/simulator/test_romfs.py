"""The firmware from a ROMFS image (simulator/device/romboot.py), as a button with a modem ships.

What makes the simulation fair: the heap beside the image is the one ``-X
heapsize=110K`` gives, and MicroPython runs the image's bytecode in place (a
module loaded from it costs the heap far less than the same ``.mpy`` read from
a filesystem), as on an ESP32 whose romfs partition is mapped flash.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from simulator.button import DEVICE_DIR, DEVICE_HEAPSIZE, FIRMWARE_DIR, micropython_binary
from simulator.compiled import GC_BLOCK, firmware_path, heap_bytes, romfs_heapsize, romfs_path

PROBE = (
    "import gc\n"
    "gc.collect()\n"
    "before = gc.mem_alloc()\n"
    "import panic.app\n"
    "gc.collect()\n"
    "print(gc.mem_free(), gc.mem_alloc() - before, panic.app.__file__)\n"
)


@pytest.mark.parametrize("image_bytes", [1, 4096, 81_420, 200_000])
def test_the_heap_beside_the_image_is_the_device_heap(image_bytes: int) -> None:
    """Free heap once romboot's allocation of the image is made, against a plain -X heapsize=110K run's: never
    less, and more by less than the heap size's own step (the GC's tables grow in 128-byte steps on this port)."""
    binary = micropython_binary()
    probe = "import gc\nb = bytearray({})\ngc.collect()\nprint(gc.mem_free())"
    size = romfs_heapsize(binary, DEVICE_HEAPSIZE, image_bytes)
    beside = subprocess.run([binary, "-X", f"heapsize={size}", "-c", probe.format(image_bytes)],
                            capture_output=True, text=True, timeout=30, check=True)
    plain = subprocess.run([binary, "-X", f"heapsize={heap_bytes(DEVICE_HEAPSIZE)}", "-c", probe.format(0)],
                           capture_output=True, text=True, timeout=30, check=True)
    assert 0 <= int(beside.stdout) - int(plain.stdout) < 4 * GC_BLOCK, (beside.stdout, plain.stdout)


def _probe(tmp_path: Path, *romboot: str) -> tuple[int, int, str]:
    (tmp_path / "probe.py").write_text(PROBE)
    binary = micropython_binary()
    build = firmware_path(FIRMWARE_DIR, DEVICE_DIR, binary)[0]
    heapsize = DEVICE_HEAPSIZE
    if romboot:
        heapsize = str(romfs_heapsize(binary, DEVICE_HEAPSIZE, os.path.getsize(romboot[1])))
    result = subprocess.run([binary, "-X", f"heapsize={heapsize}", "-m", *romboot, "probe"], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, MICROPYPATH=f"{tmp_path}:{build}:.frozen"))
    assert result.returncode == 0, result.stdout + result.stderr
    free, cost, file = result.stdout.splitlines()[-1].split()
    return int(free), int(cost), file


def test_the_image_runs_in_place_beside_a_110k_heap(tmp_path: Path) -> None:
    image = romfs_path(FIRMWARE_DIR, DEVICE_DIR, micropython_binary())
    rom_free, rom_cost, rom_file = _probe(tmp_path, "romboot", str(image))
    plain_free, plain_cost, plain_file = _probe(tmp_path)
    assert rom_file == "/rom/panic/app.mpy" and plain_file.endswith("/panic/app.mpy") and plain_file != rom_file
    # Bytecode, strings and names' text stay in the image: loading panic.app (and what it imports) from it
    # costs about two thirds of the same .mpy files' heap (65 % measured); a copy to the heap would cost it all.
    assert rom_cost < plain_cost * 3 // 4, (rom_cost, plain_cost)
    # The heap beside the image is the 110K heap: what is free after the same imports differs by what the
    # image saved, less romboot's own code and objects (about 1 KB), never by the image itself.
    assert plain_free + (plain_cost - rom_cost) - 1536 <= rom_free <= plain_free + (plain_cost - rom_cost), (
        rom_free, plain_free, plain_cost, rom_cost)
