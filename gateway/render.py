"""Turn a staged publication into the bytes that go on the wire, when it is published.

Rendering late means a publication always carries the registry as it is
now, and a device ack or command is signed with the device's current key. A dispatch
alert is routed here too, against the stations as they are now: it goes to
the all-alerts topic and, when routed, to its station's topic, and when
escalated to the topic of every station escalated to, as one outbox row
(confirmed only when every copy is PUBACKed). Only sos and silent_sos are
routed: a test alert (or a cancel shown as itself) is never on a station's
topic.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gateway import enrich, protocol
from gateway.storage.alerts import AlertContext
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Store
from gateway.topics import station_topic


def _json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class AlertRouting:
    """How dispatch alerts are routed: the station directory's routing, and when a device fix is too old."""

    route: enrich.Route
    max_fix_age_s: int | None = None


@dataclass(frozen=True)
class Unrouted:
    """A dispatch alert rendered without a station, and why."""

    item: OutboxItem
    why: str


def render(item: OutboxItem, store: Store, contexts: dict[str, AlertContext], routing: AlertRouting | None = None,
           unrouted: list[Unrouted] | None = None) -> list[tuple[str, bytes]] | None:
    """(topic, payload) to publish for `item`; None when there is nothing to publish any more.

    `contexts`: what enrichment needs about the batch's dispatch alerts (`Store.contexts`).
    `routing`: None leaves every alert unrouted. A dispatch alert rendered
    without a station is added to `unrouted`.
    """
    if item.kind == "dispatch_alert":
        assert item.alert_id is not None
        context = contexts.get(item.alert_id)
        if context is None:
            return None  # the alert or its device is gone
        if context.alert.rev != item.rev:
            return None  # superseded: a newer revision is staged
        # Only calls for police go to a station: a test or a cancel that revised nothing is never routed.
        routed = routing is not None and context.alert.type in protocol.EMERGENCIES
        record = enrich.dispatch_alert(context, redelivery=item.redelivery,
                                       route=routing.route if routing and routed else None,
                                       max_fix_age_s=routing.max_fix_age_s if routing else None)
        payload = _json(record)
        if record["station"] is None and unrouted is not None and routed:
            no_location = record["location"]["source"] == "none"
            unrouted.append(Unrouted(item, "the alert has no location (no GPS fix, premises not surveyed)"
                                     if no_location else "no stations are registered"))
        stations = ([record["station"]["id"]] if record["station"] else []) + (
            record["escalation"]["stations"] if record["escalation"] else [])
        topics = [item.topic] + [station_topic(s) for s in dict.fromkeys(stations)]
        return [(topic, payload) for topic in topics]
    if item.kind == "device_cmd":
        assert item.device_id is not None and item.body is not None
        key = store.device_key(item.device_id)
        command = item.body["cmd"]
        now = int(time.time())
        if key is None or now > command["exp"]:
            return None  # revoked or gone, or too late: the command reads as expired
        # The member order of protocol/vectors/commands.json: ts (the gateway's clock as it leaves) before exp.
        body = {**{k: v for k, v in command.items() if k != "exp"}, "ts": now, "exp": command["exp"]}
        return [(item.topic, protocol.sign(key, item.topic, body))]
    if item.kind == "device_ack":
        assert item.device_id is not None and item.body is not None
        key = store.device_key(item.device_id)
        if key is None:
            return None  # no longer registered: nobody to tell
        body = {**item.body, "ts": int(time.time())}  # the gateway's clock as the ack leaves
        return [(item.topic, protocol.sign(key, item.topic, body))]
    assert item.body is not None
    record = dict(item.body)
    profile = store.device_profile(item.device_id) if item.device_id else None
    if profile is not None:  # a registered device: say whose it is
        record["owner"] = enrich.owner_record(profile.owner)
        record["premises"] = enrich.premises_record(profile.premises)
    return [(item.topic, _json(record))]
