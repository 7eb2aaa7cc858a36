"""SMS notifications: who is texted about which event, in which language, and the worker's own thread.

The one stand-in here is a sender that records what it is given (the `TextSender` protocol:
`send_text(number, text)`); the real modem's side is tests/gateway/sms/test_notifications.py.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.notify.channels import NotifyError, SmsNotifier, WebhookNotifier
from gateway.notify.worker import NotifyWorker
from gateway.storage.stations import StationStore
from tests.gateway.lifecycle_harness import World, make_world

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CONTACTS = [{"name": "Ann", "phone": "+61 400 000 001", "lang": "en"},
            {"name": "Budi", "phone": "+62 812 7000 1234", "lang": "id"},
            {"name": "Citra", "phone": "+62 812 7000 5678"}]  # stored before contacts had a language


class RecordingSms:
    """Records every message; fails the numbers in `failing` once each."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failing = set(failing)
        self.arrived = threading.Event()

    def send_text(self, number: str, text: str) -> None:
        if number in self.failing:
            self.failing.discard(number)
            raise OSError("modem busy")
        self.sent.append((number, text))
        self.arrived.set()


def worker(world: World, sms: RecordingSms) -> NotifyWorker:
    return NotifyWorker(world.settings, world.store, world.stations, world.metrics, [SmsNotifier(sms)], poll_s=60)


def duty_phone(world: World, station_id: str, mobile: str) -> None:
    """Give a sample station (whose only phone is 110) a duty mobile as well."""
    stations = StationStore(world.store.sessions)
    stations.put(replace(stations.get(station_id), phones=("110", mobile)))


def test_contacts_in_their_language_and_the_station_in_indonesian(database_url: str) -> None:
    t0 = datetime.now(UTC)  # acknowledgements stage at the real clock: this test runs along it
    world = make_world(database_url, escalate_after_s=60, notify_retry_s=1)
    duty_phone(world, "polresta-bandar-lampung", "+62 811 7200 0001")
    duty_phone(world, "polda-lampung", "+62 811 7200 0002")
    sms = RecordingSms(failing=("+62 812 7000 1234",))
    notifier = worker(world, sms)
    alert_id = world.press(t0, contacts=CONTACTS)
    address = "Jl. Kartini 5, Bandar Lampung"
    owner = world.store.contexts([alert_id])[alert_id].profile.owner.name

    notifier.run_once(t0)
    notifier.run_once(t0 + timedelta(seconds=1))  # Budi's retry, after the modem was busy
    where = "-5.4291234,105.2612345"
    assert sorted(sms.sent) == sorted([
        ("+61 400 000 001", f"EMERGENCY SOS: {owner}, {address}. Location {where}. "
                            f"Police: Polresta Bandar Lampung (sample). Ref {alert_id}"),
        ("+62 812 7000 1234", f"DARURAT SOS: {owner}, {address}. Lokasi {where}. "
                              f"Polisi: Polresta Bandar Lampung (sample). Ref {alert_id}"),
        ("+62 812 7000 5678", f"DARURAT SOS: {owner}, {address}. Lokasi {where}. "
                              f"Polisi: Polresta Bandar Lampung (sample). Ref {alert_id}"),
        ("+62 811 7200 0001", f"DARURAT SOS: {owner}, {address}. Lokasi {where}. "  # the station's duty mobile
                              f"Polisi: Polresta Bandar Lampung (sample). Ref {alert_id}"),
    ])  # not its 110: an emergency number takes calls; texting it would tie up the line it is for
    log = world.store.notification_log(alert_id)
    assert [(n.recipient, n.role, n.lang, n.state, n.attempts) for n in log] == [
        ("+61 400 000 001", "contact", "en", "sent", 1), ("+62 812 7000 1234", "contact", "id", "sent", 2),
        ("+62 812 7000 5678", "contact", "id", "sent", 1), ("+62 811 7200 0001", "station", "id", "sent", 1)]

    # escalation: the stations escalated to are texted, not the contacts (the candidate has only 110)
    sms.sent.clear()
    assert world.escalator.run_due(t0 + timedelta(seconds=60)) == 1
    notifier.run_once(t0 + timedelta(seconds=60))
    assert sms.sent == [("+62 811 7200 0002", f"ESKALASI 1: SOS dari {owner}, {address} belum ditanggapi. "
                                              f"Lokasi {where}. Ref {alert_id}")]

    # the end: the contacts hear it is over
    sms.sent.clear()
    world.acks.transition(alert_id, "false_alarm", "desk 2")
    notifier.run_once(t0 + timedelta(seconds=90))
    assert sorted(sms.sent) == sorted([
        ("+61 400 000 001", f"Police closed the alarm of {owner} ({address}) as a false alarm. Ref {alert_id}"),
        ("+62 812 7000 1234", f"Alarm {owner} ({address}) dinyatakan alarm palsu oleh polisi. Ref {alert_id}"),
        ("+62 812 7000 5678", f"Alarm {owner} ({address}) dinyatakan alarm palsu oleh polisi. Ref {alert_id}"),
    ])
    assert {n.event for n in world.store.notification_log(alert_id)} == {"new", "escalation-1", "false_alarm"}
    notifier.run_once(t0 + timedelta(seconds=1000))
    assert len(sms.sent) == 3, "nothing twice"


def test_tests_and_reports_text_nobody(database_url: str) -> None:
    world = make_world(database_url)
    sms = RecordingSms()
    for kind in ("test", "battery_low", "power_lost"):
        world.press(T0, alert_type=kind, contacts=CONTACTS)
    assert worker(world, sms).run_once(T0) == 0 and sms.sent == []


def test_without_a_modem_no_sms_is_queued(database_url: str) -> None:
    world = make_world(database_url)
    alert_id = world.press(T0, contacts=CONTACTS)
    webhook_only = NotifyWorker(world.settings, world.store, world.stations, world.metrics,
                                [WebhookNotifier([])])
    assert webhook_only.run_once(T0) == 1  # the event, expanded to nothing
    assert world.store.notification_log(alert_id) == []


def test_the_worker_thread_sends_when_woken(database_url: str) -> None:
    world = make_world(database_url)
    sms = RecordingSms()
    notifier = worker(world, sms)  # polls only every minute: the wake is what makes it look
    notifier.start()
    try:
        world.press(datetime.now(UTC), contacts=CONTACTS[:1])
        notifier.wake()
        assert sms.arrived.wait(30), "nothing was sent"
    finally:
        notifier.stop()
    assert [number for number, _ in sms.sent][:1] == ["+61 400 000 001"]


def test_a_modem_error_is_a_notify_error() -> None:
    sms = RecordingSms(failing=("+62 1",))
    try:
        SmsNotifier(sms).send("+62 1", "x")
    except NotifyError as exc:
        assert str(exc) == "SMS to +62 1 failed: OSError: modem busy" and not exc.final
    else:
        raise AssertionError("no NotifyError")


class RefusingSms:
    """A sender that cannot encode the text at all (the modem's ValueError: too many parts, not a number)."""

    def send_text(self, number: str, text: str) -> None:
        raise ValueError("9 SMS, more than 8")


def test_a_text_the_sender_cannot_encode_is_given_up_at_once() -> None:
    with pytest.raises(NotifyError) as caught:
        SmsNotifier(RefusingSms()).send("+62 1", "x")
    assert str(caught.value) == "SMS to +62 1 cannot be sent: 9 SMS, more than 8" and caught.value.final


def test_the_longest_names_the_registry_allows_still_fit_one_concatenated_sms() -> None:
    """An owner of 200 and an address of 500 characters in a script that needs UCS-2: every text is cut to fit
    pdu.MAX_PARTS, keeps its reference, and says that it was cut."""
    from gateway.notify.texts import LANGS, Facts, text
    from gateway.sms.pdu import MAX_PARTS, split_text

    facts = Facts(ref="pb-0123456789ab:4294967295", alert_type="silent_sos", owner="王" * 200,
                  address="محمد " * 100, lat=-5.4291234, lon=105.2612345, station="Polsek " + "ß" * 200)
    for lang in LANGS:
        for event in ("new", "escalation-3", "resolved", "false_alarm", "cancelled"):
            said = text(event, lang, facts)
            alphabet, parts = split_text(said)
            assert alphabet == "ucs2" and len(parts) <= MAX_PARTS, (event, lang, len(said))
            assert said.endswith("Ref pb-0123456789ab:4294967295") and "..." in said
