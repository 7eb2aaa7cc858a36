"""Who is told about which event of an alert (docs/operations.md, "Notifications").

    new           the owner's emergency contacts, the responsible station's phones, the webhooks
    escalation-N  the phones of the stations escalated to at level N, the webhooks
    resolved, false_alarm, cancelled
                  the owner's emergency contacts, the webhooks

SMS go out only where the gateway can send them (a modem, `sms`), and only
to numbers that can take one: a short number (110, 112, a service code) is
an emergency or service line that takes calls; texting it would tie up the
line it is for (the sample stations' only phone is 110);
contacts are texted in their `lang`, stations in PANIC_NOTIFY_STATION_LANG,
webhooks get one JSON document with the text in both languages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.notify.texts import LANGS, Facts, text
from gateway.stations.router import Router, Routing
from gateway.storage.alerts import AlertContext
from gateway.storage.notifications import EventItem, Message

MIN_SMS_DIGITS = 8  # Indonesian mobiles have 10-13 digits, landlines with their area code 9-11; 110 has 3


def textable(phone: str) -> bool:
    return sum(c.isdigit() for c in phone) >= MIN_SMS_DIGITS


def facts(context: AlertContext, where: dict[str, Any], routing: Routing) -> Facts:
    profile = context.profile
    return Facts(context.alert.id, context.alert.type, profile.owner.name, profile.premises.address,
                 where["lat"], where["lon"], routing.station.station.name if routing.station else None)


def messages(event: EventItem, context: AlertContext, where: dict[str, Any], routing: Routing, router: Router, *,
             sms: bool, webhooks: Sequence[str], station_lang: str) -> list[Message]:
    told = facts(context, where, routing)
    name = event.event.partition("-")[0]
    found: list[Message] = []
    if sms:
        if name != "escalation":
            for contact in filter(lambda c: textable(c["phone"]), context.profile.owner.emergency_contacts):
                lang = contact.get("lang", "id")  # contacts stored before they had a language: Indonesian
                found.append(Message("sms", contact["phone"], "contact", lang, text(event.event, lang, told)))
        stations = ([routing.station.station.id] if routing.station and name == "new"
                    else list(event.detail.get("stations", [])) if name == "escalation" else [])
        for station_id in stations:
            station = router.station(station_id)
            found += [Message("sms", phone, "station", station_lang, text(event.event, station_lang, told))
                      for phone in (station.phones if station else ()) if textable(phone)]
    document = json.dumps({
        "alert_id": context.alert.id, "event": event.event, "type": context.alert.type,
        "device": context.alert.device_id, "state": context.alert.state,
        "level": event.detail.get("level"), "stations": event.detail.get("stations"),
        "location": {"lat": where["lat"], "lon": where["lon"]},
        "text": {lang: text(event.event, lang, told) for lang in LANGS},
    }, separators=(",", ":"), ensure_ascii=False)
    found += [Message("webhook", key, "webhook", "en", document) for key in webhooks]
    return found
