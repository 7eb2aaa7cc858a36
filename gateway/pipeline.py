"""What the gateway publishes about what happened: pure functions, no I/O.

    device messages → Ingest (verify, judge) → outcomes ─┐
    a dispatch acknowledgement → the alert's revision ───┼→ these functions → publications
    a status message, heartbeat silence → health flips ──┘

Each function turns outcomes into the publications to stage (dispatch alert
revisions, signed device acks, events). The storage call that commits the
outcome stages them in the same transaction (gateway/storage/outbox.py), and
may call these functions more than once (a lost compare-and-set judges a
batch again): they must stay free of side effects. The MQTT adapter
(gateway/bridge.py) then only executes: hand what was staged to the
publisher, acknowledge the broker's delivery, count and log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gateway import lifecycle, protocol
from gateway.ack_refusal import Refusal
from gateway.dc09.contact_id import contact_id_for
from gateway.dc09.location import Location
from gateway.enrich import rfc3339
from gateway.protocol import Reason
from gateway.storage.models import Alert
from gateway.storage.outbox import Publication, Unreceipted
from gateway.topics import DISPATCH_ALERTS, DISPATCH_EVENTS

EventKind = Literal["device_online", "device_offline", "unregistered", "rejected", "dispatch_unreceipted",
                    "unrouted", "sms_sender_mismatch", "tamper", "power", "low_battery", "ack_refused"]

# A device event's type -> the dispatch event it becomes, and what `detail` says (docs/protocol.md).
DEVICE_EVENT: dict[str, tuple[EventKind, str]] = {
    "tamper": ("tamper", "enclosure or wiring opened"),
    "tamper_restored": ("tamper", "enclosure closed again"),
    "power_lost": ("power", "mains lost, running on battery"),
    "power_restored": ("power", "mains back"),
    "battery_low": ("low_battery", "battery low"),
    "battery_restored": ("low_battery", "battery recovered"),
}


@dataclass(frozen=True)
class Outcome:
    """What became of one device message."""

    verdict: Literal["new", "duplicate", "heartbeat", "rejected"]
    device_id: str | None
    alert: Alert | None = None
    revised: Alert | None = None  # a new cancel's target, revised to cancel_requested
    reason: Reason | None = None
    detail: str = ""

    @property
    def throttle_key(self) -> tuple[str, str]:
        return (self.device_id or "-", self.reason or "-")


def dispatch_alert(alert: Alert) -> Publication:
    """The alert's current revision to dispatch (enriched when published)."""
    return Publication("dispatch_alert", DISPATCH_ALERTS, alert_id=alert.id, rev=alert.rev, device_id=alert.device_id)


def dc09_report(alert: Alert) -> list[Publication]:
    """The alert as a Contact ID report for the alarm-receiving centres (docs/dc09.md), when a code applies.

    Staged for every configured receiver; none configured, nothing is written.
    The GPS fix, when the button had one, goes as extended data.
    """
    if alert.type not in protocol.CONTACT_ID:
        return []  # every type of the contract has a code; kept for stored rows of unknown types
    loc = (alert.body or {}).get("loc")
    extended = list(Location(round(loc["lat"] * 10**7), round(loc["lon"] * 10**7)).extended_data()) if loc else []
    body = {"contact_id": contact_id_for(alert.type).text(), "extended": extended}
    return [Publication("dc09", "dc09", body=body, alert_id=alert.id, device_id=alert.device_id)]


def device_ack(device_id: str, seq: int, state: str) -> Publication:
    """The alert's state to its button (stamped with the gateway's clock and signed when published)."""
    body = {"v": 1, "dev": device_id, "ref": seq, "state": state}
    return Publication("device_ack", protocol.device_topic(device_id, "ack"), body=body, device_id=device_id)


def sms_ack(alert: Alert, state: str) -> Publication:
    """The state to the button by SMS as well: staged only for an alert that came by SMS (it has a route,
    gateway/storage/smsacks.py), once per state; signed and sent by gateway/sms/acks.py."""
    return Publication("sms_ack", "sms", body={"ref": alert.seq, "state": state}, alert_id=alert.id,
                       device_id=alert.device_id)


def sms_route(alert: Alert, sender: str) -> Publication:
    """An alert SMS (new or a repeat) came from `sender`: the alert's later states are texted there."""
    return Publication("sms_route", "sms", body={"sender": sender}, alert_id=alert.id, device_id=alert.device_id)


def event(kind: EventKind, device_id: str | None, at: datetime, *, reason: str | None = None,
          detail: str | None = None, **more: object) -> Publication:
    """An event to dispatch; owner and premises are filled in when published, for a registered device.

    `more`: a device event's own members (alert_id, cid, restore)."""
    record = {"event": kind, "at": rfc3339(at), "device": device_id, "owner": None, "premises": None,
              "reason": reason, "detail": detail, **more}
    return Publication("event", DISPATCH_EVENTS, body=record, device_id=device_id)


def device_event(alert: Alert, at: datetime) -> Publication:
    """A button's tamper, power or battery message as the dispatch event the monitoring centre watches."""
    kind, detail = DEVICE_EVENT[alert.type]
    return event(kind, alert.device_id, at, detail=f"{detail} (alert {alert.id})", alert_id=alert.id,
                 cid=protocol.CONTACT_ID[alert.type], restore=alert.type in protocol.RESTORES)


def for_device_messages(outcomes: Sequence[Outcome], at: datetime,
                        quiet: Callable[[tuple[str, str]], bool]) -> list[Publication]:
    """A batch of judged device messages → what to publish.

    New alert: to dispatch, `received` to the button, and a Contact ID
    report to the alarm-receiving centres. A device event (tamper, power,
    battery) goes to dispatch as an event, not an alert. A cancel goes to
    dispatch as the new revision (cancel_requested) of the alert it cancels,
    or, when that alert cannot take one, as itself. Retransmitted
    alert: `received` again (its first ack may be what got lost) and its
    dispatch state if it has one. Rejected message: an event, unless
    `quiet(sender, reason)` says one was reported lately: a flood of forged
    messages must not become a flood on the dispatch desk.
    """
    publications: list[Publication] = []
    reported: set[tuple[str, str]] = set()
    for outcome in outcomes:
        alert = outcome.alert
        if outcome.verdict == "rejected":
            key = outcome.throttle_key
            if key in reported or quiet(key):
                continue
            reported.add(key)
            kind: EventKind = "unregistered" if outcome.reason == "unknown_device" else "rejected"
            publications.append(event(kind, outcome.device_id, at, reason=outcome.reason,
                                      detail=outcome.detail[:200] or None))
        elif alert is None:
            continue  # a heartbeat: the window update was all there was to do
        elif outcome.verdict == "new":
            if alert.type in protocol.DEVICE_EVENTS:
                publications.append(device_event(alert, at))
            elif alert.type != "cancel" or outcome.revised is None:
                publications.append(dispatch_alert(alert))  # a cancel that revised nothing: shown as itself
            if outcome.revised is not None:
                publications.append(dispatch_alert(outcome.revised))  # cancel_requested, police decide
            publications += [device_ack(alert.device_id, alert.seq, "received"), *dc09_report(alert),
                             *notify(alert, "new")]
        else:
            publications.append(device_ack(alert.device_id, alert.seq, "received"))
            if alert.state in lifecycle.SHOWN_TO_DEVICE:
                publications.append(device_ack(alert.device_id, alert.seq, alert.state))
    return publications


def notify(alert: Alert, event: str, **detail: object) -> list[Publication]:
    """People to tell besides dispatch (gateway/notify/): an emergency alert's arrival, its
    escalations and its end. Tests and technical reports notify nobody."""
    if not lifecycle.escalates(alert.type):
        return []
    return [Publication("notify", "notify", body={"event": event, **detail}, alert_id=alert.id,
                        device_id=alert.device_id)]


def for_revision(alert: Alert, changed: bool, state: str) -> list[Publication]:
    """An alert moved (gateway/lifecycle.py): the new revision to dispatch, the state to the button
    when the button shows it (over MQTT, and by SMS for an alert that came by SMS), people to tell when it ended.

    A move that changes nothing (a retry) tells the button again and publishes
    nothing new: the revision it repeats is already staged.
    """
    to_button = ([device_ack(alert.device_id, alert.seq, state), sms_ack(alert, state)]
                 if state in lifecycle.SHOWN_TO_DEVICE else [])
    if not changed:
        return to_button  # the SMS, once per state, was staged with the move itself: this one adds nothing
    told = notify(alert, state) if state in lifecycle.NOTIFY_ON_END else []
    return [dispatch_alert(alert), *to_button, *told]


def for_escalation(alert: Alert, level: int, stations: Sequence[str]) -> list[Publication]:
    """Nobody acknowledged in time: the escalated revision to dispatch (and the stations it names), people told."""
    return [dispatch_alert(alert), *notify(alert, f"escalation-{level}", level=level, stations=list(stations))]


def for_refused_ack(refusal: Refusal, at: datetime) -> list[Publication]:
    """A dispatch acknowledgement over MQTT was refused: why, to dispatch (the API's answer, as an event)."""
    return [event("ack_refused", refusal.device_id, at, reason=refusal.reason, detail=refusal.detail,
                  alert_id=refusal.alert_id, state=refusal.state, rev=refusal.rev, by=refusal.by,
                  status=refusal.status)]


def for_health(device_id: str, online: bool, detail: str, at: datetime) -> list[Publication]:
    return [event("device_online" if online else "device_offline", device_id, at, detail=detail)]


def for_unreceipted(late: Sequence[Unreceipted], after_s: float, at: datetime) -> list[Publication]:
    """No dispatch consumer confirmed these revisions in time: tell dispatch (and whoever watches events)."""
    return [event("dispatch_unreceipted", item.alert_id.split(":")[0], at,
                  detail=f"alert {item.alert_id} rev {item.rev} not receipted by any dispatch consumer "
                         f"within {after_s:g} s; still re-publishing")
            for item in late]


def for_unrouted(alert_id: str, device_id: str, why: str, at: datetime) -> list[Publication]:
    """An alert went to dispatch without a station (none stored, or no location): say so, once."""
    return [event("unrouted", device_id, at, detail=f"alert {alert_id} not routed to a station: {why}")]
