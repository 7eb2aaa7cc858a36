"""Coverage areas: GeoJSON Polygon / MultiPolygon, checked, and point-in-polygon in exact integers.

Edges are straight lines in longitude/latitude, as RFC 7946 §3.1.1 defines
GeoJSON lines, so the test is planar in integer 1e-7 degrees and exact: no
rounding can put a point on the wrong side of a border. A point on a border
is inside. Holes (inner rings) are outside. Polygons crossing the
antimeridian must be split at it, as RFC 7946 §3.1.9 asks.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.stations.coords import decimal_text, degrees_e7

Ring = tuple[tuple[int, int], ...]  # (lon_e7, lat_e7) positions, first == last
Polygon = tuple[Ring, ...]  # outer ring, then holes


@dataclass(frozen=True)
class Coverage:
    """A checked coverage area in integer 1e-7 degrees."""

    polygons: tuple[Polygon, ...]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(min_lon, min_lat, max_lon, max_lat) of the outer rings."""
        lons = [lon for polygon in self.polygons for lon, _ in polygon[0]]
        lats = [lat for polygon in self.polygons for _, lat in polygon[0]]
        return min(lons), min(lats), max(lons), max(lats)

    @property
    def twice_area(self) -> int:
        """Twice the planar area in (1e-7 degree)², outer rings minus holes: exact, for ordering."""
        return sum(abs(_twice_signed_area(polygon[0])) - sum(abs(_twice_signed_area(h)) for h in polygon[1:])
                   for polygon in self.polygons)

    def contains(self, lat_e7: int, lon_e7: int) -> bool:
        return any(_in_polygon(polygon, lon_e7, lat_e7) for polygon in self.polygons)

    def geojson(self) -> str:
        """Canonical GeoJSON text with exact decimal coordinates (what is stored)."""
        def ring(r: Ring) -> str:
            return "[" + ",".join(f"[{decimal_text(lon)},{decimal_text(lat)}]" for lon, lat in r) + "]"

        polygons = ["[" + ",".join(ring(r) for r in polygon) + "]" for polygon in self.polygons]
        if len(polygons) == 1:
            return '{"type":"Polygon","coordinates":' + polygons[0] + "}"
        return '{"type":"MultiPolygon","coordinates":[' + ",".join(polygons) + "]}"


def _twice_signed_area(ring: Ring) -> int:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


def _on_segment(px: int, py: int, x0: int, y0: int, x1: int, y1: int) -> bool:
    return ((x1 - x0) * (py - y0) == (y1 - y0) * (px - x0)
            and min(x0, x1) <= px <= max(x0, x1) and min(y0, y1) <= py <= max(y0, y1))


def _in_ring(ring: Ring, px: int, py: int) -> int:
    """1 inside, 0 outside, -1 on the ring (even-odd rule, exact integer crossings)."""
    inside = False
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        if _on_segment(px, py, x0, y0, x1, y1):
            return -1
        if (y0 > py) != (y1 > py):
            # The edge crosses the horizontal line through the point; is the crossing right of it?
            # x0 + (py - y0) * (x1 - x0) / (y1 - y0) > px, multiplied out to stay in integers.
            cross = (px - x0) * (y1 - y0) - (py - y0) * (x1 - x0)
            if (cross < 0) == (y1 > y0):
                inside = not inside
    return 1 if inside else 0


def _in_polygon(polygon: Polygon, px: int, py: int) -> bool:
    outer = _in_ring(polygon[0], px, py)
    if outer == 0:
        return False
    if outer == -1:
        return True
    # A point on a hole's border is on the covered area's border: inside.
    return all(_in_ring(hole, px, py) != 1 for hole in polygon[1:])


def _ring(raw: object, where: str) -> Ring:
    if not isinstance(raw, list):
        raise ValueError(f"{where} is not a list of positions")
    positions: list[tuple[int, int]] = []
    for n, position in enumerate(raw, 1):
        if not isinstance(position, list) or len(position) not in (2, 3):
            raise ValueError(f"{where} position {n} is not [lon, lat]")
        try:
            positions.append((degrees_e7(position[0], "lon"), degrees_e7(position[1], "lat")))
        except ValueError as exc:
            raise ValueError(f"{where} position {n}: {exc}") from None
    if len(positions) < 4:
        raise ValueError(f"{where} has {len(positions)} positions; a closed ring needs at least 4")
    if positions[0] != positions[-1]:
        raise ValueError(f"{where} does not close: its last position differs from its first")
    if _twice_signed_area(tuple(positions)) == 0:
        raise ValueError(f"{where} encloses no area")
    return tuple(positions)


def _polygon(raw: object, where: str) -> Polygon:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where} has no rings")
    return tuple(_ring(r, f"{where} ring {n}" if len(raw) > 1 else f"{where} ring") for n, r in enumerate(raw, 1))


def parse_geometry(geometry: object) -> Coverage:
    """A GeoJSON Polygon or MultiPolygon (as parsed with `parse_float=Decimal`), checked.

    ValueError says which ring and why (does not close, fewer than 4 positions, bad coordinates)."""
    if not isinstance(geometry, dict):
        raise ValueError("coverage is not a GeoJSON geometry object")
    kind, raw = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return Coverage((_polygon(raw, "polygon"),))
    if kind == "MultiPolygon":
        if not isinstance(raw, list) or not raw:
            raise ValueError("multipolygon has no polygons")
        return Coverage(tuple(_polygon(p, f"polygon {n}") for n, p in enumerate(raw, 1)))
    raise ValueError(f"coverage must be a Polygon or MultiPolygon, not {kind!r}")


def load_json(text: str) -> Any:
    """JSON with every non-integer number as an exact Decimal (never a float); NaN/Infinity refused."""
    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number")

    try:
        return json.loads(text, parse_float=Decimal, parse_constant=no_constant)
    except RecursionError:  # arrays or objects inside each other past Python's limit: a hostile file, not GeoJSON
        raise ValueError("nested more than the JSON reader allows") from None


def parse_coverage_text(text: str) -> Coverage:
    """A stored coverage (the GeoJSON text `Coverage.geojson` wrote)."""
    return parse_geometry(load_json(text))
