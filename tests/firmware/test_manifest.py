"""firmware/manifest.py freezes the whole firmware, and the ESP32 port's own modules with it.

The manifest is executed here the way MicroPython's tools/makemanifest.py
executes it (a plain exec with include/package/module/options provided); the
build itself needs MicroPython's source (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import FIRMWARE

MANIFEST = FIRMWARE / "manifest.py"
NOT_FROZEN = {FIRMWARE / "boot.py", MANIFEST}  # /boot.py stays empty on the flash on purpose


class Options:
    """makemanifest's IncludeOptions: include() keyword arguments over defaults()."""

    def __init__(self, **given: Any) -> None:
        self._given = given
        self._defaults: dict[str, Any] = {}

    def defaults(self, **values: Any) -> None:
        self._defaults = values

    def __getattr__(self, name: str) -> Any:
        return self._given.get(name, self._defaults.get(name))


def frozen(**options: Any) -> tuple[list[str], set[Path]]:
    """(manifests included, files frozen) when the manifest is run with these include() options."""
    included: list[str] = []
    files: set[Path] = set()

    def package(path: str, base_path: str = ".") -> None:
        files.update((FIRMWARE / base_path / path).rglob("*.py"))

    def module(path: str, base_path: str = ".") -> None:
        files.add(FIRMWARE / base_path / path)

    exec(MANIFEST.read_text(), {"options": Options(**options), "include": included.append, "package": package,
                                "module": module})
    return included, {f.resolve() for f in files}


def firmware_files() -> set[Path]:
    return {p.resolve() for p in FIRMWARE.rglob("*.py") if p not in NOT_FROZEN}


def test_freezes_every_firmware_module_and_main() -> None:
    _, files = frozen()
    assert files == firmware_files()
    assert all(f.exists() for f in files)


def test_includes_the_ports_own_manifest_unless_told_not_to() -> None:
    # On the ESP32 the port's manifest brings _boot.py (it mounts the filesystem) and asyncio.
    assert frozen()[0] == ["$(PORT_DIR)/boards/manifest.py"]
    included, files = frozen(port_manifest=False)
    assert included == []
    assert files == firmware_files()
