"""hardware.validate: the real board passes; each documented ESP32 mistake is rejected.

Every mistake test mutates a fresh copy of the real hardware/board.json, so the
test also proves that nothing else in the file trips the validator: the list of
codes must be exactly the one expected.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hardware import board as boardfile
from hardware.validate import REQUIRED, Problem, validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def board() -> dict[str, Any]:
    return copy.deepcopy(boardfile.load())


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def only(problems: list[Problem], code: str) -> Problem:
    assert codes(problems) == [code], "\n".join(map(str, problems))
    return problems[0]


def test_the_real_board_passes(board: dict[str, Any]) -> None:
    assert validate(board) == []


def test_the_real_board_has_every_function_the_firmware_needs(board: dict[str, Any]) -> None:
    for name, kind in REQUIRED.items():
        assert board["functions"][name]["kind"] == kind


def test_flash_pins_are_rejected(board: dict[str, Any]) -> None:
    board["functions"]["led_fault"]["gpio"] = 6
    problem = only(validate(board), "flash-pin")
    assert problem.where == "led_fault"
    assert "SPI flash" in problem.message


def test_an_output_on_an_input_only_pin_is_rejected(board: dict[str, Any]) -> None:
    functions = board["functions"]
    functions["led_fault"]["gpio"], functions["tamper"]["gpio"] = 39, 19
    del functions["tamper"]["wake"]  # GPIO 19 is not an RTC pin; that is another test
    problem = only(validate(board), "input-only-output")
    assert problem.where == "led_fault"
    assert "GPIO 39 is input-only" in problem.message


def test_a_uart_tx_on_an_input_only_pin_is_rejected(board: dict[str, Any]) -> None:
    functions = board["functions"]
    functions["gps"]["tx"], functions["modem_ri"]["gpio"] = 36, 25
    problem = only(validate(board), "input-only-output")
    assert problem.where == "gps.tx"


def test_an_internal_pull_on_an_input_only_pin_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["tamper"]["pull"] = "up"
    problem = only(validate(board), "input-only-pull")
    assert problem.where == "tamper"
    assert "no internal pull-up" in problem.message


def test_an_input_only_pin_without_a_noted_external_resistor_is_rejected(board: dict[str, Any]) -> None:
    del board["functions"]["tamper"]["external"]
    problem = only(validate(board), "input-only-no-resistor")
    assert problem.where == "tamper"
    assert "external pull resistor" in problem.message


def test_gpio12_pulled_high_is_rejected_because_it_selects_1v8_flash(board: dict[str, Any]) -> None:
    # modem_status has an external pull-up: on GPIO 12 that sets VDD_SDIO to 1.8 V.
    board["functions"]["modem_status"]["gpio"] = 12
    problem = only(validate(board), "strap-level")
    assert problem.where == "modem_status"
    assert "1.8 V flash" in problem.message


def test_an_active_low_button_on_gpio0_is_rejected_because_a_press_at_reset_enters_download_mode(
    board: dict[str, Any],
) -> None:
    board["functions"]["sos_button"]["gpio"] = 0
    problem = only(validate(board), "strap-level")
    assert problem.where == "sos_button"
    assert "download mode" in problem.message


def test_a_pull_down_on_gpio0_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["modem_pwrkey"]["gpio"] = 0  # its 100k base pull-down would hold GPIO 0 low
    problem = only(validate(board), "strap-level")
    assert problem.where == "modem_pwrkey"


def test_a_uart_receiving_on_gpio2_is_rejected_because_the_line_idles_high(board: dict[str, Any]) -> None:
    board["functions"]["gps"]["rx"] = 2
    problem = only(validate(board), "strap-level")
    assert problem.where == "gps.rx"
    assert "GPIO 2" in problem.message


def test_an_analog_input_on_adc2_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["battery"]["gpio"] = 15
    problem = only(validate(board), "adc2")
    assert problem.where == "battery"
    assert "Wi-Fi" in problem.message
    assert "ADC2 channel 3" in problem.message


def test_the_console_pins_are_rejected(board: dict[str, Any]) -> None:
    board["functions"]["gps"]["rx"] = 3
    problem = only(validate(board), "console-uart")
    assert problem.where == "gps.rx"
    assert "console" in problem.message


def test_uart0_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["modem"]["id"] = 0
    problem = only(validate(board), "console-uart")
    assert problem.where == "modem"


def test_one_pin_for_two_functions_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["led_fault"]["gpio"] = 18
    problem = only(validate(board), "pin-conflict")
    assert problem.where == "led_fault"
    assert "already used by led_status" in problem.message


def test_uart_tx_and_rx_on_the_same_pin_are_rejected(board: dict[str, Any]) -> None:
    board["functions"]["gps"]["rx"] = 25
    problem = only(validate(board), "pin-conflict")
    assert problem.where == "gps.rx"


def test_a_wake_button_off_the_rtc_domain_is_rejected(board: dict[str, Any]) -> None:
    functions = board["functions"]
    functions["sos_button"]["gpio"], functions["led_fault"]["gpio"] = 19, 27
    problem = only(validate(board), "wake-not-rtc")
    assert problem.where == "sos_button"
    assert "deep sleep" in problem.message


def test_a_float_divider_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["battery"]["r_top"] = 100000.0
    problem = only(validate(board), "divider-not-integer")
    assert "r_top" in problem.message


def test_a_divider_that_overdrives_the_adc_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["battery"]["r_top"] = 10000
    problem = only(validate(board), "adc-range")
    assert "3818 mV at the pin" in problem.message


def test_a_missing_function_is_rejected(board: dict[str, Any]) -> None:
    del board["functions"]["tamper"]
    problem = only(validate(board), "missing-function")
    assert problem.where == "tamper"


def test_an_unknown_modem_is_rejected(board: dict[str, Any]) -> None:
    board["modem"]["model"] = "SIM900"
    problem = only(validate(board), "modem-model")
    assert "SIM900" in problem.message


def test_a_modem_logic_level_that_contradicts_the_model_is_rejected(board: dict[str, Any]) -> None:
    board["modem"]["uart_mv"] = 3300
    problem = only(validate(board), "modem-model")
    assert "1800" in problem.message


def test_a_low_voltage_uart_without_a_level_shifter_is_rejected(board: dict[str, Any]) -> None:
    del board["functions"]["modem"]["level_shifter"]
    problem = only(validate(board), "level-shift")
    assert "1800 mV" in problem.message


def test_a_pin_the_module_does_not_bring_out_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["tamper"]["gpio"] = 38  # exists on the chip, not on a WROOM-32E pad
    problem = only(validate(board), "not-on-module")
    assert "ESP32-WROOM-32E" in problem.message


def test_a_gpio_the_chip_does_not_have_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["led_fault"]["gpio"] = 20
    assert codes(validate(board)) == ["no-such-gpio"]


def test_a_boolean_active_level_is_rejected(board: dict[str, Any]) -> None:
    board["functions"]["led_status"]["active"] = True
    assert codes(validate(board)) == ["bad-field"]


def test_two_functions_on_one_uart_are_rejected(board: dict[str, Any]) -> None:
    board["functions"]["gps"]["id"] = 2
    problem = only(validate(board), "uart-id")
    assert problem.where == "modem"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardware.validate", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_cli_accepts_the_real_board() -> None:
    result = run_cli()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK ")


def test_the_cli_prints_each_error_and_exits_non_zero(board: dict[str, Any], tmp_path: Path) -> None:
    board["functions"]["led_fault"]["gpio"] = 7
    board["functions"]["battery"]["gpio"] = 15
    bad = tmp_path / "board.json"
    bad.write_text(json.dumps(board))
    result = run_cli(str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "ERROR [flash-pin] led_fault: GPIO 7 is wired to the SPI flash (GPIO 6-11 are not usable)" in lines
    assert any(line.startswith("ERROR [adc2] battery: GPIO 15") for line in lines)


def test_the_cli_reports_unreadable_json(tmp_path: Path) -> None:
    bad = tmp_path / "board.json"
    bad.write_text("{not json")
    result = run_cli(str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith("ERROR [schema]")
