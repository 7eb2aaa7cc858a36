"""Routing an alert: the responsible station for a location, and the next candidates.

1. Coverage: the stations whose coverage area contains the location
   (coverage.py, exact). If several, the smallest area wins, then the lower
   kind level (model.KIND_LEVEL), then the nearer, then the lower id.
2. Otherwise the nearest station by great-circle distance (ties: lower id).
3. Candidates: the next `n` nearest stations other than the responsible one.
No stations at all: an unrouted answer (no station, no candidates).

`Router` answers from a k-d tree (nearest) and a grid of coverage boxes;
`brute_force` answers the same question by looking at every station, as the
reference the tests and bench/routing.py compare the index with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.stations.coverage import Coverage, parse_coverage_text
from gateway.stations.distance import Vector, distance_mm, unit_vector
from gateway.stations.kdtree import KdTree
from gateway.stations.model import KIND_LEVEL, Station

DEFAULT_CANDIDATES = 3  # the 2012 Bandar Lampung system alerted the three nearest posts
MAX_CANDIDATES = 20  # what GET /stations/route and `panic-gateway stations route` may ask for
CELL_E7 = 10_000_000  # coverage grid cells of 1 degree
WIDE_CELLS = 256  # an area whose box spans more cells is checked for every alert instead

Basis = Literal["coverage", "nearest", "unrouted"]


@dataclass(frozen=True)
class RoutedStation:
    station: Station
    distance_m: float

    def dispatch_record(self) -> dict[str, Any]:
        """As the dispatch alert's `station` / `candidates` items (protocol/schemas/dispatch-alert.json)."""
        return {"id": self.station.id, "name": self.station.name, "distance_m": round(self.distance_m, 1)}


@dataclass(frozen=True)
class Routing:
    station: RoutedStation | None
    basis: Basis
    candidates: tuple[RoutedStation, ...] = ()

    def dispatch_fields(self) -> dict[str, Any]:
        """The `station` and `candidates` fields of a dispatch alert."""
        return {"station": self.station.dispatch_record() if self.station else None,
                "candidates": [c.dispatch_record() for c in self.candidates]}


UNROUTED = Routing(None, "unrouted")


@dataclass(frozen=True)
class _Area:
    station: Station
    coverage: Coverage
    bbox: tuple[int, int, int, int]
    twice_area: int


@dataclass
class _Prepared:
    """What both the index and the brute force work from."""

    stations: dict[str, Station]
    vectors: dict[str, Vector]
    areas: list[_Area] = field(default_factory=list)


def _prepare(stations: Iterable[Station]) -> _Prepared:
    prepared = _Prepared({}, {})
    for station in stations:
        prepared.stations[station.id] = station
        prepared.vectors[station.id] = unit_vector(station.lat_e7, station.lon_e7)
        if station.coverage:
            coverage = parse_coverage_text(station.coverage)
            prepared.areas.append(_Area(station, coverage, coverage.bbox, coverage.twice_area))
    return prepared


def _in_box(area: _Area, lat_e7: int, lon_e7: int) -> bool:
    min_lon, min_lat, max_lon, max_lat = area.bbox
    return min_lon <= lon_e7 <= max_lon and min_lat <= lat_e7 <= max_lat


def _decide(prepared: _Prepared, q: Vector, containing: Iterable[_Area],
            nearest: Sequence[tuple[int, str]], n: int) -> Routing:
    """The answer from the areas containing the point and the n + 1 nearest (millimetres, id)."""
    chosen = min(containing, default=None, key=lambda a: (a.twice_area, KIND_LEVEL[a.station.kind],
                                                          distance_mm(prepared.vectors[a.station.id], q),
                                                          a.station.id))

    def routed(station_id: str, mm: int) -> RoutedStation:
        return RoutedStation(prepared.stations[station_id], mm / 1000)

    if chosen is not None:
        station = routed(chosen.station.id, distance_mm(prepared.vectors[chosen.station.id], q))
        others = [routed(sid, key) for key, sid in nearest if sid != chosen.station.id][:n]
        return Routing(station, "coverage", tuple(others))
    if not nearest:
        return UNROUTED
    return Routing(routed(nearest[0][1], nearest[0][0]), "nearest",
                   tuple(routed(sid, key) for key, sid in nearest[1:n + 1]))


class BruteForceRouter:
    """The reference: every station's distance and every coverage area, for each location."""

    def __init__(self, stations: Iterable[Station]) -> None:
        self._prepared = _prepare(stations)

    def route(self, lat_e7: int, lon_e7: int, n: int = DEFAULT_CANDIDATES) -> Routing:
        q = unit_vector(lat_e7, lon_e7)
        ranked = sorted((distance_mm(v, q), sid) for sid, v in self._prepared.vectors.items())
        containing = [a for a in self._prepared.areas if a.coverage.contains(lat_e7, lon_e7)]
        return _decide(self._prepared, q, containing, ranked[:n + 1], n)


def brute_force(stations: Iterable[Station], lat_e7: int, lon_e7: int, n: int = DEFAULT_CANDIDATES) -> Routing:
    return BruteForceRouter(stations).route(lat_e7, lon_e7, n)


class Router:
    """Routes locations against a fixed set of stations (build a new one when they change)."""

    def __init__(self, stations: Iterable[Station]) -> None:
        self._prepared = _prepare(stations)
        ids = list(self._prepared.vectors)
        self._tree = KdTree([self._prepared.vectors[i] for i in ids], ids)
        self._grid: dict[tuple[int, int], list[_Area]] = {}
        self._wide: list[_Area] = []
        for area in self._prepared.areas:
            min_lon, min_lat, max_lon, max_lat = (v // CELL_E7 for v in area.bbox)
            if (max_lon - min_lon + 1) * (max_lat - min_lat + 1) > WIDE_CELLS:
                self._wide.append(area)
                continue
            for cx in range(min_lon, max_lon + 1):
                for cy in range(min_lat, max_lat + 1):
                    self._grid.setdefault((cx, cy), []).append(area)

    def __len__(self) -> int:
        return len(self._prepared.stations)

    def station(self, station_id: str) -> Station | None:
        return self._prepared.stations.get(station_id)

    def parents(self, station_id: str) -> list[Station]:
        """The station's parent, its parent's parent, ... (imports refuse cycles)."""
        chain: list[Station] = []
        station = self._prepared.stations.get(station_id)
        while station is not None and station.parent is not None and len(chain) < len(self._prepared.stations):
            station = self._prepared.stations.get(station.parent)
            if station is not None:
                chain.append(station)
        return chain

    def route(self, lat_e7: int, lon_e7: int, n: int = DEFAULT_CANDIDATES) -> Routing:
        q = unit_vector(lat_e7, lon_e7)
        cell = self._grid.get((lon_e7 // CELL_E7, lat_e7 // CELL_E7), [])
        containing = [a for a in (*cell, *self._wide)
                      if _in_box(a, lat_e7, lon_e7) and a.coverage.contains(lat_e7, lon_e7)]
        return _decide(self._prepared, q, containing, self._tree.nearest(q, n + 1), n)
