"""A background thread that does one round of work every so often, or at once when woken.

What it works on lives in the database (escalation timers, notifications), so a round that fails
is simply tried again at the next one: the failure is counted and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.metrics import Metrics


class Periodic:
    def __init__(self, name: str, interval_s: float, work: Callable[[], object], metrics: Metrics,
                 error_metric: str, log: logging.Logger) -> None:
        """`work()` returns something true while there is more to do at once (it is called again)."""
        self.interval_s = interval_s
        self.work = work
        self.metrics = metrics
        self.error_metric = error_metric
        self.log = log
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        """Something is there to do: a round now rather than at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                while self.work() and not self._stopping.is_set():
                    pass
            except Exception:
                self.metrics.inc(self.error_metric)
                self.log.exception("%s failed; the work stays in the database for the next round",
                                   self._thread.name)
