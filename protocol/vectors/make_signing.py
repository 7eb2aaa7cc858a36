#!/usr/bin/env python3
"""Generate protocol/vectors/signing.json: the signing test vectors.

Standard library only and deterministic: the keys and the exact bytes of every
`signed` body are written out below, so running this script again reproduces
the committed file byte for byte (tests/protocol/test_vectors.py checks it).

    python protocol/vectors/make_signing.py           # rewrite signing.json
    python protocol/vectors/make_signing.py --stdout  # print it instead
    python protocol/vectors/make_signing.py --check   # exit 1 if it is stale

Signing (protocol/README.md):

    sig     = hex(HMAC-SHA256(key, topic_utf8 + b"\\n" + signed))
    payload = signed[:-1] + b',"sig":"' + sig + b'"}'
"""

from __future__ import annotations

import sys
from pathlib import Path

import vectorfile
from vectorfile import sign, with_sig

OUT = Path(__file__).resolve().with_name("signing.json")

# Two devices with fixed keys (32 bytes drawn once from os.urandom).
DEV_A = "pb-3c71bf4a9e10"
KEY_A = bytes.fromhex("6edf50f1d9308823f0d7d60e3697dbb9f1decb83d0fee8a4c79442a8008d0b7e")
DEV_B = "pb-a4cf12f08e5c"
KEY_B = bytes.fromhex("eb781d55385690cdea40ea3c32f1f2cadc913faafb17e5b6912fe76c1029c363")


def topic(dev: str, suffix: str) -> str:
    return f"panic/v1/dev/{dev}/{suffix}"




A = DEV_A
SAME_BODY = (
    '{"v":1,"dev":"' + DEV_B + '","seq":1,"type":"test","ts":1717214400,"up":61250,'
    '"loc":null,"bat":100,"pwr":"mains","net":"wifi","rssi":-48}'
)

# (name, key, topic, signed body as text (encoded UTF-8), schema file or None)
CASES: list[tuple[str, bytes, str, str, str | None]] = [
    (
        "alert_sos_loc_null",
        KEY_A, topic(A, "alert"),
        '{"v":1,"dev":"' + A + '","seq":17,"type":"sos","ts":1717215000,"up":5423110,'
        '"loc":null,"bat":87,"pwr":"mains","net":"wifi","rssi":-61}',
        "device-alert.json",
    ),
    (
        "alert_sos_gps_bandar_lampung",
        KEY_A, topic(A, "alert"),
        '{"v":1,"dev":"' + A + '","seq":18,"type":"sos","ts":1717215007,"up":5430518,'
        '"loc":{"lat":-5.4291234,"lon":105.2612345,"acc":6,"src":"gps","age":1},'
        '"bat":64,"pwr":"battery","net":"cell","rssi":-83}',
        "device-alert.json",
    ),
    (
        "alert_cancel_with_ref",
        KEY_A, topic(A, "alert"),
        '{"v":1,"dev":"' + A + '","seq":19,"type":"cancel","ts":1717215042,"up":5465203,'
        '"loc":null,"bat":87,"pwr":"mains","net":"wifi","rssi":-61,"ref":17}',
        "device-alert.json",
    ),
    (
        "alert_silent_sos_last_gps_clock_unknown",
        KEY_A, topic(A, "alert"),
        '{"v":1,"dev":"' + A + '","seq":3,"type":"silent_sos","ts":null,"up":8812,'
        '"loc":{"lat":-5.4290001,"lon":105.2611,"acc":25,"src":"last_gps","age":5400},'
        '"bat":null,"pwr":"battery","net":"sms","rssi":null}',
        "device-alert.json",
    ),
    (
        # A device event ending its condition: the lid closed again (Contact ID 137 as a restore).
        "alert_tamper_restored",
        KEY_A, topic(A, "alert"),
        '{"v":1,"dev":"' + A + '","seq":23,"type":"tamper_restored","ts":1717215120,"up":5543001,'
        '"loc":null,"bat":87,"pwr":"mains","net":"wifi","rssi":-60}',
        "device-alert.json",
    ),
    (
        "heartbeat",
        KEY_A, topic(A, "hb"),
        '{"v":1,"dev":"' + A + '","seq":20,"ts":1717215060,"up":5483112,'
        '"bat":87,"pwr":"mains","net":"wifi","rssi":-60}',
        "device-heartbeat.json",
    ),
    (
        # MicroPython's json.dumps separates with ", " and ": "; only the
        # appended sig member is compact. The signature covers these bytes.
        "heartbeat_micropython_spaces",
        KEY_A, topic(A, "hb"),
        '{"v": 1, "dev": "' + A + '", "seq": 21, "ts": 1717215090, "up": 5513109, '
        '"bat": 87, "pwr": "mains", "net": "wifi", "rssi": -59}',
        "device-heartbeat.json",
    ),
    (
        # MicroPython dicts are not insertion-ordered: member order is free.
        "alert_test_member_order_shuffled",
        KEY_A, topic(A, "alert"),
        '{"seq":22,"rssi":-59,"type":"test","loc":null,"dev":"' + A + '","net":"wifi",'
        '"v":1,"pwr":"mains","ts":1717215101,"up":5524377,"bat":87}',
        "device-alert.json",
    ),
    (
        "ack_received",
        KEY_A, topic(A, "ack"),
        '{"v":1,"dev":"' + A + '","ref":17,"state":"received","ts":1717215001}',
        "device-ack.json",
    ),
    (
        "ack_acknowledged",
        KEY_A, topic(A, "ack"),
        '{"v":1,"dev":"' + A + '","ref":17,"state":"acknowledged","ts":1717215049}',
        "device-ack.json",
    ),
    (
        # Raw UTF-8 (2-, 3- and 4-byte sequences) inside a string. No pinned
        # body has a free-text member, so this is a signing-only vector (a
        # config command for a Wi-Fi network whose name is not ASCII).
        "non_ascii_bytes",
        KEY_A, topic(A, "cmd"),
        '{"v":1,"dev":"' + A + '","cmd":"config","ts":1717216000,'
        '"args":{"wifi_ssid":"Warung Bu Sri — café ☕","label":"Polsek Teluk Betung 🚨"}}',
        None,
    ),
    (
        # The same values written with JSON escapes: other bytes, other sig.
        "non_ascii_escaped",
        KEY_A, topic(A, "cmd"),
        '{"v":1,"dev":"' + A + '","cmd":"config","ts":1717216000,'
        '"args":{"wifi_ssid":"Warung Bu Sri \\u2014 caf\\u00e9 \\u2615",'
        '"label":"Polsek Teluk Betung \\ud83d\\udea8"}}',
        None,
    ),
    (
        # Same key, same body bytes, two topics: the topic is signed too, so a
        # message cannot be moved to another channel.
        "same_body_topic_alert",
        KEY_B, topic(DEV_B, "alert"),
        SAME_BODY,
        "device-alert.json",
    ),
    (
        "same_body_topic_hb",
        KEY_B, topic(DEV_B, "hb"),
        SAME_BODY,
        "device-alert.json",
    ),
]

DESCRIPTION = (
    "Signing vectors (protocol/README.md, Signing). For each: sig = hex(HMAC-SHA256(bytes.fromhex(key_hex), "
    "topic UTF-8 + \"\\n\" + signed UTF-8)); payload = signed without its final \"}\" + ',\"sig\":\"' + sig "
    "+ '\"}'. `schema` names the file in protocol/schemas/ the payload validates against, or null for a "
    "signing-only vector. Generated by make_signing.py; do not edit by hand."
)


def build() -> dict[str, object]:
    vectors = []
    for name, key, topic_, text, schema in CASES:
        signed = text.encode("utf-8")
        sig = sign(key, topic_, signed)
        vectors.append(
            {
                "name": name,
                "key_hex": key.hex(),
                "topic": topic_,
                "signed": text,
                "sig": sig,
                "payload": with_sig(signed, sig).decode("utf-8"),
                "schema": schema,
            }
        )
    return {"description": DESCRIPTION, "vectors": vectors}


if __name__ == "__main__":
    sys.exit(vectorfile.main(OUT, build(), sys.argv[1:]))
