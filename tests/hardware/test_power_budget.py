"""hardware.power_budget: the arithmetic, its sources, and the README's copy of the table."""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from hardware import board as boardfile
from hardware import power_budget as pb

ROOT = Path(__file__).resolve().parents[2]
BASES = {"datasheet", "vendor-measured", "derived", "estimate", "assumption", "measured"}


@pytest.fixture
def data() -> dict[str, Any]:
    return copy.deepcopy(pb.load_data())


def scenario(data: dict[str, Any], name_start: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in data["scenarios"] if s["name"].startswith(name_start))
    return found


def test_the_readme_table_is_what_the_script_prints() -> None:
    readme = pb.README_PATH.read_text(encoding="utf-8")
    budget = pb.render(pb.load_data(), boardfile.load())
    assert pb.readme_with(readme, budget) == readme
    assert budget in readme


def test_check_cli_agrees() -> None:
    result = subprocess.run([sys.executable, "-m", "hardware.power_budget", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_figure_names_its_source_and_basis(data: dict[str, Any]) -> None:
    entries: list[dict[str, Any]] = [*data["loads"].values(), *data["peaks"].values(), *data["duty"].values(),
                                     *data["battery"].values(), data["margin_percent"]]
    for modem in data["modems"].values():
        entries += modem.values()
    for entry in entries:
        assert entry["basis"] in BASES, entry
        assert len(entry["source"]) > 10, entry


def test_the_average_is_the_sum_of_the_loads_plus_the_margin(data: dict[str, Any]) -> None:
    board = boardfile.load()
    first = data["scenarios"][0]
    found = pb.loads(data, board, first)
    total = sum((load.ua * load.duty for load in found), Fraction(0))
    assert pb.average_ua(data, found) == total * Fraction(120, 100)


def test_a_hand_worked_budget(data: dict[str, Any]) -> None:
    # Round numbers so the expected result can be worked out by hand.
    data["margin_percent"]["value"] = 0
    data["battery"]["cells_parallel"]["value"] = 1
    data["battery"]["cell_mah"]["value"] = 1000
    data["battery"]["usable_percent"]["value"] = 100
    for key in data["loads"]:
        data["loads"][key]["ua"] = 0
    data["loads"]["esp32_cpu"]["ua"] = 40000
    modem = data["modems"]["A7670E"]
    modem["idle_ua"]["value"] = 10000
    modem["data_ua"]["value"] = 100000
    modem["data_ms_per_message"]["value"] = 3000
    board = boardfile.load()
    cell = {"modem": "A7670E", "wifi": "down", "link": "cell", "heartbeat_s": 30, "gps": "duty"}
    # 40 mA CPU + 10 mA idle + (100 - 10) mA for 3 s of every 30 s = 59 mA, plus the board's resistors:
    # tamper and status pull-ups 3.3 V / 100k = 33 uA each, battery divider 4.2 V / 200k = 21 uA.
    average = pb.average_ua(data, pb.loads(data, board, cell))
    assert average == Fraction(59000 + 33 + 33 + 21)
    assert pb.standby_hours(data, average) == Fraction(1000 * 1000, 59087)


def test_a_cellular_link_costs_more_than_wifi_and_a_longer_heartbeat_less(data: dict[str, Any]) -> None:
    board = boardfile.load()
    hours = {s["name"]: pb.standby_hours(data, pb.average_ua(data, pb.loads(data, board, s)))
             for s in data["scenarios"]}
    over_lte = hours[scenario(data, "router down too")["name"]]
    assert hours[scenario(data, "router on its own UPS")["name"]] > over_lte
    assert hours[scenario(data, "what-if")["name"]] > over_lte
    assert hours[scenario(data, "router down, GPS kept on")["name"]] < over_lte


def test_resistor_drain_comes_from_board_json(data: dict[str, Any]) -> None:
    board = boardfile.load()
    loads = {load.name: load for load in pb.loads(data, board, data["scenarios"][0])}
    battery = board["functions"]["battery"]
    assert loads["battery divider (full cell)"].ua == Fraction(battery["max_mv"] * 1000,
                                                               battery["r_top"] + battery["r_bottom"])
    tamper_ohm = board["functions"]["tamper"]["external"]["ohm"]
    assert loads["tamper pull-up (lid closed)"].ua == Fraction(3300 * 1000, tamper_ohm)


def test_the_peak_is_the_modem_burst_plus_the_3v3_rail(data: dict[str, Any]) -> None:
    peaks = pb.peaks(data, "A7670E")
    assert peaks[0].ma == 2000
    assert peaks[1].ma == 500 + 67 + 8 + 5
    assert peaks[2].ma == peaks[0].ma + peaks[1].ma


def test_the_headline_states_hours_and_peak() -> None:
    budget = pb.render(pb.load_data(), boardfile.load())
    headline = next(line for line in budget.splitlines() if line.startswith("**Headline:**"))
    assert " h** on its battery" in headline
    assert " A** peaks" in headline


def test_the_gps_duty_cycle_is_the_firmwares_policy(data: dict[str, Any]) -> None:
    # The budget's GPS window and period are the constants firmware/panic/gpspower.py runs with.
    tree = ast.parse((ROOT / "firmware" / "panic" / "gpspower.py").read_text())
    # Written as MicroPython constants: `_ON_S = const(60)`.
    policy = {node.targets[0].id: ast.literal_eval(node.value.args[0]) for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
              and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "const"}
    assert data["duty"]["gps_on_s"]["value"] == policy["_ON_S"]
    assert data["duty"]["gps_period_s"]["value"] == policy["_PERIOD_S"]
    gps = next(load for load in pb.loads(data, boardfile.load(), data["scenarios"][0]) if load.name.startswith("GPS"))
    assert gps.duty == Fraction(policy["_ON_S"], policy["_PERIOD_S"])
