"""Reading bom.csv: rows, the designators they cover, and the cost of one unit.

Prices are decimal strings (USD) and are summed as Decimal, never as floats.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

BOM_PATH = Path(__file__).with_name("bom.csv")
COLUMNS = ["ref", "category", "description", "manufacturer", "mpn", "qty", "unit_price_usd", "notes"]
TOOL = "tool"  # per technician, not per unit


@dataclass(frozen=True)
class Row:
    ref: str
    category: str
    description: str
    manufacturer: str
    mpn: str
    qty: int
    unit_price: Decimal
    notes: str


def load(path: Path = BOM_PATH) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"{path}: columns must be {COLUMNS}, got {reader.fieldnames}")
        return [
            Row(r["ref"], r["category"], r["description"], r["manufacturer"], r["mpn"], int(r["qty"]),
                Decimal(r["unit_price_usd"]), r["notes"])
            for r in reader
        ]


def designators(ref: str) -> list[str]:
    """Expand "R5 R7-R10" into ["R5", "R7", "R8", "R9", "R10"]."""
    found = []
    for part in ref.split():
        span = re.fullmatch(r"([A-Z]+)(\d+)-\1?(\d+)", part)
        if span:
            prefix, first, last = span.group(1), int(span.group(2)), int(span.group(3))
            found += [f"{prefix}{n}" for n in range(first, last + 1)]
        else:
            found.append(part)
    return found


def unit_total(rows: list[Row]) -> Decimal:
    """Parts cost of one unit (tools excluded)."""
    return sum((row.unit_price * row.qty for row in rows if row.category != TOOL), Decimal(0))
