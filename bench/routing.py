"""Routing one alert against 10,000 stations (Indonesia's bounding box), beside brute force, in one run.

    .venv/bin/python bench/routing.py [--stations N] [--queries N] [--seed N]

Stations at random places in Indonesia's bounding box (6°N..11°S,
95°E..141°E); alerts at random places in the same box. Two cases:
- points only: every alert is routed to the nearest station + 3 candidates;
- with coverage: every station also has a square coverage area (about
  0.2°, overlapping, a Polsek's size or more), so many alerts are routed by area.
For each: the index's build time (gateway.stations.router.Router: k-d tree
and coverage grid), its per-alert latency p50/p99, and the same for a brute
force over the same prepared stations (BruteForceRouter). Every brute-force
answer is checked to equal the index's. Prints numbers; asserts nothing
about speed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from gateway.stations.coords import decimal_text
from gateway.stations.model import Station
from gateway.stations.router import BruteForceRouter, Router, Routing

E7 = 10_000_000
LAT_RANGE = (-11 * E7, 6 * E7)
LON_RANGE = (95 * E7, 141 * E7)
AREA_HALF_E7 = E7 // 10  # half the side of a coverage square: 0.1° (Indonesia / 6,000 Polsek ~ 0.03 deg² each)


def square(lat: int, lon: int) -> str:
    ring = [(lon - AREA_HALF_E7, lat - AREA_HALF_E7), (lon + AREA_HALF_E7, lat - AREA_HALF_E7),
            (lon + AREA_HALF_E7, lat + AREA_HALF_E7), (lon - AREA_HALF_E7, lat + AREA_HALF_E7)]
    coordinates = ",".join(f"[{decimal_text(x)},{decimal_text(y)}]" for x, y in [*ring, ring[0]])
    return '{"type":"Polygon","coordinates":[[' + coordinates + "]]}"


def stations(count: int, rng: random.Random, coverage: bool) -> list[Station]:
    made = []
    for n in range(count):
        lat, lon = rng.randint(*LAT_RANGE), rng.randint(*LON_RANGE)
        area = square(lat, lon) if coverage else None
        made.append(Station(f"s{n}", f"Polsek {n}", "polsek", lat, lon, coverage=area))
    return made


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1e6:9.1f} µs   p99 {cuts[98] * 1e6:9.1f} µs"


def timed(route: Callable[[int, int], Routing], points: list[tuple[int, int]]) -> tuple[list[float], list[Routing]]:
    samples, answers = [], []
    for lat, lon in points:
        start = time.perf_counter()
        answers.append(route(lat, lon))
        samples.append(time.perf_counter() - start)
    return samples, answers


def build_time(make: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        make()
        times.append(time.perf_counter() - start)
    return min(times)


def case(label: str, count: int, queries: int, rng: random.Random, coverage: bool) -> None:
    places = stations(count, rng, coverage)
    points = [(rng.randint(*LAT_RANGE), rng.randint(*LON_RANGE)) for _ in range(queries)]
    index_build = build_time(lambda: Router(places))
    brute_build = build_time(lambda: BruteForceRouter(places))
    index, brute = Router(places), BruteForceRouter(places)
    index_samples, index_answers = timed(index.route, points)
    brute_points = points[: max(100, queries // 10)]  # brute force is slow: fewer alerts
    brute_samples, brute_answers = timed(brute.route, brute_points)
    assert brute_answers == index_answers[: len(brute_points)], "the index disagrees with brute force"
    by_area = sum(a.basis == "coverage" for a in index_answers)
    print(f"{label}: {count} stations, {len(points)} alerts ({by_area} routed by coverage area)")
    print(f"  index build        {index_build * 1e3:8.1f} ms (k-d tree + coverage grid)")
    print(f"  index route        {percentiles(index_samples)}")
    print(f"  brute-force setup  {brute_build * 1e3:8.1f} ms (unit vectors, parsed areas)")
    print(f"  brute-force route  {percentiles(brute_samples)}   ({len(brute_points)} alerts, answers identical)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=2012)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    case("points only", args.stations, args.queries, rng, coverage=False)
    case("with coverage areas", args.stations, args.queries, rng, coverage=True)


if __name__ == "__main__":
    main()
