"""The pure part of the pipeline: outcomes in, publications out."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import pipeline
from gateway.pipeline import Outcome
from gateway.storage.models import Alert

AT = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
DEVICE = "pb-0123456789ab"


def alert(seq: int, state: str = "new", rev: int = 1, alert_type: str = "sos") -> Alert:
    return Alert(id=f"{DEVICE}:{seq}", device_id=DEVICE, seq=seq, type=alert_type, state=state, rev=rev)


def never_quiet(_key: tuple[str, str]) -> bool:
    return False


def test_a_new_alert_goes_to_dispatch_and_its_button_hears_received() -> None:
    dispatch, ack, _arc, told = pipeline.for_device_messages([Outcome("new", DEVICE, alert=alert(7))], AT,
                                                             never_quiet)
    assert (told.kind, told.alert_id, told.body) == ("notify", f"{DEVICE}:7", {"event": "new"})
    assert (dispatch.kind, dispatch.topic, dispatch.alert_id, dispatch.rev) == (
        "dispatch_alert", "panic/v1/dispatch/alerts", f"{DEVICE}:7", 1)
    assert (ack.kind, ack.topic) == ("device_ack", f"panic/v1/dev/{DEVICE}/ack")
    assert ack.body == {"v": 1, "dev": DEVICE, "ref": 7, "state": "received"}  # ts and sig when published


def test_a_retransmission_is_acked_again_with_its_dispatch_state_and_not_dispatched() -> None:
    out = pipeline.for_device_messages([Outcome("duplicate", DEVICE, alert=alert(7, "acknowledged", 2))], AT,
                                       never_quiet)
    assert [(p.kind, p.body and p.body["state"]) for p in out] == [
        ("device_ack", "received"), ("device_ack", "acknowledged")]


def test_heartbeats_publish_nothing() -> None:
    assert pipeline.for_device_messages([Outcome("heartbeat", DEVICE)], AT, never_quiet) == []


def test_rejections_become_one_event_per_sender_and_reason_unless_reported_lately() -> None:
    forged = Outcome("rejected", DEVICE, reason="bad_sig", detail="signature does not match")
    stranger = Outcome("rejected", "pb-00000000000f", reason="unknown_device", detail="not registered")
    out = pipeline.for_device_messages([forged, forged, stranger], AT, never_quiet)
    assert [(p.body and p.body["event"], p.device_id) for p in out] == [
        ("rejected", DEVICE), ("unregistered", "pb-00000000000f")]
    assert out[0].body == {"event": "rejected", "at": "2026-11-30T12:00:05.000Z", "device": DEVICE,
                           "owner": None, "premises": None, "reason": "bad_sig",
                           "detail": "signature does not match"}
    assert pipeline.for_device_messages([forged], AT, lambda key: key == (DEVICE, "bad_sig")) == []


def test_a_revision_is_published_once_and_the_button_told_every_time() -> None:
    changed = pipeline.for_revision(alert(7, "acknowledged", 2), True, "acknowledged")
    assert [(p.kind, p.rev) for p in changed] == [("dispatch_alert", 2), ("device_ack", None), ("sms_ack", None)]
    retried = pipeline.for_revision(alert(7, "acknowledged", 2), False, "acknowledged")
    # the SMS too: storage keeps one per state (and only for an alert that came by SMS), tests/gateway/sms
    assert [p.kind for p in retried] == ["device_ack", "sms_ack"]


def test_the_same_outcomes_always_give_the_same_publications() -> None:
    """Storage may call the plan twice (a lost compare-and-set): it must be deterministic."""
    outcomes = [Outcome("new", DEVICE, alert=alert(1)), Outcome("rejected", DEVICE, reason="replay")]
    assert pipeline.for_device_messages(outcomes, AT, never_quiet) == pipeline.for_device_messages(
        outcomes, AT, never_quiet)


def test_the_button_is_told_the_states_it_shows_and_people_the_ends() -> None:
    for state in ("acknowledged", "dispatched", "on_scene"):
        assert [p.kind for p in pipeline.for_revision(alert(7, state, 2), True, state)] == [
            "dispatch_alert", "device_ack", "sms_ack"]
    for state in ("resolved", "false_alarm", "cancelled"):
        out = pipeline.for_revision(alert(7, state, 3), True, state)
        assert [(p.kind, p.body and p.body.get("state", p.body.get("event"))) for p in out] == [
            ("dispatch_alert", None), ("device_ack", state), ("sms_ack", state), ("notify", state)]
    # the presser's own cancel request is not echoed to the button; a test alert notifies nobody
    assert [p.kind for p in pipeline.for_revision(alert(7, "cancel_requested", 2), True, "cancel_requested")] == [
        "dispatch_alert"]
    assert [p.kind for p in pipeline.for_revision(alert(7, "resolved", 2, "test"), True, "resolved")] == [
        "dispatch_alert", "device_ack", "sms_ack"]
    assert [p.kind for p in pipeline.for_device_messages([Outcome("new", DEVICE, alert=alert(8, alert_type="test"))],
                                                         AT, never_quiet)] == ["dispatch_alert", "device_ack", "dc09"]
