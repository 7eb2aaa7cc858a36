"""The replay windows of a whole batch are written with one executemany: a single lost
compare-and-set among them must still be noticed (the summed rowcount), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gateway.storage.db import session_factory
from gateway.storage.store import Candidate, Store
from tests.gateway.harness import register

DEVICES = ["pb-00000000000a", "pb-00000000000b", "pb-00000000000c"]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class RacedStore(Store):
    """Just before its first write-back, another instance accepts the first device's seq 1."""

    other: Store
    raced = False

    def _swap_windows(self, session: Session, stored: dict[str, tuple[int, int]],  # type: ignore[override]
                      windows: dict[str, tuple[int, int]], now: datetime) -> bool:
        if not RacedStore.raced:
            RacedStore.raced = True
            assert self.other.accept(DEVICES[0], 1, b"hb", None, now).verdict == "new"
        return Store._swap_windows(session, stored, windows, now)


def test_a_window_moved_by_another_instance_mid_batch_makes_the_batch_judged_again(database_url: str) -> None:
    mine = RacedStore(session_factory(create_engine(database_url)))
    RacedStore.raced = False
    RacedStore.other = Store(session_factory(create_engine(database_url)), instance="panic-gateway-2")
    for device in DEVICES:
        register(mine, device, "11" * 32)
    batch = [Candidate(device, 1, b"hb", None) for device in DEVICES]
    verdicts = [a.verdict for a in mine.accept_many(batch, NOW)]
    assert RacedStore.raced
    # The first device's seq 1 was taken by the other instance: here it is a replay, not accepted twice.
    assert verdicts == ["replay", "new", "new"]
    assert [mine.accept(device, 1, b"hb", None, NOW).verdict for device in DEVICES] == ["replay"] * 3
