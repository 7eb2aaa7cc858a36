"""A k-d tree over stations' unit vectors: the k nearest by great-circle distance.

Built once (O(n log n)), queried best-first: a subtree is skipped only when
even its bounding box is farther than the k-th best found so far. The box
bound is computed with the same float operations as a point's key
(distance.distance_mm), and float subtraction, squaring, addition, sqrt,
asin and rounding are all monotonic, so the bound never exceeds the key of
any point inside: the result is exactly the brute-force result, ties broken
by station id alike.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.stations.distance import Vector, distance_mm, metres

LEAF_SIZE = 16


@dataclass(frozen=True)
class _Node:
    low: Vector  # bounding box of the points below
    high: Vector
    points: tuple[int, ...] = ()  # a leaf's point numbers
    children: tuple[_Node, ...] = ()


def _box(points: Sequence[int], vectors: Sequence[Vector]) -> tuple[Vector, Vector]:
    xs, ys, zs = ([vectors[p][axis] for p in points] for axis in range(3))
    return (min(xs), min(ys), min(zs)), (max(xs), max(ys), max(zs))


def _build(points: list[int], vectors: Sequence[Vector]) -> _Node:
    low, high = _box(points, vectors)
    if len(points) <= LEAF_SIZE:
        return _Node(low, high, points=tuple(points))
    axis = max(range(3), key=lambda a: high[a] - low[a])
    points.sort(key=lambda p: vectors[p][axis])
    middle = len(points) // 2
    return _Node(low, high, children=(_build(points[:middle], vectors), _build(points[middle:], vectors)))


def _box_key(node: _Node, q: Vector) -> int:
    """The smallest key any point in the node's box can have (the same expressions as distance_mm)."""
    d = [0.0, 0.0, 0.0]
    for axis in range(3):
        if q[axis] < node.low[axis]:
            d[axis] = node.low[axis] - q[axis]
        elif q[axis] > node.high[axis]:
            d[axis] = q[axis] - node.high[axis]
    return round(metres(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) * 1000)


class KdTree:
    """The nearest points to a query, as (millimetres, name)."""

    def __init__(self, vectors: Sequence[Vector], names: Sequence[str]) -> None:
        self.vectors = list(vectors)
        self.names = list(names)
        self.root = _build(list(range(len(self.vectors))), self.vectors) if self.vectors else None

    def nearest(self, q: Vector, k: int) -> list[tuple[int, str]]:
        """The k nearest, nearest first; equal keys in name order (as sorting all would give)."""
        if self.root is None or k <= 0:
            return []
        best: list[tuple[int, str]] = []  # sorted, at most k (k is small: a handful of candidates)
        frontier: list[tuple[int, int, _Node]] = [(0, 0, self.root)]
        pushed = 1  # tie-break for the heap, so nodes are never compared
        while frontier:
            bound, _, node = heapq.heappop(frontier)
            if len(best) == k and bound > best[-1][0]:
                break  # every box left is farther than the k-th best
            for p in node.points:
                entry = (distance_mm(self.vectors[p], q), self.names[p])
                if len(best) < k or entry < best[-1]:
                    bisect.insort(best, entry)
                    del best[k:]
            for child in node.children:
                child_bound = _box_key(child, q)
                if len(best) < k or child_bound <= best[-1][0]:
                    heapq.heappush(frontier, (child_bound, pushed, child))
                    pushed += 1
        return best
