"""Readers of station files; each returns a `Parsed` or raises ImportRefused with every problem found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.stations.coverage import Coverage
from gateway.stations.model import Problem, Station


@dataclass
class Parsed:
    """What a file holds, each part with where it came from ("line 4", "feature 2")."""

    stations: list[tuple[str, Station]] = field(default_factory=list)
    coverages: list[tuple[str, str, Coverage]] = field(default_factory=list)  # (where, station id, area)
    skipped: int = 0  # elements of an OpenStreetMap export that are not police stations
    problems: list[Problem] = field(default_factory=list)

    def problem(self, where: str, reason: str) -> None:
        self.problems.append(Problem(where, reason))


def item_place(what: str, n: int, lines: Sequence[int], *more: str) -> str:
    """Where item `n` (from 1) of a JSON file's list is: "feature 3 (line 12)", "element 5 (line 9, way 46)"."""
    details = [f"line {lines[n - 1]}"] if n <= len(lines) else []
    details += more
    return f"{what} {n} ({', '.join(details)})" if details else f"{what} {n}"
