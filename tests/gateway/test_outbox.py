"""The outbox in storage: staged with its cause, claimed once across instances, kept until confirmed.

Runs on SQLite and, where one is reachable, on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, insert

from gateway import pipeline
from gateway.storage.db import alembic_config, session_factory
from gateway.storage.models import Alert
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Store
from tests.gateway.conftest import fresh_postgres
from tests.gateway.harness import register

DEVICE = "pb-0123456789ab"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def body_for(seq: int) -> dict[str, Any]:
    return {"v": 1, "dev": DEVICE, "seq": seq, "type": "sos", "ts": None, "up": 1, "loc": None,
            "bat": None, "pwr": "mains", "net": "wifi", "rssi": None}


def make_store(url: str, instance: str) -> Store:
    return Store(session_factory(create_engine(url)), instance=instance, lease_s=30)


def commit_alert(store: Store, seq: int) -> list[OutboxItem]:
    from gateway.storage.window import Candidate

    def plan(judged: list[Any]) -> list[Any]:
        outcomes = [pipeline.Outcome(a.verdict, DEVICE, alert=a.alert) for a in judged]
        return pipeline.for_device_messages(outcomes, NOW, lambda _key: False)

    return store.accept_and_stage([Candidate(DEVICE, seq, f"{seq}".encode(), body_for(seq))], NOW, plan)[1]


def test_publications_are_committed_with_the_alert_or_not_at_all(database_url: str) -> None:
    store = make_store(database_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    staged = commit_alert(store, 1)
    assert [(i.kind, i.alert_id, i.attempts) for i in staged] == [
        ("dispatch_alert", f"{DEVICE}:1", 1), ("device_ack", None, 1)]
    assert store.outbox_backlog() == 2

    def broken_plan(_judged: list[Any]) -> list[Any]:
        raise RuntimeError("deciding failed")

    from gateway.storage.window import Candidate
    with pytest.raises(RuntimeError):
        store.accept_and_stage([Candidate(DEVICE, 2, b"2", body_for(2))], NOW, broken_plan)
    assert [a.seq for a in store.list_alerts(DEVICE, None, 10)] == [1]  # the alert went with its publications
    assert store.outbox_backlog() == 2


def test_due_rows_are_claimed_by_one_instance_only(database_url: str) -> None:
    first, second = make_store(database_url, "gw-1"), make_store(database_url, "gw-2")
    register(first, DEVICE, "11" * 32)
    for seq in range(1, 31):
        commit_alert(first, seq)
    later = NOW + timedelta(seconds=31)  # the committing instance's leases ran out (it crashed)
    claimed: dict[str, list[int]] = {"gw-1": [], "gw-2": []}
    barrier = threading.Barrier(2)

    def claim(store: Store) -> None:
        barrier.wait()
        for _ in range(10):
            claimed[store.instance] += [item.id for item in store.claim_due(later, 7)]

    threads = [threading.Thread(target=claim, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = claimed["gw-1"] + claimed["gw-2"]
    assert len(both) == 60 and len(set(both)) == 60, "every row claimed exactly once"
    assert all(item.redelivery for item in first.claim_due(later + timedelta(seconds=31), 100))


def test_a_restarted_instance_takes_back_its_own_claims_at_once(database_url: str) -> None:
    store = make_store(database_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    commit_alert(store, 1)
    assert store.claim_due(NOW, 10) == []  # leased by the (crashed) committer
    assert make_store(database_url, "gw-2").release_mine(NOW) == 0  # not another instance's to release
    assert store.release_mine(NOW) == 2
    again = store.claim_due(NOW, 10)
    assert [(i.kind, i.redelivery) for i in again] == [("dispatch_alert", True), ("device_ack", True)]


def test_a_dispatch_alert_stays_until_its_receipt(database_url: str) -> None:
    store = make_store(database_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    staged = commit_alert(store, 1)
    store.confirm(staged, NOW, lambda item: 10.0)  # the broker's PUBACKs
    assert store.outbox_backlog() == 1  # the device ack is done; the alert awaits a receipt
    assert store.get_alert(f"{DEVICE}:1").published_rev == 1
    assert store.claim_due(NOW + timedelta(seconds=9), 10) == []
    retry = store.claim_due(NOW + timedelta(seconds=10), 10)
    assert [(i.kind, i.rev, i.redelivery) for i in retry] == [("dispatch_alert", 1, True)]
    # a newer revision supersedes the waiting one; a receipt for it closes everything older
    revision = store.set_dispatch_state(f"{DEVICE}:1", "acknowledged", "desk", None, NOW,
                                        plan=lambda alert, changed: pipeline.for_revision(alert, changed,
                                                                                          "acknowledged"))
    assert [(i.kind, i.rev) for i in revision.staged] == [("dispatch_alert", 2), ("device_ack", None)]
    assert store.receipt(f"{DEVICE}:1", 1) == 0  # rev 1 is gone already; rev 2 still waits
    assert store.receipt(f"{DEVICE}:1", 2) == 1
    assert store.outbox_backlog() == 1  # the device ack of the revision


def test_an_unreceipted_alert_is_reported_once_across_instances(database_url: str) -> None:
    first, second = make_store(database_url, "gw-1"), make_store(database_url, "gw-2")
    register(first, DEVICE, "11" * 32)
    commit_alert(first, 1)
    later = NOW + timedelta(seconds=61)

    def plan(found: list[Any]) -> list[Any]:
        return pipeline.for_unreceipted(found, 60, later)

    assert first.report_unreceipted(NOW + timedelta(seconds=59), 60, plan) == ([], [])
    found, staged = first.report_unreceipted(later, 60, plan)
    assert [(f.alert_id, f.rev) for f in found] == [(f"{DEVICE}:1", 1)]
    assert staged[0].body is not None and staged[0].body["event"] == "dispatch_unreceipted"
    assert second.report_unreceipted(later, 60, plan) == ([], [])


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    yield from fresh_postgres()


def test_alerts_unpublished_before_the_outbox_existed_are_staged_by_the_migration(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0003_device_keys")  # the revision before the outbox
    store = make_store(empty_database_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    with store.sessions() as session:
        # Written as the gateway of that revision did, in the columns it had (today's model has more):
        # alert 1 committed, its publication never confirmed; alert 2 with the old bridge's mark,
        # confirmed on the dispatch topic.
        for seq, published in ((1, 0), (2, 1)):
            session.execute(insert(Alert.__table__).values(  # type: ignore[arg-type]
                id=f"{DEVICE}:{seq}", device_id=DEVICE, seq=seq, type="sos", state="new", rev=1,
                published_rev=published, payload=str(seq).encode(), body=body_for(seq), received_at=NOW,
                updated_at=NOW, false_alarm=False))
        session.commit()
    command.upgrade(config, "head")
    due = store.claim_due(NOW, 10)
    assert [(i.kind, i.alert_id, i.rev) for i in due] == [("dispatch_alert", f"{DEVICE}:1", 1)]
