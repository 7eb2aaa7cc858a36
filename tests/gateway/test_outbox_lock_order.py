"""A receipt arriving while the publisher confirms the same alert must not deadlock (PostgreSQL).

Found by bench/chaos.py on PostgreSQL: 78 `deadlock detected` errors in two
minutes, each stalling the worker or the publisher for PostgreSQL's
deadlock_timeout (1 s), which put press → dispatch at a median of 1.1 s.
`confirm()` locks the alert rows (published_rev) and then the outbox rows;
`receipt()` took them the other way round. SQLite serialises writers, so
this is PostgreSQL only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from gateway.storage.db import migrate
from tests.gateway.conftest import fresh_postgres
from tests.gateway.harness import register
from tests.gateway.test_outbox import DEVICE, NOW, commit_alert, make_store


@pytest.fixture
def migrated_postgres() -> Iterator[str]:
    for url in fresh_postgres():
        migrate(url)
        yield url


def test_a_receipt_during_the_confirmation_of_its_alert_does_not_deadlock(migrated_postgres: str) -> None:
    store = make_store(migrated_postgres, "gw-1")
    register(store, DEVICE, "11" * 32)
    first, second = (next(i for i in commit_alert(store, seq) if i.kind == "dispatch_alert") for seq in (1, 2))
    engine = create_engine(migrated_postgres)

    def waiting_on_locks() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                         " AND wait_event_type = 'Lock'")).scalar_one())

    def wait_for_waiters(count: int) -> None:
        deadline = time.monotonic() + 10
        while waiting_on_locks() < count:
            assert time.monotonic() < deadline, f"expected {count} sessions waiting on a lock"
            time.sleep(0.02)

    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> threading.Thread:
        def guarded() -> None:
            try:
                job()
            except BaseException as exc:
                errors.append(exc)
        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    # Hold the second alert's row, so that the confirmation stops between its two steps:
    # the first alert's row locked (published_rev), its outbox row not yet.
    with engine.connect() as locker:
        locker.execute(text("SELECT id FROM alerts WHERE id = :id FOR UPDATE"), {"id": second.alert_id})
        confirming = run(lambda: store.confirm([first, second], NOW, lambda _item: 10.0))
        wait_for_waiters(1)
        receipting = run(lambda: store.receipt(f"{DEVICE}:1", 1))  # dispatch got the first alert
        wait_for_waiters(2)
        locker.rollback()
    confirming.join(timeout=15)
    receipting.join(timeout=15)
    assert not confirming.is_alive() and not receipting.is_alive()
    assert errors == []
    assert store.get_alert(f"{DEVICE}:1").published_rev == 1
    assert store.get_alert(f"{DEVICE}:2").published_rev == 1
    # the first alert is receipted; the second still waits for its receipt (plus nothing else)
    assert [(i.alert_id, i.rev) for i in store.claim_due(NOW.replace(year=2027), 10)
            if i.kind == "dispatch_alert"] == [(f"{DEVICE}:2", 1)]
