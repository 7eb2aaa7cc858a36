"""Great-circle distance, through unit vectors on a sphere (float64, on the CPython side).

Distances come from the chord between unit vectors: no trouble at the
antimeridian or the poles. Stations are ranked by whole millimetres
(`distance_mm`), so places the same distance away up to float rounding
(every longitude at a pole) tie and are ranked by id. Every step from
coordinates to millimetres is monotonic, which lets the index (kdtree.py)
bound a box with the same functions and still rank exactly as brute force.
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG); a sphere is within 0.5 % of the ellipsoid
_E7_TO_RAD = math.pi / 180 / 10_000_000

Vector = tuple[float, float, float]


def unit_vector(lat_e7: int, lon_e7: int) -> Vector:
    lat, lon = lat_e7 * _E7_TO_RAD, lon_e7 * _E7_TO_RAD
    return math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)


def chord2(a: Vector, b: Vector) -> float:
    """Squared chord between two unit vectors (0 .. 4); the ranking key."""
    dx, dy, dz = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return dx * dx + dy * dy + dz * dz


def metres(chord_squared: float) -> float:
    """The great-circle distance in metres for a squared chord."""
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(chord_squared) / 2))


def distance_mm(a: Vector, b: Vector) -> int:
    """The great-circle distance in whole millimetres: the ranking key."""
    return round(metres(chord2(a, b)) * 1000)
