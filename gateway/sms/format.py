"""The SMS wire format on the gateway side (protocol/README.md, "SMS").

An alert SMS is checked in the contract's order: one part (`multipart`),
GSM-7 text (`not_gsm7`), the grammar (`bad_sms`), then, by gateway/ingest.py,
the device (`unknown_device`, `revoked`) and the MAC (`bad_sig`), and last the
body the SMS stands for, through the MQTT alert's own checks
(gateway/protocol.py: `bad_field`, `out_of_range`), and the replay window.
The firmware side is firmware/panic/smsfmt.py; protocol/vectors/sms.json
holds the two together.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from gateway import protocol
from gateway.protocol import Rejected

DOMAIN = "panic/v1/sms"  # the MAC's domain, as a topic is for MQTT messages
MAC_HEX = 16  # 64 bits (protocol/README.md says why that is enough)
MAX_CHARS = 160  # one GSM-7 SMS
TYPES = dict(zip("SQCTMPBmpb", ("sos", "silent_sos", "cancel", "test", "tamper", "power_lost", "battery_low",
                                 "tamper_restored", "power_restored", "battery_restored"),
                 strict=True))
STATES = dict(zip("RADOXCF", ("received", "acknowledged", "dispatched", "on_scene", "resolved", "cancelled",
                              "false_alarm"), strict=True))
_STATE_LETTER = {state: letter for letter, state in STATES.items()}

# GSM 03.38 default alphabet and its extension table, as Unicode.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà" "\f^{}\\[~]|€"
)
_N = r"(?:0|[1-9][0-9]*)"
_I = r"(?:0|-?[1-9][0-9]*)"
_ALERT = re.compile(
    rf"PB1 A (?P<dev>[0-9a-f]{{12}}) (?P<seq>{_N}) (?P<type>[SQCTMPBmpb]) (?P<ref>{_N}|-) (?P<ts>{_N}|-) (?P<up>{_N}) "
    rf"(?:-|(?P<lat>{_I}),(?P<lon>{_I}),(?P<acc>{_N}),(?P<age>{_N}),(?P<src>[gl])) (?P<bat>{_N}|-) (?P<pwr>[mb]) "
    rf"(?P<rssi>{_I}|-) (?P<mac>[0-9a-f]{{{MAC_HEX}}})"
)


@dataclass(frozen=True)
class SmsAlert:
    """An alert SMS that has the format; not yet verified."""

    device_id: str
    seq: int
    text: str
    fields: dict[str, str | None]

    @property
    def signed(self) -> bytes:
        return self.text[: -MAC_HEX - 1].encode("ascii")

    @property
    def mac(self) -> str:
        return self.text[-MAC_HEX:]


def mac(key: bytes, signed: bytes) -> str:
    return protocol.compute_sig(key, DOMAIN, signed)[:MAC_HEX]


def parse_alert(text: str) -> SmsAlert:
    """The first checks of an alert SMS, on its text: GSM-7 (`not_gsm7`), then the format (`bad_sms`)."""
    strange = sorted(set(text) - GSM7)
    if strange:
        raise Rejected("not_gsm7", f"characters outside GSM 03.38: {''.join(strange[:8])!a}")
    if len(text) > MAX_CHARS:
        raise Rejected("bad_sms", f"{len(text)} characters: more than one SMS")
    match = _ALERT.fullmatch(text)
    if not match:
        raise Rejected("bad_sms", "not an alert SMS (PB1 A ...): garbage, truncated, or another message")
    fields = match.groupdict()
    return SmsAlert(f"pb-{fields['dev']}", int(str(fields["seq"])), text, fields)


def verify(sms: SmsAlert, key: bytes) -> None:
    """The MAC, compared in constant time (`bad_sig`)."""
    if not hmac.compare_digest(mac(key, sms.signed), sms.mac):
        raise Rejected("bad_sig", "MAC does not match")


def _degrees(e7: str) -> str:
    value = int(e7)
    return f"{'-' if value < 0 else ''}{abs(value) // 10**7}.{abs(value) % 10**7:07d}"


def body_json(sms: SmsAlert) -> bytes:
    """The MQTT alert body this SMS stands for (net "sms"), as JSON text for gateway/protocol.py's checks."""
    f = sms.fields

    def number(name: str) -> str:
        value = f[name]
        return "null" if value in (None, "-") else str(value)

    loc = "null"
    if f["lat"] is not None:
        loc = (f'{{"lat":{_degrees(str(f["lat"]))},"lon":{_degrees(str(f["lon"]))},"acc":{f["acc"]},'
               f'"src":"{"gps" if f["src"] == "g" else "last_gps"}","age":{f["age"]}}}')
    ref = "" if f["ref"] == "-" else f',"ref":{f["ref"]}'
    return (f'{{"v":1,"dev":"{sms.device_id}","seq":{f["seq"]},"type":"{TYPES[str(f["type"])]}","ts":{number("ts")},'
            f'"up":{f["up"]},"loc":{loc},"bat":{number("bat")},"pwr":"{"mains" if f["pwr"] == "m" else "battery"}",'
            f'"net":"sms","rssi":{number("rssi")}{ref}}}').encode()


def parse_body(sms: SmsAlert) -> dict[str, Any]:
    """After the MAC: the body through the MQTT alert's own checks (bad_field, out_of_range)."""
    return protocol.parse_body(protocol.Envelope(sms.device_id, "alert", body_json(sms), ""))


def ack_text(key: bytes, device_id: str, ref: int, state: str, ts: int) -> str:
    """The signed ack SMS the gateway sends back (firmware/panic/smsfmt.py reads it)."""
    signed = f"PB1 K {device_id[3:]} {ref} {_STATE_LETTER[state]} {ts}"
    return f"{signed} {mac(key, signed.encode())}"
