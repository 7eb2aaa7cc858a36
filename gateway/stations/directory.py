"""The router for the stations currently stored, rebuilt when they change (on any instance).

Enrichment calls `StationDirectory.route(lat_e7, lon_e7)` for every alert.
The stored stations' signature is read at most every `check_s` seconds (a
cheap count/max query); when it differs, the router is rebuilt from the
table (10,000 stations: tens to hundreds of milliseconds, bench/routing.py).
The API calls `refresh()` after each change it makes, so the request that
changed the stations pays for the rebuild on this instance; other instances
rebuild at their next check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gateway.stations.router import DEFAULT_CANDIDATES, Router, Routing
from gateway.storage.stations import Signature, StationStore

CHECK_SECONDS = 5.0


class StationDirectory:
    def __init__(self, store: StationStore, *, check_s: float = CHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.check_s = check_s
        self.clock = clock
        self._lock = threading.Lock()
        self._router = Router(())
        self._signature: Signature | None = None
        self._checked_at: float | None = None

    def router(self) -> Router:
        """The current router (rebuilt first if the stations changed since the last check)."""
        with self._lock:
            now = self.clock()
            if self._checked_at is None or now - self._checked_at >= self.check_s:
                signature = self.store.signature()
                if signature != self._signature:
                    self._router = Router(self.store.all().values())
                    self._signature = signature
                self._checked_at = now
            return self._router

    def refresh(self) -> Router:
        """Rebuild now if the stored stations changed (after a change made here: the one who
        changed them waits for the rebuild, not the next alert)."""
        with self._lock:
            self._checked_at = None
        return self.router()

    def route(self, lat_e7: int, lon_e7: int, n: int = DEFAULT_CANDIDATES) -> Routing:
        return self.router().route(lat_e7, lon_e7, n)
