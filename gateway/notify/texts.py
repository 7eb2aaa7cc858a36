"""What people are told, in Indonesian (`id`, the default) and English (`en`).

Every text ends with the alert's reference. By SMS a text is usually two parts of a concatenated SMS
(three or four when an owner's or street name needs UCS-2); gateway/sms/pdu.py caps it at MAX_PARTS.
The registry allows long names and addresses (200 and 500 characters), so the free-text facts are cut
to SHORTEST lengths here: any text then fits the cap even in UCS-2, and nobody goes untold for a long
street name (the full record is in the operator console).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")

_KIND = {
    "id": {"sos": "SOS", "silent_sos": "SOS senyap", "tamper": "sabotase tombol"},
    "en": {"sos": "SOS", "silent_sos": "silent SOS", "tamper": "button tampering"},
}
_TEXTS = {
    "id": {
        "new": "DARURAT {kind}: {owner}, {address}.{where} Polisi: {station}. Ref {ref}",
        "escalation": "ESKALASI {level}: {kind} dari {owner}, {address} belum ditanggapi.{where} Ref {ref}",
        "resolved": "Alarm {owner} ({address}) telah ditangani polisi dan selesai. Ref {ref}",
        "false_alarm": "Alarm {owner} ({address}) dinyatakan alarm palsu oleh polisi. Ref {ref}",
        "cancelled": "Alarm {owner} ({address}) dibatalkan, dikonfirmasi polisi. Ref {ref}",
        "where": " Lokasi {lat},{lon}.",
        "no_station": "belum ditentukan",
    },
    "en": {
        "new": "EMERGENCY {kind}: {owner}, {address}.{where} Police: {station}. Ref {ref}",
        "escalation": "ESCALATION {level}: {kind} from {owner}, {address} not acknowledged.{where} Ref {ref}",
        "resolved": "The alarm of {owner} ({address}) was handled by police and is resolved. Ref {ref}",
        "false_alarm": "Police closed the alarm of {owner} ({address}) as a false alarm. Ref {ref}",
        "cancelled": "The alarm of {owner} ({address}) was cancelled, confirmed by police. Ref {ref}",
        "where": " Location {lat},{lon}.",
        "no_station": "not yet assigned",
    },
}


# The most characters of each free-text fact a text quotes; longer ones are cut and end in "...".
# Worst case, every template with all three at their limit stays under 8 UCS-2 parts (536 characters).
SHORTEST = {"owner": 60, "address": 120, "station": 60}


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3].rstrip() + "..."


@dataclass(frozen=True)
class Facts:
    """What a text says about the alert."""

    ref: str  # the alert id
    alert_type: str
    owner: str
    address: str
    lat: float | None
    lon: float | None
    station: str | None  # the responsible station's name


def text(event: str, lang: str, facts: Facts) -> str:
    """The text of `event` (new, escalation-N, resolved, false_alarm, cancelled) in `lang` (unknown: Indonesian)."""
    texts = _TEXTS.get(lang, _TEXTS["id"])
    kinds = _KIND.get(lang, _KIND["id"])
    name, _, level = event.partition("-")
    where = texts["where"].format(lat=facts.lat, lon=facts.lon) if facts.lat is not None else ""
    return texts[name].format(kind=kinds.get(facts.alert_type, facts.alert_type),
                              owner=_cut(facts.owner, SHORTEST["owner"]),
                              address=_cut(facts.address, SHORTEST["address"]), where=where,
                              station=_cut(facts.station or texts["no_station"], SHORTEST["station"]),
                              level=level, ref=facts.ref)
