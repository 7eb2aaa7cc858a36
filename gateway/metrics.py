"""Counters and gauges for /metrics (Prometheus text format). Thread-safe, no dependencies."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._gauges: dict[str, Callable[[], float]] = {}

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A value read when /metrics is rendered (a queue's length, a lag)."""
        with self._lock:
            self._gauges[name] = read

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] += amount

    def get(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._counts[(name, tuple(sorted(labels.items())))]

    def render(self) -> str:
        with self._lock:
            items = sorted(self._counts.items())
            gauges = sorted(self._gauges.items())
        lines = [f"panic_{name} {read()}" for name, read in gauges]
        for (name, labels), value in items:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"panic_{name}{{{label_text}}} {value}" if label_text else f"panic_{name} {value}")
        return "\n".join(lines) + "\n"
