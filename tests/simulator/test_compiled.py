"""The simulator runs the firmware compiled, as a unit does; `--from-source` runs the .py files.

Before the simulator compiled anything, MicroPython compiled the firmware
and the simulator's own modules on the 110 KB heap at every boot, and the
button booted with a few hundred bytes to spare.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.button import FROM_SOURCE_ENV, SimulatedButton
from tests.simulator.gateway import Gateway

MakeButton = Callable[..., SimulatedButton]
FIRMWARE_FILE = r"sim: firmware file=\"(?P<path>[^\"]+)\""


def python_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*.py") if "__pycache__" not in p.parts]


def test_the_button_runs_the_compiled_firmware(make_button: MakeButton, gateway: Gateway) -> None:
    button = make_button()
    loaded = Path(button.wait_for_log(FIRMWARE_FILE)["path"])
    assert loaded.name == "__init__.mpy" and loaded.parent.name == "panic"
    # Nothing the device process can import is source: not its MICROPYPATH, not its flash (its working dir).
    assert button.pid is not None
    environ = dict(entry.split("=", 1) for entry in
                   Path(f"/proc/{button.pid}/environ").read_text().split("\0") if "=" in entry)
    search = environ["MICROPYPATH"].split(":")
    assert search == [str(loaded.parents[1]), ".frozen"]  # .frozen: the port's built-in modules
    assert python_files(loaded.parents[1]) == []
    assert Path(f"/proc/{button.pid}/cwd").resolve() == button.flash_dir
    assert python_files(button.flash_dir) == []
    button.wait_for_indicator("idle")
    button.press(2500)
    alert = gateway.verified(gateway.expect("alert"))
    assert alert["type"] == "sos"
    gateway.ack(alert["seq"])
    button.wait_for_indicator("received")


@pytest.mark.xfail(strict=True, reason="KNOWN SHORT (docs/benchmarks.md, 'Still short'): since the GPS, gestures, "
                   "commands and console were merged the compiled button boots at about 103K, not 100K; "
                   "the 110K checks pass. Remove this marker when the margin is back.")
def test_compiled_firmware_boots_with_room_to_spare(make_button: MakeButton, gateway: Gateway) -> None:
    """10 KB less than the ESP32's 110 KB heap still boots and delivers (from .py it needed all of it)."""
    button = make_button(heapsize="100K")
    button.wait_for_indicator("idle")
    heap = button.heap()
    print(f"heap after boot, 100K heap: {heap}")
    assert heap["largest_free"] > 0 and heap["free"] >= heap["largest_free"]
    button.press(2500)
    gateway.ack(gateway.verified(gateway.expect("alert"))["seq"])
    button.wait_for_indicator("received")


def test_from_source_runs_the_py_files(make_button: MakeButton) -> None:
    button = make_button(from_source=True)
    loaded = Path(button.wait_for_log(FIRMWARE_FILE)["path"])
    assert loaded.name == "__init__.py" and loaded.parent == button.firmware_dir / "panic"
    button.wait_for_indicator("idle")


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), ("", False)])
def test_from_source_by_environment(
    value: str, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FROM_SOURCE_ENV, value)
    assert SimulatedButton(tmp_path).from_source is expected
    assert SimulatedButton(tmp_path, from_source=False).from_source is False


def test_panic_sim_from_source_flag(tmp_path: Path) -> None:
    """`panic-sim run --from-source` on an unprovisioned flash: the .py firmware starts.

    `quit` goes in only once the app has said so: sent with the rest of stdin at
    once it could stop the device between its `hello` and the app's first line.
    """
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("panic-sim")), "run", "--flash", str(tmp_path / "flash"), "--from-source"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    timer = threading.Timer(60, process.kill)  # a hung simulator fails the test instead of blocking it
    timer.start()
    try:
        process.stdin.write("status\n")
        process.stdin.flush()
        lines = []
        for line in process.stdout:
            lines.append(line)
            if " app: starting" in line:
                break
        process.stdin.write("quit\n")
        process.stdin.flush()
        out, err = process.communicate()
    finally:
        timer.cancel()
    stdout = "".join(lines) + out
    assert process.returncode == 0, stdout + err
    assert 'firmware/panic/__init__.py"' in stdout, stdout
    assert " app: starting" in stdout, stdout
