"""What the pipeline decides for the alarm-receiving centres: a Contact ID report with each new alert."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import pipeline
from gateway.pipeline import Outcome
from gateway.storage.models import Alert

DEVICE = "pb-3c71bf4a9e10"
AT = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)


def alert(seq: int, alert_type: str = "sos", loc: dict[str, object] | None = None) -> Alert:
    return Alert(id=f"{DEVICE}:{seq}", device_id=DEVICE, seq=seq, type=alert_type, state="new", rev=1,
                 body={"type": alert_type, "loc": loc})


def reports(outcomes: list[Outcome]) -> list[tuple[str | None, object]]:
    out = pipeline.for_device_messages(outcomes, AT, lambda _key: False)
    return [(p.alert_id, p.body) for p in out if p.kind == "dc09"]


def test_a_new_alert_is_reported_with_its_contact_id_and_exact_gps_location() -> None:
    loc = {"lat": -5.4291234, "lon": 105.2612345, "acc": 8, "src": "gps", "age": 2}
    assert reports([Outcome("new", DEVICE, alert=alert(18, "silent_sos", loc)), Outcome("new", DEVICE,
                                                                                        alert=alert(19))]) == [
        (f"{DEVICE}:18", {"contact_id": "1122 01 001", "extended": ["X105.2612345", "Y-5.4291234"]}),
        (f"{DEVICE}:19", {"contact_id": "1120 01 001", "extended": []}),
    ]


def test_a_retransmission_or_a_revision_is_not_reported_again() -> None:
    assert reports([Outcome("duplicate", DEVICE, alert=alert(18))]) == []
    # A revision goes to dispatch and to the button (over MQTT; by SMS only for an alert that came by SMS,
    # decided when staged), never to the alarm-receiving centre again.
    assert [p.kind for p in pipeline.for_revision(alert(18), True, "acknowledged")] == ["dispatch_alert",
                                                                                         "device_ack", "sms_ack"]


def test_every_type_is_reported_with_its_code_and_restores_with_qualifier_3() -> None:
    types = ["sos", "silent_sos", "cancel", "test", "tamper", "power_lost", "battery_low", "tamper_restored",
             "power_restored", "battery_restored"]
    got = reports([Outcome("new", DEVICE, alert=alert(n, t)) for n, t in enumerate(types, 1)])
    assert [body["contact_id"] for _id, body in got] == [  # type: ignore[index]
        "1120 01 001", "1122 01 001", "1406 01 001", "1601 01 000", "1137 01 001", "1301 01 000", "1302 01 000",
        "3137 01 001", "3301 01 000", "3302 01 000"]
