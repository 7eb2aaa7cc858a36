"""hardware.wiring: the committed table and diagram are exactly what board.json generates."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from hardware import board as boardfile
from hardware import wiring

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_table_matches_the_generator() -> None:
    assert wiring.TABLE_PATH.read_text(encoding="utf-8") == wiring.table(boardfile.load())


def test_the_committed_diagram_matches_the_generator() -> None:
    assert wiring.DIAGRAM_PATH.read_text(encoding="utf-8") == wiring.diagram(boardfile.load())


def test_output_depends_only_on_the_board_contents(tmp_path: Path) -> None:
    # Same content in another file, with keys re-serialised: byte-identical output.
    copy_path = tmp_path / "board.json"
    copy_path.write_text(json.dumps(boardfile.load(), indent=1))
    again = boardfile.load(copy_path)
    assert wiring.table(again) == wiring.table(boardfile.load())
    assert wiring.diagram(again) == wiring.diagram(boardfile.load())


def test_every_gpio_of_the_board_is_drawn_and_tabled() -> None:
    board = boardfile.load()
    svg = wiring.diagram(board)
    table = wiring.table(board)
    for signal in wiring.signals(board):
        assert f"GPIO{signal.gpio} " in svg
        assert f"| {signal.function} | GPIO{signal.gpio}" in table
    # A UART gives two wires, so there are more signals than functions.
    uarts = [s for s in boardfile.functions(board).values() if s["kind"] == "uart"]
    assert len(wiring.signals(board)) == len(boardfile.functions(board)) + len(uarts)


def test_the_diagram_is_well_formed_svg() -> None:
    root = ET.fromstring(wiring.diagram(boardfile.load()))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall("{http://www.w3.org/2000/svg}line")) == len(wiring.signals(boardfile.load()))


def test_a_changed_pin_changes_the_outputs() -> None:
    board = copy.deepcopy(boardfile.load())
    board["functions"]["led_fault"]["gpio"] = 5
    assert "| led_fault | GPIO5 | 29 (IO5) | out |" in wiring.table(board)
    assert "GPIO5  pad 29 (IO5)" in wiring.diagram(board)
    assert wiring.diagram(board) != wiring.DIAGRAM_PATH.read_text(encoding="utf-8")


def test_resistor_values_are_written_the_engineering_way() -> None:
    assert [wiring._ohms(v) for v in (100000, 56000, 4700, 330, 1050)] == ["100k", "56k", "4k7", "330R", "1k05"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardware.wiring", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_check_passes_on_the_committed_files() -> None:
    result = run_cli("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_on_a_stale_board_without_writing(tmp_path: Path) -> None:
    board = copy.deepcopy(boardfile.load())
    board["functions"]["buzzer"]["gpio"] = 5
    changed = tmp_path / "board.json"
    changed.write_text(json.dumps(board))
    before = wiring.DIAGRAM_PATH.read_bytes()
    result = run_cli("--check", "--board", str(changed))
    assert result.returncode == 1
    assert "stale" in result.stdout
    assert wiring.DIAGRAM_PATH.read_bytes() == before
