"""The receivers' messages in the gateway's database: staged with their cause, sequence numbers, leases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine

from gateway import pipeline
from gateway.dc09.queue import Dc09Queue, Report
from gateway.storage.db import session_factory
from gateway.storage.outbox import Publication
from gateway.storage.store import Candidate
from gateway.storage.window import Acceptance
from tests.gateway.harness import make_core, register


def report(key: str) -> Report:
    return Report(key, "pb-3c71bf4a9e10", "1120 01 001", ("X1.0000000", "Y2.0000000"))


def queue_on(database_url: str, instance: str = "gw-1") -> Dc09Queue:
    return Dc09Queue(session_factory(create_engine(database_url)), instance, lease_s=30.0)


def test_sequence_numbers_run_0001_to_9999_per_receiver_and_wrap(database_url: str) -> None:
    queue = queue_on(database_url)
    queue.configure(["a", "b"])
    assert [queue.next_sequence("a") for _ in range(3)] == [1, 2, 3]
    assert queue.next_sequence("b") == 1
    for _ in range(9995):
        queue.next_sequence("a")
    assert [queue.next_sequence("a") for _ in range(3)] == [9999, 1, 2]


def test_a_report_is_staged_for_every_active_receiver_and_keeps_its_sequence_number(database_url: str) -> None:
    queue = queue_on(database_url)
    queue.configure(["a", "b"])
    assert queue.enqueue([report("e1"), report("e2")]) == 4
    assert queue.enqueue([report("e1")]) == 0  # the same report again while pending: nothing new
    head = queue.head("a")
    assert head is not None and head.source_key == "e1" and head.extended == ("X1.0000000", "Y2.0000000")
    assert queue.sequence_for(head) == 1
    queue.failed(head.id, "no answer")

    reopened = queue_on(database_url)  # the gateway restarted
    again = reopened.head("a")
    assert again is not None and (again.id, again.sequence, again.attempts, again.last_error) == (
        head.id, 1, 1, "no answer")
    assert reopened.sequence_for(again) == 1  # a retransmission carries the same number
    reopened.delivered(again.id)
    following = reopened.head("a")
    assert following is not None and following.source_key == "e2" and reopened.sequence_for(following) == 2
    reopened.park(following.id, "DUH")
    assert reopened.head("a") is None
    assert reopened.counts("a") == {"pending": 0, "parked": 1}
    assert reopened.counts("b") == {"pending": 2, "parked": 0}
    assert reopened.requeue_parked("a") == 1 and reopened.head("a") == following.__class__(
        following.id, "a", "e2", following.device_id, following.contact_id, following.extended, 2, 1, "DUH")


def test_a_receiver_no_longer_configured_gets_nothing_new(database_url: str) -> None:
    queue = queue_on(database_url)
    queue.configure(["a", "b"])
    queue.configure(["b"])
    assert queue.enqueue([report("e1")]) == 1
    assert queue.head("a") is None and queue.head("b") is not None
    queue.configure([])
    assert queue.enqueue([report("e2")]) == 0


def test_one_instance_at_a_time_sends_to_a_receiver(database_url: str) -> None:
    first, second = queue_on(database_url, "gw-1"), queue_on(database_url, "gw-2")
    first.configure(["a"])
    assert first.hold("a") and first.hold("a")  # renewed
    assert not second.hold("a")
    first.let_go("a")  # a clean stop
    assert second.hold("a") and not first.hold("a")


def test_the_report_is_committed_in_the_alerts_own_transaction_or_not_at_all(database_url: str) -> None:
    device = "pb-3c71bf4a9e10"
    core = make_core(create_engine(database_url))
    register(core.store, device, "11" * 32)
    queue = Dc09Queue(core.store.sessions, "gw-1", lease_s=30.0)
    queue.configure(["arc-1", "arc-2"])
    body = {"v": 1, "dev": device, "seq": 1, "type": "silent_sos", "ts": None, "up": 1, "loc": None,
            "bat": None, "pwr": "mains", "net": "wifi", "rssi": None}
    now = datetime.now(UTC)

    def plan(judged: list[Acceptance]) -> list[Publication]:
        return [p for a in judged if a.alert is not None for p in pipeline.dc09_report(a.alert)]

    def broken(judged: list[Acceptance]) -> list[Publication]:  # the report, then a row that cannot be written
        return [*plan(judged), Publication("event", None)]  # type: ignore[arg-type]

    with pytest.raises(Exception):  # noqa: B017 - whatever the database says about the NULL topic
        core.store.accept_and_stage([Candidate(device, 1, b"1", body)], now, broken)
    assert queue.head("arc-1") is None  # the alert's transaction rolled back, the report with it

    (accepted,), _ = core.store.accept_and_stage([Candidate(device, 1, b"1", body)], now, plan)
    assert accepted.verdict == "new"
    for receiver in ("arc-1", "arc-2"):
        head = queue.head(receiver)
        assert head is not None and (head.source_key, head.device_id, head.contact_id) == (
            f"alert:{device}:1", device, "1122 01 001")
