"""SMS state acks in storage (gateway/storage/smsacks.py): staged with the move only for an alert that came by
SMS, one row per state whatever stages it again, claimed once, kept once sent. SQLite and, where reachable,
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gateway import pipeline
from gateway.storage.store import Store
from gateway.storage.window import Candidate
from tests.gateway.harness import register
from tests.gateway.test_outbox import DEVICE, NOW, body_for, make_store

SENDER = "+6281200000002"


def commit_alert(store: Store, seq: int, sender: str | None) -> None:
    """The alert judged new; by SMS from `sender` (its route staged with it, as the ingress does) or over MQTT."""

    def plan(judged: list[Any]) -> list[Any]:
        outcomes = [pipeline.Outcome(a.verdict, DEVICE, alert=a.alert) for a in judged]
        route = [pipeline.sms_route(o.alert, sender) for o in outcomes if o.alert is not None and sender]
        return [*pipeline.for_device_messages(outcomes, NOW, lambda _key: False), *route]

    store.accept_and_stage([Candidate(DEVICE, seq, f"{seq}".encode(), body_for(seq))], NOW, plan)


def move(store: Store, seq: int, state: str) -> None:
    store.set_dispatch_state(f"{DEVICE}:{seq}", state, "desk", None, NOW,
                             plan=lambda alert, changed: pipeline.for_revision(alert, changed, state))


def test_states_of_an_sms_alert_are_staged_once_each_and_kept_once_sent(database_url: str) -> None:
    store = make_store(database_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    commit_alert(store, 1, SENDER)
    commit_alert(store, 2, None)  # over MQTT: no route, no SMS
    for seq in (1, 2):
        move(store, seq, "acknowledged")
        move(store, seq, "acknowledged")  # a retry
    (item,) = store.claim_sms_acks(NOW)
    assert (item.alert_id, item.ref, item.state, item.recipient, item.attempts) == (
        f"{DEVICE}:1", 1, "acknowledged", SENDER, 1)
    assert make_store(database_url, "gw-2").claim_sms_acks(NOW) == []  # leased: another instance waits
    store.sms_ack_sent(item, NOW)
    move(store, 1, "acknowledged")  # after it was sent, as after a restart: nothing new
    later = NOW + timedelta(hours=1)
    assert store.claim_sms_acks(later) == []
    assert store.sms_acks(f"{DEVICE}:1") == [("acknowledged", "sent", 1)]
    assert store.sms_acks(f"{DEVICE}:2") == []
    move(store, 1, "cancelled")
    assert [(i.state, i.recipient) for i in store.claim_sms_acks(later)] == [("cancelled", SENDER)]


def test_a_failed_send_is_due_again_after_its_back_off_or_given_up(database_url: str) -> None:
    store = make_store(database_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    commit_alert(store, 1, SENDER)
    move(store, 1, "dispatched")
    (item,) = store.claim_sms_acks(NOW)
    store.sms_ack_failed(item, "+CMS ERROR: 331", NOW + timedelta(seconds=5))
    assert store.claim_sms_acks(NOW + timedelta(seconds=4)) == []
    (again,) = store.claim_sms_acks(NOW + timedelta(seconds=5))
    assert again.attempts == 2
    store.sms_ack_failed(again, "+CMS ERROR: 331", None)
    assert store.claim_sms_acks(NOW + timedelta(days=1)) == []
    assert store.sms_acks(f"{DEVICE}:1") == [("dispatched", "failed", 2)]
