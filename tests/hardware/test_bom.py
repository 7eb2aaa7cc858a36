"""hardware/bom.csv: complete, exact prices, and consistent with board.json and the README."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from hardware import board as boardfile
from hardware import bom

README = bom.BOM_PATH.with_name("README.md")
# One line per part the brief asks for: a unit cannot be built without each of these.
REQUIRED_CATEGORIES = {
    "mcu", "gps", "modem", "button", "led", "buzzer", "battery", "charger", "regulator", "modem-capacitor",
    "enclosure", "tamper", "connector", "antenna", "level-shifter",
}
# Categories where a row's quantity is the number of designators it covers.
ONE_PER_DESIGNATOR = {"resistor", "capacitor", "transistor", "led", "modem-capacitor"}


def test_every_needed_kind_of_part_is_listed() -> None:
    assert {row.category for row in bom.load()} >= REQUIRED_CATEGORIES


def test_prices_are_exact_decimal_strings_and_quantities_whole() -> None:
    raw = bom.BOM_PATH.read_text(encoding="utf-8").splitlines()[1:]
    for line in raw:
        assert re.search(r",\d+,\d+\.\d\d,", line), line  # qty, then a price with exactly two decimals
    for row in bom.load():
        assert row.qty > 0
        assert row.unit_price > 0
        assert row.unit_price == row.unit_price.quantize(Decimal("0.01"))


def test_every_row_has_a_part_number_and_maker() -> None:
    for row in bom.load():
        assert row.mpn and row.manufacturer and row.description, row


def test_designators_are_unique() -> None:
    refs = [ref for row in bom.load() for ref in bom.designators(row.ref)]
    assert [ref for ref, n in Counter(refs).items() if n > 1] == []


def test_quantities_match_the_designators() -> None:
    for row in bom.load():
        if row.category in ONE_PER_DESIGNATOR:
            assert row.qty == len(bom.designators(row.ref)), row.ref


def test_every_part_named_in_board_json_is_in_the_bom() -> None:
    text = boardfile.BOARD_PATH.read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:R|C|Q|U|D|SW|LS|J|BT)\d+\b", text))
    listed = {ref for row in bom.load() for ref in bom.designators(row.ref)}
    assert named - listed == set()


def test_designator_ranges_expand() -> None:
    assert bom.designators("R5 R7-R10 C2-C3") == ["R5", "R7", "R8", "R9", "R10", "C2", "C3"]


def test_the_readme_states_the_unit_total() -> None:
    total = bom.unit_total(bom.load())
    assert f"**USD {total}**" in README.read_text(encoding="utf-8")
