"""Coverage areas: exact point-in-polygon, and polygons refused with the ring and reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.stations.coverage import parse_coverage_text, parse_geometry

E7 = 10_000_000


def polygon(*rings: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[Decimal(lon), Decimal(lat)] for lon, lat in r] for r in rings]}


SQUARE = [("105", "-6"), ("106", "-6"), ("106", "-5"), ("105", "-5"), ("105", "-6")]
HOLE = [("105.4", "-5.6"), ("105.6", "-5.6"), ("105.6", "-5.4"), ("105.4", "-5.4"), ("105.4", "-5.6")]


def test_inside_outside_and_on_the_border() -> None:
    area = parse_geometry(polygon(SQUARE))
    assert area.contains(-55 * E7 // 10, 1055 * E7 // 10)
    assert not area.contains(-4 * E7, 1055 * E7 // 10)
    assert area.contains(-5 * E7, 1055 * E7 // 10)  # on the top edge: inside
    assert area.contains(-6 * E7, 105 * E7)  # a corner
    assert not area.contains(-5 * E7 + 1, 1055 * E7 // 10)  # 1e-7 degree past the edge


def test_a_hole_is_outside_but_its_border_is_inside() -> None:
    area = parse_geometry(polygon(SQUARE, HOLE))
    assert area.contains(-5 * E7, 105 * E7 + 5 * E7 // 10 + 1)  # the outer top edge stays inside
    assert not area.contains(-55 * E7 // 10, 1055 * E7 // 10)  # the hole's middle
    assert area.contains(-56 * E7 // 10, 1055 * E7 // 10)  # the hole's border
    assert area.contains(-58 * E7 // 10, 1055 * E7 // 10)


def test_concave_polygon_exactly() -> None:
    # a "U": the notch between its arms is outside even a hair's width from the arms
    u_shape = [("0", "0"), ("3", "0"), ("3", "3"), ("2", "3"), ("2", "1"), ("1", "1"), ("1", "3"), ("0", "3"),
               ("0", "0")]
    area = parse_geometry(polygon(u_shape))
    assert not area.contains(2 * E7, 15 * E7 // 10)  # the notch (lat 2, lon 1.5)
    assert area.contains(2 * E7, E7 // 2)  # the left arm
    assert area.contains(2 * E7, E7 - 1)  # 1e-7 degree inside the left arm's inner edge
    assert area.contains(2 * E7, E7)  # on it
    assert not area.contains(2 * E7, E7 + 1)  # 1e-7 degree into the notch
    assert not area.contains(3 * E7 + 1, E7 // 2)  # just above the left arm


def test_multipolygon_and_stored_text_round_trip() -> None:
    far = [(str(lon), str(lat)) for lon, lat in ((120, 1), (121, 1), (121, 2), (120, 2), (120, 1))]
    geometry = {"type": "MultiPolygon", "coordinates": [polygon(SQUARE)["coordinates"],
                                                        polygon(far)["coordinates"]]}
    area = parse_geometry(geometry)
    again = parse_coverage_text(area.geojson())
    assert again == area
    assert again.contains(15 * E7 // 10, 1205 * E7 // 10) and again.contains(-55 * E7 // 10, 1055 * E7 // 10)
    assert '[105,-6]' in area.geojson()


def test_coordinates_stay_exact_in_the_stored_text() -> None:
    ring = [("105.2545678", "-5.4178901"), ("105.2545679", "-5.4178901"), ("105.2545679", "-5.41789"),
            ("105.2545678", "-5.4178901")]
    assert "[105.2545678,-5.4178901]" in parse_geometry(polygon(ring)).geojson()


@pytest.mark.parametrize(("geometry", "reason"), [
    (polygon(SQUARE[:-1]), "polygon ring does not close"),
    (polygon([SQUARE[0], SQUARE[1], SQUARE[0]]), "polygon ring has 3 positions; a closed ring needs at least 4"),
    (polygon([SQUARE[0], SQUARE[1], SQUARE[0], SQUARE[1], SQUARE[0]]),
     "polygon ring encloses no area"),
    (polygon([("105", "-6"), ("106", "-96"), ("106", "-5"), ("105", "-6")]),
     "polygon ring position 2: lat -96 is outside ±90"),
    (polygon(SQUARE, HOLE[:-1]), "polygon ring 2 does not close"),
    ({"type": "Point", "coordinates": [105, -6]}, "coverage must be a Polygon or MultiPolygon, not 'Point'"),
    ({"type": "Polygon", "coordinates": [[[105.0, -6.0]] * 4]}, "polygon ring position 1: lon 105.0 is not a "
                                                                  "decimal number"),
])
def test_bad_polygons_are_refused_with_the_ring_and_reason(geometry: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_geometry(geometry)
    assert str(refused.value).startswith(reason)
