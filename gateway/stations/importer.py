"""Checking a whole station file against what is stored: all of it is imported, or none.

A file is refused, with every problem's line or feature, when a station has
bad values or coordinates, an id appears twice, a parent is neither in the
file nor stored, parents form a cycle, a coverage area is malformed or is
for a station that does not exist. Modes:
- merge (default): the file's stations are created or replace the stored
  ones with the same id; other stored stations stay. A station re-imported
  without a coverage area keeps the one it had.
- replace: afterwards exactly the file's stations exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gateway.stations.coverage import load_json
from gateway.stations.formats import Parsed
from gateway.stations.formats.csv_file import parse_csv
from gateway.stations.formats.geojson import parse_geojson
from gateway.stations.formats.json_lines import item_lines
from gateway.stations.formats.overpass import parse_overpass
from gateway.stations.model import ImportRefused, Problem, Station

Format = Literal["auto", "csv", "geojson", "overpass"]
FORMATS: tuple[Format, ...] = ("auto", "csv", "geojson", "overpass")
Mode = Literal["merge", "replace"]


@dataclass
class ImportPlan:
    """What storing the file changes: upserts parents first, then removals (children first)."""

    upserts: list[Station] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def summary(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "removed": len(self.removals), "skipped": self.skipped}


def _json_object(text: str) -> dict[str, Any]:
    try:
        document = load_json(text)
    except ValueError as exc:  # json.JSONDecodeError says where
        raise ImportRefused([Problem("file", f"not JSON: {exc}")]) from None
    if not isinstance(document, dict):
        raise ImportRefused([Problem("file", "not a JSON object")])
    return document


def parse_file(text: str, fmt: Format = "auto") -> Parsed:
    """The file's stations and coverage areas; ImportRefused lists every problem found."""
    if fmt == "csv" or (fmt == "auto" and not text.lstrip().startswith("{")):
        parsed = parse_csv(text)
    else:
        document = _json_object(text)
        if fmt == "auto":
            fmt = "overpass" if "elements" in document else "geojson"
        if fmt == "overpass":
            parsed = parse_overpass(document, item_lines(text, "elements"))
        else:
            parsed = parse_geojson(document, item_lines(text, "features"))
    if parsed.problems:
        raise ImportRefused(parsed.problems)
    return parsed


def _order(stations: Mapping[str, Station], where: Mapping[str, str]) -> list[Station]:
    """The stations parents first; ImportRefused on a parent cycle."""
    done: set[str] = set()
    ordered: list[Station] = []
    problems: list[Problem] = []
    for start in sorted(stations):
        path: list[str] = []
        current: str | None = start
        while current is not None and current in stations and current not in done:
            if current in path:
                cycle = [*path[path.index(current):], current]
                problems.append(Problem(where.get(current, f"station {current}"),
                                        "parent cycle: " + " -> ".join(cycle)))
                done.update(path)
                path = []
                break
            path.append(current)
            current = stations[current].parent
        for station_id in reversed(path):
            done.add(station_id)
            ordered.append(stations[station_id])
    if problems:
        raise ImportRefused(problems)
    return ordered


def plan_import(parsed: Parsed, stored: Mapping[str, Station], mode: Mode = "merge", *,
                keep_coverage: bool = True) -> ImportPlan:
    """Check the file against the stored stations; ImportRefused lists every problem.

    `keep_coverage`: in merge mode a station given without an area keeps its stored one
    (a file); False for a station given in full (PUT), where no area means none."""
    problems: list[Problem] = []
    incoming: dict[str, Station] = {}
    where: dict[str, str] = {}
    for place, station in parsed.stations:
        if station.id in incoming:
            problems.append(Problem(place, f"station id {station.id} also at {where[station.id]}"))
            continue
        incoming[station.id] = station
        where[station.id] = place
    kept = {} if mode == "replace" else {i: s for i, s in stored.items() if i not in incoming}
    if mode == "merge" and keep_coverage:  # a station re-imported without an area keeps its stored one
        incoming = {i: s if s.coverage or i not in stored else replace(s, coverage=stored[i].coverage)
                    for i, s in incoming.items()}
    covered: dict[str, str] = {}
    for place, station_id, coverage in parsed.coverages:
        if station_id in covered:
            problems.append(Problem(place, f"station {station_id} already has a coverage area at "
                                           f"{covered[station_id]}"))
        elif station_id in incoming:
            incoming[station_id] = replace(incoming[station_id], coverage=coverage.geojson())
        elif station_id in kept:
            incoming[station_id] = replace(kept.pop(station_id), coverage=coverage.geojson())
        else:
            problems.append(Problem(place, f"coverage for unknown station {station_id}"))
        covered.setdefault(station_id, place)
    everything = {**kept, **incoming}
    for station_id, station in incoming.items():
        if station.parent is not None and station.parent not in everything:
            problems.append(Problem(where.get(station_id, f"station {station_id}"),
                                    f"unknown parent {station.parent}"))
    if problems:
        raise ImportRefused(problems)
    plan = ImportPlan(skipped=parsed.skipped)
    for station in _order(everything, where):
        if station.id not in incoming:
            continue
        before = stored.get(station.id)
        if before == station:
            plan.unchanged += 1
            continue
        plan.upserts.append(station)
        if before is None:
            plan.created += 1
        else:
            plan.updated += 1
    if mode == "replace":
        plan.removals = [s.id for s in reversed(_order(stored, {})) if s.id not in incoming]
    return plan


def check_removal(station_id: str, stored: Mapping[str, Station]) -> None:
    """ImportRefused when other stations name `station_id` as their parent."""
    children = sorted(s.id for s in stored.values() if s.parent == station_id)
    if children:
        raise ImportRefused([Problem(f"station {station_id}",
                                     f"is the parent of {', '.join(children[:10])}"
                                     f"{' and more' if len(children) > 10 else ''}; change them first")])

