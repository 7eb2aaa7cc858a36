"""Counters, gauges and histograms for /metrics (Prometheus text format). Thread-safe, no dependencies."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence

# Seconds, for the times an alert takes to be answered (press → acknowledged, press → on scene).
RESPONSE_BUCKETS_S = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class _Histogram:
    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * len(self.bounds)  # per bucket, not cumulative
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        lines = [f"# TYPE panic_{name} histogram"]
        cumulative = 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            cumulative += count
            lines.append(f'panic_{name}_bucket{{le="{bound:g}"}} {cumulative}')
        lines += [f'panic_{name}_bucket{{le="+Inf"}} {self.total}', f"panic_{name}_sum {self.sum:g}",
                  f"panic_{name}_count {self.total}"]
        return lines


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._gauges: dict[str, Callable[[], float]] = {}
        self._histograms: dict[str, _Histogram] = {}

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A value read when /metrics is rendered (a queue's length, a lag)."""
        with self._lock:
            self._gauges[name] = read

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] += amount

    def observe(self, name: str, value: float, buckets: Sequence[float] = RESPONSE_BUCKETS_S) -> None:
        """One observation of a histogram (its buckets are fixed by the first one)."""
        with self._lock:
            self._histograms.setdefault(name, _Histogram(buckets)).observe(value)

    def histogram(self, name: str) -> tuple[int, float]:
        """(count, sum) of a histogram so far."""
        with self._lock:
            found = self._histograms.get(name)
            return (found.total, found.sum) if found else (0, 0.0)

    def get(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._counts[(name, tuple(sorted(labels.items())))]

    def render(self) -> str:
        with self._lock:
            items = sorted(self._counts.items())
            gauges = sorted(self._gauges.items())
            histograms = [line for name, h in sorted(self._histograms.items()) for line in h.lines(name)]
        lines = [f"panic_{name} {read()}" for name, read in gauges]
        for (name, labels), value in items:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"panic_{name}{{{label_text}}} {value}" if label_text else f"panic_{name} {value}")
        return "\n".join(lines + histograms) + "\n"
