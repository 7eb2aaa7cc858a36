"""The console's live feed in one gateway process: one poller for every open console.

While at least one console follows the feed, one task looks at the database's
change mark every `poll_s` and, when it moved, builds one snapshot and hands
it to every follower; so the database sees one cheap query per poll per
gateway instance, however many consoles are open. The mark and the snapshot
come from the database, not from this process, so what other instances did
shows up too. With nobody following, the task ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool

log = logging.getLogger("gateway.console")


def sse(event: str, data: Any) -> str:
    """One server-sent event (JSON data on one line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


class ConsoleFeed:
    def __init__(self, mark: Callable[[], object], snapshot: Callable[[], dict[str, Any]], poll_s: float,
                 exiting: Callable[[], bool]) -> None:
        """`mark`: what changes when the snapshot would (blocking; run in a thread); `snapshot`: the data
        (blocking); `exiting`: True once the server shuts down, which ends every follower's stream."""
        self._mark = mark
        self._snapshot = snapshot
        self.poll_s = poll_s
        self.exiting = exiting
        self._followers: set[asyncio.Queue[str]] = set()
        self._latest: str | None = None  # the newest snapshot event, for whoever starts following
        self._task: asyncio.Task[None] | None = None
        self.snapshots = 0  # built so far (one per change, whatever the number of followers)

    @property
    def followers(self) -> int:
        return len(self._followers)

    async def follow(self, keepalive_s: float) -> AsyncIterator[str]:
        """Server-sent events for one console: the current snapshot, then each new one; a comment line
        after `keepalive_s` of quiet. Ends when the server is exiting."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        if self._latest is not None:
            queue.put_nowait(self._latest)
        self._followers.add(queue)
        if self._task is None:
            self._task = asyncio.create_task(self._poll())
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        try:
            while not self.exiting():
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=self.poll_s)
                    quiet_since = loop.time()
                except TimeoutError:
                    if loop.time() - quiet_since >= keepalive_s:
                        quiet_since = loop.time()
                        yield ": keep-alive\n\n"
        finally:
            self._followers.discard(queue)

    async def _poll(self) -> None:
        seen: object = None
        try:
            while self._followers and not self.exiting():
                try:
                    mark = await run_in_threadpool(self._mark)
                    if mark != seen:
                        event = sse("snapshot", await run_in_threadpool(self._snapshot))
                        self.snapshots += 1
                        seen, self._latest = mark, event
                        self._hand(event)
                except Exception as exc:  # the database went away: say so, and keep trying
                    log.warning("console feed: cannot read the database (%s); retrying", type(exc).__name__)
                    seen, self._latest = None, None
                    self._hand(sse("unavailable", {"detail": "the database is not available; retrying"}))
                await asyncio.sleep(self.poll_s)
        finally:  # nobody follows, or the server stops: the next follower starts afresh
            self._latest = None
            self._task = None

    def _hand(self, event: str) -> None:
        for queue in self._followers:
            if queue.full():  # a slow console gets the newest event, not a backlog
                queue.get_nowait()
            queue.put_nowait(event)
