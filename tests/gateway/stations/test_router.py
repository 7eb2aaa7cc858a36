"""Routing: the index answers exactly as brute force; coverage first, then the nearest; unrouted."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.stations.coords import decimal_text
from gateway.stations.coverage import parse_coverage_text
from gateway.stations.distance import EARTH_RADIUS_M
from gateway.stations.kdtree import LEAF_SIZE
from gateway.stations.model import KINDS, Station
from gateway.stations.router import UNROUTED, Router, brute_force

E7 = 10_000_000
LAT, LON = 90 * E7, 180 * E7


def near(value: int, spread: int, low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(max(low, value - spread), min(high, value + spread))


# Latitudes and longitudes anywhere, and crowded where spherical geometry is awkward:
# the poles, the equator, the antimeridian (both signs), the prime meridian, Indonesia.
latitudes = st.one_of(st.integers(-LAT, LAT), near(LAT, E7, -LAT, LAT), near(-LAT, E7, -LAT, LAT),
                      near(0, E7 // 10, -LAT, LAT), near(-5 * E7, 5 * E7, -LAT, LAT))
longitudes = st.one_of(st.integers(-LON, LON), near(LON, E7, -LON, LON), near(-LON, E7, -LON, LON),
                       near(0, E7 // 10, -LON, LON), near(110 * E7, 15 * E7, -LON, LON))
positions = st.tuples(latitudes, longitudes)


def ring_text(points: list[tuple[int, int]]) -> str | None:
    """A closed triangle/quad as a stored coverage, or None when it is no valid area."""
    ring = [*points, points[0]]
    coordinates = ",".join(f"[{decimal_text(lo)},{decimal_text(la)}]" for la, lo in ring)
    text = '{"type":"Polygon","coordinates":[[' + coordinates + "]]}"
    try:
        parse_coverage_text(text)
    except ValueError:
        return None
    return text


@st.composite
def station_sets(draw: st.DrawFn) -> list[Station]:
    places = draw(st.lists(positions, min_size=0, max_size=3 * LEAF_SIZE))
    # some stations share a place exactly: equal distances are ranked by id
    places += draw(st.lists(st.sampled_from(places), max_size=4)) if places else []
    stations = []
    for n, (lat, lon) in enumerate(places):
        coverage = None
        if draw(st.booleans()) and draw(st.integers(0, 3)) == 0:
            corners = draw(st.lists(st.tuples(near(lat, 3 * E7, -LAT, LAT), near(lon, 3 * E7, -LON, LON)),
                                    min_size=3, max_size=4))
            coverage = ring_text(corners)
        stations.append(Station(f"s{draw(st.integers(0, 10**6))}-{n}", f"station {n}", draw(st.sampled_from(KINDS)),
                                lat, lon, coverage=coverage))
    return stations


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stations=station_sets(), points=st.lists(positions, min_size=1, max_size=8), n=st.integers(0, 5))
def test_the_index_answers_as_brute_force(stations: list[Station], points: list[tuple[int, int]], n: int) -> None:
    router = Router(stations)
    # also the stations' own places, and points on and inside their coverage areas
    points += [(s.lat_e7, s.lon_e7) for s in stations[:3]]
    for s in stations:
        if s.coverage:
            ring = parse_coverage_text(s.coverage).polygons[0][0]
            points += [(ring[0][1], ring[0][0]),
                       (sum(lat for _, lat in ring[:3]) // 3, sum(lon for lon, _ in ring[:3]) // 3)]
    for lat, lon in points:
        assert router.route(lat, lon, n) == brute_force(stations, lat, lon, n)


def test_the_index_answers_as_brute_force_with_thousands_of_stations() -> None:
    rng = random.Random(11)

    def indonesia() -> tuple[int, int]:
        return rng.randint(-11 * E7, 6 * E7), rng.randint(95 * E7, 141 * E7)

    stations = [Station(f"s{n}", f"station {n}", "polsek", *indonesia()) for n in range(3000)]
    router = Router(stations)
    for _ in range(200):
        lat, lon = indonesia()
        assert router.route(lat, lon, 3) == brute_force(stations, lat, lon, 3)


def square(lat: float, lon: float, half: float) -> str:
    corners = [(lon - half, lat - half), (lon + half, lat - half), (lon + half, lat + half),
               (lon - half, lat + half), (lon - half, lat - half)]
    return '{"type":"Polygon","coordinates":[[' + ",".join(f"[{x:.7f},{y:.7f}]" for x, y in corners) + "]]}"


def station(sid: str, lat: float, lon: float, kind: str = "polsek", coverage: str | None = None) -> Station:
    return Station(sid, sid.title(), kind, round(lat * E7), round(lon * E7), coverage=coverage)  # type: ignore[arg-type]


def test_no_stations_is_unrouted() -> None:
    routing = Router([]).route(-5 * E7, 105 * E7)
    assert routing == UNROUTED and routing.basis == "unrouted"
    assert routing.dispatch_fields() == {"station": None, "candidates": []}
    assert brute_force([], -5 * E7, 105 * E7) == UNROUTED


def test_nearest_then_three_candidates_with_distances() -> None:
    stations = [station(f"s{k}", -5 + k / 100, 105.0) for k in range(6)]
    routing = Router(stations).route(-5 * E7, 105 * E7)
    assert routing.basis == "nearest"
    fields = routing.dispatch_fields()
    assert fields["station"] == {"id": "s0", "name": "S0", "distance_m": 0.0}
    metres_per_degree = EARTH_RADIUS_M * 3.141592653589793 / 180
    assert [(c["id"], c["distance_m"]) for c in fields["candidates"]] == [
        (f"s{k}", round(k / 100 * metres_per_degree, 1)) for k in (1, 2, 3)]


def test_fewer_stations_than_candidates() -> None:
    routing = Router([station("a", -5, 105), station("b", -5.1, 105)]).route(-5 * E7, 105 * E7, 5)
    assert routing.station is not None and routing.station.station.id == "a"
    assert [c.station.id for c in routing.candidates] == ["b"]


def test_the_covering_station_wins_over_a_nearer_one() -> None:
    covering = station("polsek-far", -5.2, 105.2, coverage=square(-5.0, 105.0, 0.3))
    nearer = station("post-near", -5.001, 105.0, "post")
    routing = Router([covering, nearer]).route(-5 * E7, 105 * E7)
    assert routing.basis == "coverage"
    assert routing.station is not None and routing.station.station.id == "polsek-far"
    assert routing.station.distance_m > 30_000
    assert [c.station.id for c in routing.candidates] == ["post-near"]  # the responsible one is not repeated


def test_overlapping_areas_smallest_first_then_kind_level() -> None:
    polres = station("polres", -5.1, 105.1, "polres", square(-5.0, 105.0, 0.5))
    polsek = station("polsek", -5.3, 105.3, "polsek", square(-5.0, 105.0, 0.2))
    post = station("post", -5.3, 105.3, "post", square(-5.0, 105.0, 0.2))  # the same area as the Polsek
    router = Router([polres, polsek, post])
    chosen = router.route(-5 * E7, 105 * E7).station
    assert chosen is not None and chosen.station.id == "post"
    chosen = Router([polres, polsek]).route(-5 * E7, 105 * E7).station
    assert chosen is not None and chosen.station.id == "polsek"
    outside_small = Router([polres, polsek]).route(round(-5.4 * E7), 105 * E7).station  # only the Polres covers
    assert outside_small is not None and outside_small.station.id == "polres"


def test_a_wide_area_is_found_anywhere_in_it() -> None:
    polda = station("polda", -4.0, 104.0, "polda", square(-4.0, 104.0, 10.0))  # 400 grid cells: the wide list
    nearer = station("polsek", -13.9, 113.9)
    chosen = Router([polda, nearer]).route(-13 * E7, 113 * E7).station
    assert chosen is not None and chosen.station.id == "polda"


def test_across_the_antimeridian_and_at_a_pole() -> None:
    east, west = station("east", 0, 179.9), station("west", 0, -179.95)
    mid = station("mid", 0, 178.0)
    routing = Router([mid, east, west]).route(0, -1799 * E7 // 10)
    assert routing.station is not None and routing.station.station.id == "west"
    assert [c.station.id for c in routing.candidates] == ["east", "mid"]
    assert routing.candidates[0].distance_m == pytest.approx(0.2 * EARTH_RADIUS_M * 3.141592653589793 / 180,
                                                             abs=0.001)
    # at the pole every longitude is the same place: equal distances, ranked by id
    ring = [station(f"r{k}", 89, -180 + 45 * k) for k in range(8)]
    routing = Router(ring).route(90 * E7, 12345)
    assert routing.station is not None and routing.station.station.id == "r0"
    assert [c.station.id for c in routing.candidates] == ["r1", "r2", "r3"]


def test_parents_chain() -> None:
    stations = [Station("polda", "Polda", "polda", 1, 1), Station("polres", "Polres", "polres", 1, 1, parent="polda"),
                Station("polsek", "Polsek", "polsek", 1, 1, parent="polres")]
    assert [s.id for s in Router(stations).parents("polsek")] == ["polres", "polda"]
    assert Router(stations).parents("polda") == []


def test_stored_coverage_text_is_what_routing_reads() -> None:
    text = square(-5.0, 105.0, 0.1)
    assert parse_coverage_text(text).contains(-5 * E7, 105 * E7)


def test_many_equal_distances_across_the_tree_are_ranked_by_id() -> None:
    rng = random.Random(5)
    # 10 leaves' worth of stations the same distance from the pole, and piles of stations on one spot
    ring = [Station(f"r{rng.randint(0, 10**6):07d}-{k}", "ring", "polsek", 89 * E7, rng.randint(-LON, LON))
            for k in range(10 * LEAF_SIZE)]
    pile = [Station(f"p{rng.randint(0, 10**6):07d}-{k}", "pile", "post", -5 * E7, 105 * E7)
            for k in range(3 * LEAF_SIZE)]
    router = Router(ring + pile)
    for (lat, lon), stations in (((LAT, 0), ring), ((-5 * E7, 105 * E7), pile)):
        routing = router.route(lat, lon, 5)
        assert routing == brute_force(ring + pile, lat, lon, 5)
        first_six = sorted(s.id for s in stations)[:6]
        assert routing.station is not None
        assert [routing.station.station.id, *(c.station.id for c in routing.candidates)] == first_six
