"""Great-circle distance, through unit vectors on a sphere (float64, on the CPython side).

Stations are ranked by the squared chord between unit vectors: it grows
with the great-circle angle, so the order is the great-circle order, and it
is cheap and has no trouble at the antimeridian or the poles. Both the
index (kdtree.py) and the brute-force reference compute it with the same
expression, so they rank alike to the last bit. Metres come from the chord
only for the answer.
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
