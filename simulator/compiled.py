"""The firmware as the simulator runs it by default: compiled to .mpy, as on a unit.

Loading ``.py`` source makes MicroPython compile every module on the
device's own 110 KB heap, which needs large free blocks for a moment and
leaves the heap fragmented; a unit gets ``.mpy`` files from ``panic-fw
build`` instead. The simulator compiles the same way (provision/build.py's
compiler calls): the firmware's ``panic`` package and its own device modules
(every ``simulator/device/*.py``: simmain and vhal, which the button runs, and
the GPS replay's), for the architecture the installed MicroPython loads
(``sys.implementation._mpy``). As long as the firmware has no native code
this is the same bytecode as the xtensawin build, byte for byte.

With ``--from-source`` (debugging) only simmain and vhal are compiled and
the firmware's ``.py`` files come first on the path.

Builds are cached under ``build/sim/<hash of the sources>/``, so a changed
source gives a new build and an unchanged one costs only hashing. The device
imports a build through a short link to it, ``/tmp/pb<hash>``: every
module's ``__file__`` (search path + name) is an interned string on the
device's heap, so a checkout's long path would cost the simulated button
up to ~2 KB that a unit (``/lib/panic/...``) does not spend, and the heap
figures would depend on where the repository lies.
"""

from __future__ import annotations

import functools
import os
import struct
import subprocess
import tempfile
from pathlib import Path

from provision.build import ARCHES, ROOT, BuildError, cached_build, module, mpy_header, package_units
from provision.romfs import RomfsError, romfs_image

CACHE = ROOT / "build" / "sim"


@functools.cache
def loadable(binary: str) -> tuple[str | None, int, int]:
    """(mpy-cross -march, .mpy version, sub-version) that `binary` loads."""
    result = subprocess.run([binary, "-c", "import sys; print(sys.implementation._mpy)"], capture_output=True,
                            text=True, check=False)
    try:
        value = int(result.stdout.strip())
    except ValueError:
        raise BuildError(f"{binary} does not say which .mpy it loads: {result.stdout}{result.stderr}") from None
    index = value >> 10
    return (ARCHES[index] if index < len(ARCHES) else None), value & 0xFF, (value >> 8) & 3


def firmware_path(firmware_dir: Path, device_dir: Path, binary: str, *, from_source: bool = False,
                  cache: Path = CACHE, frozen: bool = False) -> list[Path]:
    """MICROPYPATH entries for the device: the firmware (compiled or its sources) and simmain/vhal, compiled.

    The simulator's own modules are compiled even when the firmware runs
    from source: they are not the firmware, and compiling them on the heap
    would leave the firmware less room than a unit has. `frozen`: the
    firmware is frozen into `binary` (bench/build_frozen_unix.sh), so only
    simmain/vhal are on the path and ``panic`` comes from ``.frozen``.
    """
    arch, version, sub_version = loadable(binary)
    units = [module(p, device_dir) for p in sorted(device_dir.glob("*.py"))]
    if not from_source and not frozen:
        units = package_units(firmware_dir) + units
    built = cached_build(units, cache, arch)
    for unit in units:
        header = mpy_header(built / unit.target)
        # As MicroPython's loader checks: the sub-version matters only for native code.
        if header.version != version or (header.arch is not None and header.sub_version != sub_version):
            raise BuildError(f"mpy-cross writes .mpy v{header.version}.{header.sub_version} but {binary} loads "
                             f"v{version}.{sub_version}: install an mpy-cross of the same MicroPython release")
    short = short_link(built)
    return [firmware_dir, short] if from_source and not frozen else [short]


def short_link(built: Path) -> Path:
    """`built` through a symbolic link of fixed, short length in /tmp (see the module's docstring).

    Made (or repointed) atomically, so processes starting at once agree; `built` itself if no link
    can be made there.
    """
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    link = base / f"pb{built.name[:8]}"
    try:
        if link.resolve() == built.resolve():
            return link
        scratch = base / f".pb{built.name[:8]}-{os.getpid()}"
        scratch.unlink(missing_ok=True)
        scratch.symlink_to(built.resolve(), target_is_directory=True)
        os.replace(scratch, link)
    except OSError:
        return built
    return link


def romfs_path(firmware_dir: Path, device_dir: Path, binary: str, *, cache: Path = CACHE) -> Path:
    """The ROMFS image of the compiled firmware and the simulator's device modules (made once per build).

    simulator/device/romboot.py mounts it as a unit with a ``romfs`` partition does
    (docs/firmware.md, "ROMFS"). Cached beside the build it is made from.
    """
    built = firmware_path(firmware_dir, device_dir, binary, cache=cache)[0].resolve()
    image = built.with_name(built.name + ".romfs")
    if not image.is_file():
        scratch = image.with_name(f".{image.name}-{os.getpid()}")
        try:
            scratch.write_bytes(romfs_image(built))
        except RomfsError as e:
            raise BuildError(str(e)) from None
        os.replace(scratch, image)
    return image


GC_BLOCK = 4 * struct.calcsize("P")  # MicroPython's GC block: 4 machine words (32 bytes on this 64-bit port)


def heap_bytes(size: str) -> int:
    """MicroPython's -X heapsize value in bytes ("110K", "1M", "65536")."""
    scale = {"K": 1024, "M": 1024 * 1024}.get(size[-1:].upper(), 1)
    return int(size[:-1] if scale > 1 else size) * scale


@functools.cache
def _heap_total(binary: str, heapsize: int) -> int:
    """What the GC can hand out (free + allocated) in `binary` run with -X heapsize=`heapsize`."""
    result = subprocess.run([binary, "-X", f"heapsize={heapsize}", "-c",
                             "import gc; print(gc.mem_free() + gc.mem_alloc())"],
                            capture_output=True, text=True, check=False)
    try:
        return int(result.stdout.strip())
    except ValueError:
        raise BuildError(f"{binary} does not report its heap: {result.stdout}{result.stderr}") from None


@functools.cache
def romfs_heapsize(binary: str, device_heapsize: str, image_bytes: int) -> int:
    """The -X heapsize whose heap, less the image's blocks (romboot's first allocation), is `device_heapsize`'s.

    The GC's own tables grow with the heap (about 1.3 % on this 64-bit port), so this is searched, not
    added: the smallest size, in GC blocks, that leaves at least as much as `device_heapsize` gives
    (tests/simulator/test_romfs.py measures the free heap beside the image against a plain run's).
    """
    block = GC_BLOCK
    want = _heap_total(binary, heap_bytes(device_heapsize)) + -(-image_bytes // block) * block
    low = heap_bytes(device_heapsize) // block  # in GC blocks
    high = 2 * (low + -(-image_bytes // block))
    while low < high:  # the smallest size with _heap_total >= want
        middle = (low + high) // 2
        if _heap_total(binary, middle * block) >= want:
            high = middle
        else:
            low = middle + 1
    return low * block
