"""Escalation in this process, on SQLite and PostgreSQL, at chosen moments (gateway/escalation.py).

The clock is an argument (`run_due(now)`), so each deadline is checked exactly: not a second early,
once per level, stopped by an acknowledgement, exactly once between instances.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.storage.models import NotifyEvent
from tests.gateway.lifecycle_harness import World, make_world

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
AFTER = 60


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_unacknowledged_alert_escalates_once_per_level_up_to_the_top(database_url: str) -> None:
    world = make_world(database_url, escalate_after_s=AFTER, escalate_max_level=3)
    alert_id = world.press(T0)
    routing = world.stations.route(-54291234, 1052612345)
    assert routing.station is not None and routing.station.station.id == "polresta-bandar-lampung"
    candidates = [c.station.id for c in routing.candidates]
    assert len(candidates) == 3

    assert world.escalator.run_due(at(AFTER - 1)) == 0, "not a second early"
    assert world.escalator.run_due(at(AFTER)) == 1
    assert world.escalator.run_due(at(AFTER + 30)) == 0, "once per level"
    alert = world.store.get_alert(alert_id)
    # level 1: the next candidate and the parent station (the Polresta's Polda)
    assert (alert.state, alert.rev, alert.escalation_level) == ("new", 2, 1)
    assert alert.escalation is not None
    assert alert.escalation["stations"] == [candidates[0], "polda-lampung"]
    assert alert.escalation["reason"] == "not acknowledged within 60 s"
    assert [e.rev for e in world.outbox(alert_id, "dispatch_alert")] == [2], "the escalated revision is staged"

    assert world.escalator.run_due(at(2 * AFTER - 1)) == 0
    assert world.escalator.run_due(at(2 * AFTER)) == 1
    # level 2: the second candidate; the Polda has no parent
    assert world.store.get_alert(alert_id).escalation["stations"] == [candidates[0], "polda-lampung",  # type: ignore[index]
                                                                       candidates[1]]
    assert world.escalator.run_due(at(3 * AFTER)) == 1
    top = world.store.get_alert(alert_id)
    assert (top.rev, top.escalation_level, top.escalate_at) == (4, 3, None), "level 3 is the configured top"
    assert world.escalator.run_due(at(100 * AFTER)) == 0

    _, steps = world.store.timeline(alert_id)
    assert [(s.state, s.rev, s.escalation, s.by) for s in steps] == [
        ("new", 1, None, None), ("new", 2, 1, None), ("new", 3, 2, None), ("new", 4, 3, None)]
    assert [s.at for s in steps] == [T0, at(AFTER), at(2 * AFTER), at(3 * AFTER)]
    with world.store.sessions() as session:
        events = session.execute(select(NotifyEvent.event).where(NotifyEvent.alert_id == alert_id)
                                 .order_by(NotifyEvent.id)).scalars().all()
    assert events == ["new", "escalation-1", "escalation-2", "escalation-3"]
    assert world.metrics.get("escalations_total", level="1") == 1


def test_the_top_of_the_station_tree_ends_escalation(database_url: str) -> None:
    world = make_world(database_url, escalate_after_s=AFTER, escalate_max_level=10, dispatch_candidates=1)
    alert_id = world.press(T0)
    assert world.escalator.run_due(at(AFTER)) == 1
    # one candidate and one parent: nobody is left above level 1
    alert = world.store.get_alert(alert_id)
    assert (alert.escalation_level, alert.escalate_at) == (1, None)
    assert world.escalator.run_due(at(50 * AFTER)) == 0


def test_an_acknowledgement_stops_escalation(database_url: str) -> None:
    world = make_world(database_url, escalate_after_s=AFTER)
    answered = world.press(T0)
    later = world.press(T0)
    world.acks.transition(answered, "acknowledged", "desk 1")
    assert world.escalator.run_due(at(AFTER)) == 1, "only the alert nobody answered"
    assert world.store.get_alert(answered).rev == 2 and world.store.get_alert(answered).escalation_level == 0
    world.acks.transition(later, "dispatched", "desk 2")  # after its first escalation
    assert world.escalator.run_due(at(10 * AFTER)) == 0
    assert world.store.get_alert(later).escalation_level == 1


def test_tests_and_technical_reports_never_escalate(database_url: str) -> None:
    world = make_world(database_url, escalate_after_s=AFTER)
    for kind in ("test", "battery_low", "power_lost"):
        world.press(T0, alert_type=kind)
    assert world.escalator.run_due(at(10 * AFTER)) == 0


def test_an_unrouted_alert_escalates_once_on_the_all_alerts_topic(database_url: str) -> None:
    world = make_world(database_url, import_sample=False, escalate_after_s=AFTER)
    alert_id = world.press(T0)
    assert world.escalator.run_due(at(AFTER)) == 1
    alert = world.store.get_alert(alert_id)
    assert alert.escalation is not None and alert.escalation["stations"] == [] and alert.escalate_at is None


def test_two_instances_escalate_each_level_exactly_once(database_url: str) -> None:
    first = make_world(database_url, "panic-gateway-1", escalate_after_s=AFTER)
    second = make_world(database_url, "panic-gateway-2", import_sample=False, escalate_after_s=AFTER)
    alerts = [first.press(T0) for _ in range(12)]
    for level in (1, 2):
        done = race([first, second], at(level * AFTER))
        assert sum(done) == len(alerts), done
        for alert_id in alerts:
            alert = first.store.get_alert(alert_id)
            assert (alert.escalation_level, alert.rev) == (level, level + 1)
            steps = first.store.timeline(alert_id)[1]
            assert [s.escalation for s in steps[1:]] == list(range(1, level + 1)), "each level stored once"


def race(worlds: list[World], moment: datetime) -> list[int]:
    """Every world's escalator checks at `moment`, all starting together; how many each escalated."""
    start = threading.Barrier(len(worlds))
    done = [0] * len(worlds)

    def run(index: int) -> None:
        start.wait()
        done[index] = worlds[index].escalator.run_due(moment)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(worlds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return done


def test_a_cancel_request_does_not_stop_escalation_but_police_do(database_url: str) -> None:
    world = make_world(database_url, escalate_after_s=AFTER)
    alert_id = world.press(T0)
    world.acks.transition(alert_id, "cancel_requested", "button")  # the presser may be made to cancel
    assert world.escalator.run_due(at(AFTER)) == 1
    alert = world.store.get_alert(alert_id)
    assert (alert.state, alert.escalation_level) == ("cancel_requested", 1)
    assert [(s.state, s.escalation) for s in world.store.timeline(alert_id)[1]][-1] == ("cancel_requested", 1)
    world.acks.transition(alert_id, "cancelled", "desk 1", "owner confirmed by phone")
    assert world.escalator.run_due(at(10 * AFTER)) == 0
