"""Standby time on battery after a mains cut, and the peak currents the supply must deliver.

    python -m hardware.power_budget            # print the budget (Markdown)
    python -m hardware.power_budget --readme   # write it into hardware/README.md
    python -m hardware.power_budget --check    # exit 1 if README.md's copy is stale

Inputs: every current, with its source, in hardware/power_data.json; resistor
values (divider and pull-up drain) from hardware/board.json. All currents are at
the cell: the 3.3 V rail comes from a linear regulator, which draws from the cell
what it delivers plus its quiescent current. Arithmetic is exact (fractions)
until the final rounding, so the output is deterministic.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hardware import board as boardfile

HERE = Path(__file__).parent
DATA_PATH = HERE / "power_data.json"
README_PATH = HERE / "README.md"
BEGIN = "<!-- power-budget:begin -->"
END = "<!-- power-budget:end -->"
RAIL_MV = 3300


@dataclass(frozen=True)
class Load:
    """One line of the budget: a current drawn for a fraction of the time."""

    name: str
    ua: Fraction  # while on
    duty: Fraction  # 0..1
    basis: str
    source: str

    @property
    def average_ua(self) -> Fraction:
        return self.ua * self.duty


def load_data(path: Path = DATA_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _value(entry: dict[str, Any]) -> Fraction:
    return Fraction(entry["value"])


def loads(data: dict[str, Any], board: boardfile.Board, scenario: dict[str, Any]) -> list[Load]:
    """What draws current from the cell in this scenario, with each figure's source."""
    table = data["loads"]
    duty = data["duty"]
    modem = data["modems"][scenario["modem"]]
    heartbeat_ms = Fraction(scenario["heartbeat_s"] * 1000)

    def load(key: str, name: str, fraction: Fraction = Fraction(1)) -> Load:
        entry = table[key]
        return Load(name, Fraction(entry["ua"]), fraction, entry["basis"], entry["source"])

    found = [load("esp32_cpu", "ESP32 CPU (160 MHz, asyncio firmware)")]
    if scenario["wifi"] == "up":
        found.append(load("esp32_wifi_listen", "ESP32 Wi-Fi associated (DTIM1 beacons)"))
        found.append(load("esp32_wifi_tx", "ESP32 Wi-Fi transmit per heartbeat",
                          table["esp32_wifi_tx"]["ms_per_message"] / heartbeat_ms))
    else:
        retry_ms = _value(duty["wifi_retry_s"]) * 1000
        tries = table["esp32_wifi_scan"]["ms_per_try"] / retry_ms
        found.append(load("esp32_wifi_scan", "ESP32 Wi-Fi reconnect tries", tries))
    idle = modem["idle_ua"]
    name = f"{scenario['modem']} registered, idle"
    found.append(Load(name, _value(idle), Fraction(1), idle["basis"], idle["source"]))
    if scenario["link"] == "cell":
        data_ua, data_ms = modem["data_ua"], modem["data_ms_per_message"]
        found.append(Load(
            f"{scenario['modem']} connected after each heartbeat (above idle)",
            _value(data_ua) - _value(idle), _value(data_ms) / heartbeat_ms,
            "estimate" if "estimate" in (data_ua["basis"], data_ms["basis"]) else "datasheet",
            f"{data_ua['source']}; {data_ms['source']}",
        ))
    gps_duty = Fraction(1) if scenario["gps"] == "on" else _value(duty["gps_on_s"]) / _value(duty["gps_period_s"])
    gps_name = "GPS kept on" if scenario["gps"] == "on" else (
        f"GPS duty cycle ({duty['gps_on_s']['value']} s every {_fmt(_value(duty['gps_period_s']) / 60, 0)} min, "
        "firmware/panic/gpspower.py)")
    found.append(load("gps", gps_name, gps_duty))
    found.append(load("led", "status LED flashes", _value(duty["led_per_mille"]) / 1000))
    found.append(load("ldo_quiescent", "3.3 V regulator U3"))
    found += _resistor_loads(board)
    return found


def _resistor_loads(board: boardfile.Board) -> list[Load]:
    """Current through the resistors that conduct all the time, from board.json's values."""
    functions = boardfile.functions(board)
    battery = functions["battery"]
    divider = Fraction(battery["max_mv"] * 1000, battery["r_top"] + battery["r_bottom"])
    found = [Load("battery divider (full cell)", divider, Fraction(1), "derived",
                  f"{battery['max_mv']} mV / ({battery['r_top']} + {battery['r_bottom']}) ohm, board.json")]
    # Closed lid: SW2 shorts the tamper pull-up. Modem on: Q3 shorts the status pull-up.
    for name, why in (("tamper", "lid closed"), ("modem_status", "modem on")):
        ohm = functions[name]["external"]["ohm"]
        found.append(Load(f"{name} pull-up ({why})", Fraction(RAIL_MV * 1000, ohm), Fraction(1), "derived",
                          f"{RAIL_MV} mV / {ohm} ohm, board.json"))
    return found


def average_ua(data: dict[str, Any], found: list[Load]) -> Fraction:
    margin = _value(data["margin_percent"])
    return sum((item.average_ua for item in found), Fraction(0)) * (100 + margin) / 100


def usable_mah(data: dict[str, Any]) -> Fraction:
    battery = data["battery"]
    return _value(battery["cells_parallel"]) * _value(battery["cell_mah"]) * _value(battery["usable_percent"]) / 100


def standby_hours(data: dict[str, Any], average: Fraction) -> Fraction:
    return usable_mah(data) * 1000 / average


@dataclass(frozen=True)
class Peak:
    path: str
    ma: int
    made_of: str


def peaks(data: dict[str, Any], model: str) -> list[Peak]:
    p = data["peaks"]
    modem_ma = int(data["modems"][model]["peak_ma"]["value"])
    rail = sum(int(p[k]["value"]) for k in ("esp32_ma", "gps_ma", "led_ma", "buzzer_ma"))
    return [
        Peak("modem VBAT, straight from the cell", modem_ma, f"{model} transmit burst (577 us GSM slot)"),
        Peak("3.3 V rail (U3 MCP1826S, 1 A part)", rail,
             f"ESP32 {p['esp32_ma']['value']} + GPS {p['gps_ma']['value']} + LEDs {p['led_ma']['value']}"
             f" + buzzer {p['buzzer_ma']['value']} mA"),
        Peak("cell and protection board, both at once", modem_ma + rail, "the two above together"),
        Peak("mains adapter", int(p["charger_input_ma"]["value"]),
             "U2's input limit; bursts above it come from the cell (supplement mode)"),
    ]


def _fmt(value: Fraction, places: int) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _ma(ua: Fraction, places: int = 2) -> str:
    return f"{_fmt(ua / 1000, places)} mA"


def _duty(duty: Fraction) -> str:
    return "always" if duty == 1 else f"{_fmt(duty * 100, 2)} %"


def render(data: dict[str, Any], board: boardfile.Board) -> str:
    """The budget as Markdown: headline, scenarios, breakdown of the first one, peaks."""
    scenarios = data["scenarios"]
    results = []
    for scenario in scenarios:
        average = average_ua(data, loads(data, board, scenario))
        results.append((scenario, average, standby_hours(data, average)))
    first, first_avg, first_hours = results[0]
    peak_list = peaks(data, first["modem"])
    battery = data["battery"]
    lines = [
        "Generated by `python -m hardware.power_budget` from `hardware/power_data.json` and "
        "`hardware/board.json`; do not edit by hand.",
        "",
        f"**Headline:** after a mains cut with the router down too, the button keeps sending heartbeats over "
        f"LTE for **{_fmt(first_hours, 1)} h** on its battery; the cell must deliver "
        f"**{_fmt(Fraction(peak_list[2].ma, 1000), 2)} A** peaks (modem burst plus 3.3 V rail) and the "
        f"3.3 V regulator **{peak_list[1].ma} mA**.",
        "",
        f"Battery: {battery['cells_parallel']['value']} x {battery['cell_mah']['value']} mAh, "
        f"{battery['usable_percent']['value']} % usable = {_fmt(usable_mah(data), 0)} mAh. "
        f"Every average includes a {data['margin_percent']['value']} % margin.",
        "",
        "| scenario (mains lost) | modem | heartbeat | GPS | average at the cell | standby |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    duty = data["duty"]
    gps_duty = f"{duty['gps_on_s']['value']} s per {_fmt(_value(duty['gps_period_s']) / 60, 0)} min"
    for scenario, average, hours in results:
        gps = "always on" if scenario["gps"] == "on" else gps_duty
        lines.append(f"| {scenario['name']} | {scenario['modem']} | {scenario['heartbeat_s']} s | {gps} "
                     f"| {_ma(average, 1)} | {_fmt(hours, 1)} h |")
    lines += [
        "",
        f"Breakdown of the first scenario ({first['name']}):",
        "",
        "| load | current while on | duty | average | basis | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    breakdown = loads(data, board, first)
    for item in breakdown:
        lines.append(f"| {item.name} | {_ma(item.ua, 3)} | {_duty(item.duty)} | {_ma(item.average_ua, 3)} "
                     f"| {item.basis} | {item.source} |")
    subtotal = sum((item.average_ua for item in breakdown), Fraction(0))
    lines += [
        f"| sum | | | {_ma(subtotal, 3)} | | |",
        f"| with {data['margin_percent']['value']} % margin | | | {_ma(first_avg, 3)} | | |",
        "",
        "| supply path | peak | made of |",
        "| --- | --- | --- |",
    ]
    for peak in peak_list:
        lines.append(f"| {peak.path} | {peak.ma} mA | {peak.made_of} |")
    return "\n".join(lines) + "\n"


def readme_with(readme: str, budget: str) -> str:
    """README text with the budget between the markers replaced."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + budget + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware.power_budget", description="Battery standby and peaks")
    parser.add_argument("--readme", action="store_true", help="write the budget into hardware/README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if hardware/README.md's copy is stale")
    args = parser.parse_args(argv)
    budget = render(load_data(), boardfile.load())
    if not (args.readme or args.check):
        print(budget, end="")
        return 0
    readme = README_PATH.read_text(encoding="utf-8")
    updated = readme_with(readme, budget)
    if updated == readme:
        print("README.md power budget is up to date")
        return 0
    if args.check:
        print("README.md power budget is stale: run python -m hardware.power_budget --readme")
        return 1
    README_PATH.write_text(updated, encoding="utf-8")
    print(f"wrote the power budget into {README_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
