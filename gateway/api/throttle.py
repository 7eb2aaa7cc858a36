"""Throttling of failed API tokens, per client address.

After `limit` unknown tokens from one address within `window_s` seconds,
that address is refused (429) until the window that began with its first
failure ends, whatever token it sends: otherwise a valid token would still
pass and the throttle would tell a guesser when it guessed right.
Successful calls neither count nor are slowed while an address is below the
limit. Memory stays bounded: expired windows are dropped, and at most
`max_clients` addresses are tracked (the oldest window goes first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_CLIENTS = 10_000


@dataclass
class _Window:
    started: float
    failures: int


class FailureThrottle:
    def __init__(self, limit: int, window_s: float, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: OrderedDict[str, _Window] = OrderedDict()  # oldest window first

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it may now."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(client)
            if window is None or window.failures < self.limit:
                return None
            left = window.started + self.window_s - now
            if left <= 0:
                del self._windows[client]
                return None
            return max(1, math.ceil(left))

    def failed(self, client: str) -> None:
        """Count one unknown token from `client`."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(client)
            if window is None or now - window.started >= self.window_s:
                self._windows.pop(client, None)
                self._windows[client] = _Window(now, 0)
                self._prune(now)
            self._windows[client].failures += 1

    def __len__(self) -> int:
        return len(self._windows)

    def _prune(self, now: float) -> None:
        # Windows are kept in the order they started: expired ones are at the front.
        while self._windows:
            oldest = next(iter(self._windows.values()))
            if now - oldest.started < self.window_s and len(self._windows) <= self.max_clients:
                return
            self._windows.popitem(last=False)
