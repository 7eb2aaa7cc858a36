"""Check a board definition against the ESP32's documented pin constraints.

    python -m hardware.validate [board.json]

prints one line per problem, ``ERROR [code] function: message``, and exits 1 when
there is any; it exits 0 and prints a one-line summary for a good file. Every
problem has a stable code (tests assert on it):

    schema, bad-kind, bad-field, missing-function   the file's shape
    no-such-gpio, not-on-module                     the GPIO does not exist / is not brought out
    flash-pin                                       GPIO 6-11 belong to the SPI flash
    console-uart                                    GPIO 1/3 or UART0: the USB console
    pin-conflict                                    one GPIO, two jobs
    input-only-output                               GPIO 34-39 cannot drive
    input-only-pull, input-only-no-resistor         GPIO 34-39 have no internal pulls
    strap-level                                     a strapping pin held at a level that breaks booting
    wake-not-rtc                                    a wake source must be an RTC GPIO
    adc2, adc-range, divider-not-integer            analog inputs
    uart-id, level-shift                            UARTs
    modem-model                                     the firmware only knows some modems

The firmware's own loader (firmware/panic/boarddef.py) only checks the shape;
this is the full check, run before a file is copied to a device.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hardware import esp32, modems
from hardware.board import BOARD_PATH


@functools.cache
def firmware_loader() -> ModuleType:
    """The firmware's own loader (firmware/panic/boarddef.py) under CPython: plain Python, it imports only
    os, json and micropython.const."""
    path = Path(__file__).resolve().parents[1] / "firmware" / "panic" / "boarddef.py"
    spec = importlib.util.spec_from_file_location("_firmware_boarddef", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _firmware_required() -> dict[str, str]:
    """Function name -> kind, read from the firmware's own loader: one list for both runtimes."""
    return dict(firmware_loader().REQUIRED)


REQUIRED = _firmware_required()
WAKE_BUTTON = "sos_button"
STANDARD_BAUDS = frozenset([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600])
ESP32_LOGIC_MV = 3300


@dataclass(frozen=True)
class Problem:
    code: str
    where: str  # function name, or "board" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"ERROR [{self.code}] {self.where}: {self.message}"


@dataclass(frozen=True)
class Use:
    """One GPIO taken by one function ("role" is "pin", "tx", "rx" or "adc")."""

    function: str
    role: str
    gpio: int
    drives: bool  # the ESP32 outputs on it
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return self.function if self.role == "pin" else f"{self.function}.{self.role}"


def _is_int(value: object) -> bool:
    return _as_int(value) is not None


def _as_int(value: object) -> int | None:
    """The value if it is a true integer: bool is an int subclass, and 1.0 is not a pin number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def validate(board: object) -> list[Problem]:
    """Every problem found, in a stable order; an empty list means the board is good."""
    if not isinstance(board, dict):
        return [Problem("schema", "board", "the top level must be a JSON object")]
    problems = list(_check_top(board))
    functions = board.get("functions")
    if not isinstance(functions, dict):
        return [*problems, Problem("schema", "board", "\"functions\" must be an object")]
    problems += _check_required(functions)
    uses: list[Use] = []
    for name, spec in functions.items():
        found, shape = _shape(name, spec)
        problems += shape
        uses += found
    module = esp32.MODULES.get(str(board.get("module")))
    for use in uses:
        problems += _check_use(use, module)
    problems += _check_conflicts(uses)
    for name, spec in functions.items():
        if isinstance(spec, dict) and not any(p.where == name and p.code == "bad-field" for p in problems):
            problems += _check_function(name, spec, board)
    problems += _check_uart_ids(functions)
    return problems


def _check_top(board: dict[str, Any]) -> Iterator[Problem]:
    if not isinstance(board.get("name"), str) or not board["name"]:
        yield Problem("schema", "board", "\"name\" must be a non-empty string")
    if board.get("module") not in esp32.MODULES:
        known = ", ".join(sorted(esp32.MODULES))
        yield Problem("schema", "board", f"\"module\" must be one of: {known}")
    modem = board.get("modem")
    model = modem.get("model") if isinstance(modem, dict) else None
    if model not in modems.SUPPORTED:
        known = ", ".join(sorted(modems.SUPPORTED))
        yield Problem("modem-model", "board", f"modem.model {model!r} is not one the firmware supports ({known})")
    elif isinstance(modem, dict) and modem.get("uart_mv") != modems.SUPPORTED[str(model)].uart_mv:
        want = modems.SUPPORTED[str(model)].uart_mv
        yield Problem("modem-model", "board", f"modem.uart_mv must be {want} for the {model}")


def _check_required(functions: dict[str, Any]) -> Iterator[Problem]:
    for name, kind in REQUIRED.items():
        spec = functions.get(name)
        if spec is None:
            yield Problem("missing-function", name, f"the firmware needs a {kind} function named {name}")
        elif isinstance(spec, dict) and spec.get("kind") != kind:
            yield Problem("bad-kind", name, f"must be kind {kind!r}, not {spec.get('kind')!r}")


def _shape(name: str, spec: object) -> tuple[list[Use], list[Problem]]:
    """The GPIOs a function uses, and problems with its fields."""
    if not isinstance(spec, dict):
        return [], [Problem("schema", name, "must be an object")]
    kind = spec.get("kind")
    if kind == "digital":
        return _shape_digital(name, spec)
    if kind == "uart":
        return _shape_uart(name, spec)
    if kind == "adc":
        return _shape_adc(name, spec)
    return [], [Problem("bad-kind", name, f"kind must be digital, uart or adc, not {kind!r}")]


def _shape_digital(name: str, spec: dict[str, Any]) -> tuple[list[Use], list[Problem]]:
    problems = []
    if spec.get("dir") not in ("in", "out"):
        problems.append(Problem("bad-field", name, f"dir must be \"in\" or \"out\", not {spec.get('dir')!r}"))
    if spec.get("pull") not in ("up", "down", None):
        problems.append(Problem("bad-field", name, f"pull must be \"up\", \"down\" or null, not {spec.get('pull')!r}"))
    if spec.get("active") not in (0, 1) or not _is_int(spec.get("active")):
        problems.append(Problem("bad-field", name, f"active must be 0 or 1, not {spec.get('active')!r}"))
    external = spec.get("external")
    if external is not None and not _external_ok(external):
        problems.append(Problem("bad-field", name, "external must be {\"pull\": \"up\"|\"down\", \"ohm\": <int>, ...}"))
    if not _is_int(spec.get("gpio")):
        return [], [*problems, Problem("bad-field", name, f"gpio must be an integer, not {spec.get('gpio')!r}")]
    return [Use(name, "pin", spec["gpio"], spec.get("dir") == "out", spec)], problems


def _external_ok(external: object) -> bool:
    return (
        isinstance(external, dict)
        and external.get("pull") in ("up", "down")
        and (_as_int(external.get("ohm")) or 0) > 0
    )


def _shape_uart(name: str, spec: dict[str, Any]) -> tuple[list[Use], list[Problem]]:
    problems = []
    uses = []
    for role, drives in (("tx", True), ("rx", False)):
        if _is_int(spec.get(role)):
            uses.append(Use(name, role, spec[role], drives, spec))
        else:
            problems.append(Problem("bad-field", name, f"{role} must be an integer GPIO, not {spec.get(role)!r}"))
    if not _is_int(spec.get("id")) or spec["id"] not in (0, 1, 2):
        problems.append(Problem("bad-field", name, f"id must be 0, 1 or 2, not {spec.get('id')!r}"))
    if spec.get("baud") not in STANDARD_BAUDS or not _is_int(spec.get("baud")):
        problems.append(Problem("bad-field", name, f"baud {spec.get('baud')!r} is not a standard rate"))
    return uses, problems


def _shape_adc(name: str, spec: dict[str, Any]) -> tuple[list[Use], list[Problem]]:
    problems = []
    for key in ("r_top", "r_bottom", "max_mv"):
        value = spec.get(key)
        number = _as_int(value)
        if number is None or number < (1 if key != "r_top" else 0):
            problems.append(Problem(
                "divider-not-integer", name,
                f"{key} must be a whole number of {'mV' if key == 'max_mv' else 'ohms'} (exact on a "
                f"single-precision device), not {value!r}",
            ))
    if spec.get("atten_db") not in esp32.ADC_RANGE_MV or not _is_int(spec.get("atten_db")):
        problems.append(Problem("bad-field", name, f"atten_db must be one of 0, 6, 11, not {spec.get('atten_db')!r}"))
    if not _is_int(spec.get("gpio")):
        return [], [*problems, Problem("bad-field", name, f"gpio must be an integer, not {spec.get('gpio')!r}")]
    return [Use(name, "adc", spec["gpio"], False, spec)], problems


def _check_use(use: Use, module: esp32.Module | None) -> Iterator[Problem]:
    """Constraints that follow from the GPIO alone."""
    gpio = use.gpio
    if gpio not in esp32.GPIOS:
        yield Problem("no-such-gpio", use.label, f"the ESP32 has no GPIO {gpio}")
        return
    if gpio in esp32.FLASH_PINS:
        yield Problem("flash-pin", use.label, f"GPIO {gpio} is wired to the SPI flash (GPIO 6-11 are not usable)")
        return
    if module is not None and gpio not in module.gpios():
        yield Problem("not-on-module", use.label, f"GPIO {gpio} is not brought out on the {module.name}")
    if gpio in esp32.CONSOLE_PINS:
        yield Problem("console-uart", use.label, f"GPIO {gpio} is UART0, the USB serial console and boot log")
    if use.drives and gpio in esp32.INPUT_ONLY:
        yield Problem("input-only-output", use.label, f"GPIO {gpio} is input-only (34-39) and cannot drive an output")


def _check_conflicts(uses: list[Use]) -> Iterator[Problem]:
    first: dict[int, Use] = {}
    for use in uses:
        if use.gpio in first:
            yield Problem("pin-conflict", use.label, f"GPIO {use.gpio} is already used by {first[use.gpio].label}")
        else:
            first[use.gpio] = use


def _check_function(name: str, spec: dict[str, Any], board: dict[str, Any]) -> Iterator[Problem]:
    kind = spec.get("kind")
    if kind == "digital":
        yield from _check_digital(name, spec)
    elif kind == "adc":
        yield from _check_adc(name, spec)
    elif kind == "uart":
        yield from _check_uart(name, spec, board)


def _check_digital(name: str, spec: dict[str, Any]) -> Iterator[Problem]:
    gpio = spec["gpio"]
    external = spec.get("external")
    bias = external.get("pull") if isinstance(external, dict) else None
    if gpio in esp32.INPUT_ONLY and spec.get("dir") == "in":
        if spec.get("pull") is not None:
            yield Problem("input-only-pull", name,
                          f"GPIO {gpio} has no internal pull-{spec['pull']}: "
                          "set pull to null and fit an external resistor")
        if bias is None:
            yield Problem("input-only-no-resistor", name,
                          f"GPIO {gpio} is input-only without internal pulls: note the external pull resistor "
                          "under \"external\" (e.g. {\"pull\": \"up\", \"ohm\": 10000})")
    strap = esp32.STRAPS.get(gpio)
    if strap is not None:
        yield from _check_strap(name, spec, strap, bias)
    needs_wake = name == WAKE_BUTTON or spec.get("wake") is True
    if needs_wake and gpio not in esp32.RTC_GPIOS:
        yield Problem("wake-not-rtc", name,
                      f"GPIO {gpio} is not an RTC GPIO, so it cannot wake the chip from deep sleep "
                      f"(RTC GPIOs: {', '.join(str(g) for g in sorted(esp32.RTC_GPIOS))})")


def _check_strap(name: str, spec: dict[str, Any], strap: esp32.Strap, bias: object) -> Iterator[Problem]:
    # Internal pulls do not matter here: the firmware sets them after the straps are latched.
    biased_level = {"up": 1, "down": 0}.get(str(bias))
    if biased_level is not None and biased_level != strap.safe_level:
        yield Problem("strap-level", name,
                      f"strapping pin GPIO {strap.gpio} is pulled {bias} by the circuit; {strap.consequence}")
    elif spec.get("dir") == "in" and spec.get("active") != strap.safe_level:
        yield Problem("strap-level", name,
                      f"strapping pin GPIO {strap.gpio}: this input is active {spec.get('active')}, so using it "
                      f"while the unit powers up or resets holds it there; {strap.consequence}")


def _check_adc(name: str, spec: dict[str, Any]) -> Iterator[Problem]:
    gpio = spec["gpio"]
    if gpio not in esp32.ADC1_CHANNELS:
        where = f"ADC2 channel {esp32.ADC2_CHANNELS[gpio]}" if gpio in esp32.ADC2_CHANNELS else "not an ADC pin"
        yield Problem("adc2", name,
                      f"GPIO {gpio} is {where}: ADC2 cannot be read while Wi-Fi is on; use ADC1 (GPIO 32-39)")
    r_top, r_bottom, max_mv = _as_int(spec.get("r_top")), _as_int(spec.get("r_bottom")), _as_int(spec.get("max_mv"))
    atten = _as_int(spec.get("atten_db"))
    if r_top is not None and r_bottom and max_mv is not None and atten in esp32.ADC_RANGE_MV:
        limit = esp32.ADC_RANGE_MV[atten]
        # Integer comparison of max_mv * r_bottom / (r_top + r_bottom) <= limit.
        if max_mv * r_bottom > limit * (r_top + r_bottom):
            at_pin = max_mv * r_bottom // (r_top + r_bottom)
            yield Problem("adc-range", name,
                          f"{max_mv} mV through {r_top}/{r_bottom} ohms gives {at_pin} mV at the pin, above the "
                          f"{limit} mV range at {atten} dB")


def _check_uart(name: str, spec: dict[str, Any], board: dict[str, Any]) -> Iterator[Problem]:
    if spec.get("id") == esp32.CONSOLE_UART_ID:
        yield Problem("console-uart", name, "UART0 is the USB serial console and boot log; use UART1 or UART2")
    rx = _as_int(spec.get("rx"))
    strap = esp32.STRAPS.get(rx) if rx is not None else None
    if strap is not None and strap.safe_level == 0:
        yield Problem("strap-level", f"{name}.rx",
                      f"strapping pin GPIO {strap.gpio} receives a UART line, which idles high; {strap.consequence}")
    logic_mv = spec.get("logic_mv", ESP32_LOGIC_MV)
    if name == "modem":
        modem = board.get("modem")
        logic_mv = modem.get("uart_mv", logic_mv) if isinstance(modem, dict) else logic_mv
    if logic_mv != ESP32_LOGIC_MV and not spec.get("level_shifter"):
        yield Problem("level-shift", name,
                      f"the device's UART runs at {logic_mv} mV and the ESP32's at {ESP32_LOGIC_MV} mV: "
                      "name the level shifter under \"level_shifter\"")


def _check_uart_ids(functions: dict[str, Any]) -> Iterator[Problem]:
    seen: dict[int, str] = {}
    for name, spec in functions.items():
        if not isinstance(spec, dict) or spec.get("kind") != "uart" or not _is_int(spec.get("id")):
            continue
        if spec["id"] in seen:
            yield Problem("uart-id", name, f"UART{spec['id']} is already used by {seen[spec['id']]}")
        else:
            seen[spec["id"]] = name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hardware.validate", description="Check a board definition against the ESP32 pin constraints."
    )
    parser.add_argument("board", nargs="?", type=Path, default=BOARD_PATH, help="board.json to check")
    args = parser.parse_args(argv)
    try:
        board = json.loads(args.board.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"ERROR [schema] board: cannot read {args.board}: {e}")
        return 1
    problems = validate(board)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.board}: {len(problems)} problem(s)")
        return 1
    print(f"OK {args.board}: {board['name']}, {len(board['functions'])} functions, modem {board['modem']['model']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
