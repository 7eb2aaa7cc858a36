"""Reading hardware/board.json on the PC side (the firmware has its own loader, panic.boarddef)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BOARD_PATH = Path(__file__).with_name("board.json")

# A decoded board.json. It is checked by hardware.validate before anything trusts
# its shape, so the accessors below only narrow types for mypy.
Board = dict[str, Any]


def load(path: Path = BOARD_PATH) -> Board:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a JSON object")
    return data


def functions(board: Board) -> dict[str, dict[str, Any]]:
    """The "functions" map, in file order (the order the wiring outputs use)."""
    found = board.get("functions")
    if not isinstance(found, dict):
        raise ValueError("board.json has no \"functions\" object")
    return {name: spec for name, spec in found.items() if isinstance(spec, dict)}


def text(spec: dict[str, Any], key: str, default: str = "") -> str:
    value = spec.get(key, default)
    return value if isinstance(value, str) else default


def integer(spec: dict[str, Any], key: str) -> int:
    value = spec.get(key)
    if type(value) is not int:
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value
