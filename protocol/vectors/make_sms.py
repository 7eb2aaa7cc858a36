#!/usr/bin/env python3
"""Generate protocol/vectors/sms.json: the SMS alert and SMS ack vectors.

Standard library only and deterministic. Every text is written out by hand
below (the part before the MAC); only the MAC is computed, as the contract
says (protocol/README.md, "SMS"):

    mac  = first 8 bytes of HMAC-SHA256(key, b"panic/v1/sms\\n" + signed), 16 lowercase hex
    text = signed + " " + mac

    python protocol/vectors/make_sms.py           # rewrite sms.json
    python protocol/vectors/make_sms.py --stdout  # print it instead
    python protocol/vectors/make_sms.py --check   # exit 1 if it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import vectorfile
from vectorfile import sign

OUT = Path(__file__).resolve().with_name("sms.json")
DOMAIN = "panic/v1/sms"
MAC_HEX = 16  # 64 bits

# The devices of signing.json: A is the registered one, B another registered device.
DEV_A = "pb-3c71bf4a9e10"
KEY_A = bytes.fromhex("6edf50f1d9308823f0d7d60e3697dbb9f1decb83d0fee8a4c79442a8008d0b7e")
DEV_B = "pb-a4cf12f08e5c"
KEY_B = bytes.fromhex("eb781d55385690cdea40ea3c32f1f2cadc913faafb17e5b6912fe76c1029c363")
A, B = DEV_A[3:], DEV_B[3:]


def mac(key: bytes, signed: str) -> str:
    return sign(key, DOMAIN, signed.encode("ascii"))[:MAC_HEX]


def signed_text(key: bytes, signed: str) -> str:
    return signed + " " + mac(key, signed)


# Valid alerts: (name, args as firmware/panic/smsfmt.alert takes them, the signed text, the body the
# gateway makes of it: the alert's JSON body with "net":"sms", exactly as an MQTT alert would carry it).
ALERTS: list[tuple[str, dict[str, object], str, dict[str, object]]] = [
    (
        "alert_sos_gps",
        {"dev": DEV_A, "seq": 18, "kind": "sos", "ts": 1717215007, "up": 5430518, "bat": 64, "pwr": "battery",
         "rssi": -83, "ref": None, "loc": [-54291234, 1052612345, 6, "gps", 1]},
        f"PB1 A {A} 18 S - 1717215007 5430518 -54291234,1052612345,6,1,g 64 b -83",
        {"v": 1, "dev": DEV_A, "seq": 18, "type": "sos", "ts": 1717215007, "up": 5430518,
         "loc": {"lat": -5.4291234, "lon": 105.2612345, "acc": 6, "src": "gps", "age": 1},
         "bat": 64, "pwr": "battery", "net": "sms", "rssi": -83},
    ),
    (
        "alert_silent_sos_no_fix_no_clock",
        {"dev": DEV_A, "seq": 3, "kind": "silent_sos", "ts": None, "up": 8812, "bat": None, "pwr": "mains",
         "rssi": None, "ref": None, "loc": None},
        f"PB1 A {A} 3 Q - - 8812 - - m -",
        {"v": 1, "dev": DEV_A, "seq": 3, "type": "silent_sos", "ts": None, "up": 8812, "loc": None,
         "bat": None, "pwr": "mains", "net": "sms", "rssi": None},
    ),
    (
        "alert_cancel_with_ref_last_gps",
        {"dev": DEV_A, "seq": 19, "kind": "cancel", "ts": 1717215042, "up": 5465203, "bat": 87, "pwr": "mains",
         "rssi": -61, "ref": 17, "loc": [-54290001, 1052611000, 25, "last_gps", 5400]},
        f"PB1 A {A} 19 C 17 1717215042 5465203 -54290001,1052611000,25,5400,l 87 m -61",
        {"v": 1, "dev": DEV_A, "seq": 19, "type": "cancel", "ts": 1717215042, "up": 5465203,
         "loc": {"lat": -5.4290001, "lon": 105.2611, "acc": 25, "src": "last_gps", "age": 5400},
         "bat": 87, "pwr": "mains", "net": "sms", "rssi": -61, "ref": 17},
    ),
    (
        "alert_longest_possible",
        {"dev": DEV_A, "seq": 9007199254740991, "kind": "battery_low", "ts": 4294967295, "up": 9007199254740991,
         "bat": 100, "pwr": "battery", "rssi": -150, "ref": None,
         "loc": [-900000000, -1800000000, 100000, "last_gps", 31536000]},
        f"PB1 A {A} 9007199254740991 B - 4294967295 9007199254740991 "
        "-900000000,-1800000000,100000,31536000,l 100 b -150",
        {"v": 1, "dev": DEV_A, "seq": 9007199254740991, "type": "battery_low", "ts": 4294967295,
         "up": 9007199254740991,
         "loc": {"lat": -90.0, "lon": -180.0, "acc": 100000, "src": "last_gps", "age": 31536000},
         "bat": 100, "pwr": "battery", "net": "sms", "rssi": -150},
    ),
    (
        "alert_test_zero_coordinates",
        {"dev": DEV_A, "seq": 1, "kind": "test", "ts": 0, "up": 0, "bat": 0, "pwr": "mains", "rssi": 0,
         "ref": None, "loc": [0, 0, 0, "gps", 0]},
        f"PB1 A {A} 1 T - 0 0 0,0,0,0,g 0 m 0",
        {"v": 1, "dev": DEV_A, "seq": 1, "type": "test", "ts": 0, "up": 0,
         "loc": {"lat": 0.0, "lon": 0.0, "acc": 0, "src": "gps", "age": 0},
         "bat": 0, "pwr": "mains", "net": "sms", "rssi": 0},
    ),
    (
        "alert_readings_clamped_like_mqtt",
        # Out-of-range readings follow bounds.json: ts unknown, bat/rssi/up clamped, a bad fix is no fix.
        {"dev": DEV_A, "seq": 21, "kind": "tamper", "ts": -5, "up": -1, "bat": 103, "pwr": "battery",
         "rssi": -160, "ref": None, "loc": [-54291234, 1052612345, 100001, "gps", 1]},
        f"PB1 A {A} 21 M - - 0 - 100 b -150",
        {"v": 1, "dev": DEV_A, "seq": 21, "type": "tamper", "ts": None, "up": 0, "loc": None,
         "bat": 100, "pwr": "battery", "net": "sms", "rssi": -150},
    ),
    (
        "alert_power_lost",
        {"dev": DEV_A, "seq": 22, "kind": "power_lost", "ts": 1717215100, "up": 99, "bat": 55, "pwr": "battery",
         "rssi": -99, "ref": None, "loc": None},
        f"PB1 A {A} 22 P - 1717215100 99 - 55 b -99",
        {"v": 1, "dev": DEV_A, "seq": 22, "type": "power_lost", "ts": 1717215100, "up": 99, "loc": None,
         "bat": 55, "pwr": "battery", "net": "sms", "rssi": -99},
    ),
    (
        "alert_power_restored",
        {"dev": DEV_A, "seq": 23, "kind": "power_restored", "ts": 1717215200, "up": 199, "bat": 56, "pwr": "mains",
         "rssi": -99, "ref": None, "loc": None},
        f"PB1 A {A} 23 p - 1717215200 199 - 56 m -99",
        {"v": 1, "dev": DEV_A, "seq": 23, "type": "power_restored", "ts": 1717215200, "up": 199, "loc": None,
         "bat": 56, "pwr": "mains", "net": "sms", "rssi": -99},
    ),
]

# Firmware-side encoding errors: (name, args) for which smsfmt.alert raises ValueError (a bug, as in bounds.json).
ENCODE_ERRORS: list[tuple[str, dict[str, object]]] = [
    ("encode_seq_zero", {"dev": DEV_A, "seq": 0, "kind": "sos", "ts": None, "up": 0, "bat": None, "pwr": "mains",
                         "rssi": None, "ref": None, "loc": None}),
    ("encode_seq_2_53", {"dev": DEV_A, "seq": 9007199254740992, "kind": "sos", "ts": None, "up": 0, "bat": None,
                         "pwr": "mains", "rssi": None, "ref": None, "loc": None}),
    ("encode_unknown_type", {"dev": DEV_A, "seq": 5, "kind": "fire", "ts": None, "up": 0, "bat": None,
                             "pwr": "mains", "rssi": None, "ref": None, "loc": None}),
]

VALID_A = f"PB1 A {A} 18 S - 1717215007 5430518 -54291234,1052612345,6,1,g 64 b -83"

# Alerts the gateway must refuse: (name, sender is a registered SIM, text, reason, note). Device A is registered
# with KEY_A; B is registered with KEY_B. Each uses its own seq, increasing, so they can be fed in order.
REJECTED_ALERTS: list[tuple[str, str, str, str]] = [
    ("reject_forged_mac", f"PB1 A {A} 30 S - 1717215007 5430518 - 64 b -83 0123456789abcdef", "bad_sig",
     "grammatical, but the MAC is not the device key's"),
    ("reject_signed_by_other_device", signed_text(KEY_B, f"PB1 A {A} 31 S - 1717215007 5430518 - 64 b -83"),
     "bad_sig", "device B's key signing an alert that names device A (wrong device)"),
    ("reject_unknown_device", signed_text(KEY_A, "PB1 A 000000000001 32 S - - 1 - - m -"), "unknown_device",
     "the named device is not registered"),
    ("reject_truncated_mac", signed_text(KEY_A, f"PB1 A {A} 33 S - - 1 - - m -")[:-3], "bad_sms",
     "the last 3 MAC digits were cut off"),
    ("reject_truncated_fields", f"PB1 A {A} 34 S - 1717215007", "bad_sms", "an SMS cut after ts"),
    ("reject_truncated_but_grammatical", signed_text(KEY_A, f"PB1 A {A} 35 S - - 1 - - m -85").replace(
        " -85 ", " -8 "), "bad_sig", "a digit lost inside a field: the grammar holds, the MAC does not"),
    ("reject_non_gsm7", signed_text(KEY_A, f"PB1 A {A} 36 S - - 1 - - m -") + " \u4f60\u597d", "not_gsm7",
     "characters outside the GSM 03.38 alphabet (a UCS-2 message)"),
    ("reject_gsm7_but_outside_the_format", signed_text(KEY_A, f"PB1 A {A} 37 S - - 1 - - m -") + " @",
     "bad_sms", "'@' is GSM-7 but not in the format's alphabet"),
    ("reject_lowercase_mac_required", (lambda t: t[:-16] + t[-16:].upper())(
        signed_text(KEY_A, f"PB1 A {A} 38 S - - 1 - - m -")), "bad_sms", "the MAC is lowercase hex"),
    ("reject_leading_zero_seq", signed_text(KEY_A, f"PB1 A {A} 039 S - - 1 - - m -"), "bad_sms",
     "numbers are canonical decimal: one text per alert"),
    ("reject_cancel_without_ref", signed_text(KEY_A, f"PB1 A {A} 40 C - - 1 - - m -"), "bad_field",
     "cancel needs ref, as in the MQTT alert"),
    ("reject_ref_on_sos", signed_text(KEY_A, f"PB1 A {A} 41 S 7 - 1 - - m -"), "bad_field",
     "only cancel carries ref"),
    ("reject_bat_out_of_range", signed_text(KEY_A, f"PB1 A {A} 42 S - - 1 - 101 m -"), "out_of_range",
     "signed, but bat is above 100"),
    ("reject_lat_out_of_range", signed_text(KEY_A, f"PB1 A {A} 43 S - - 1 900000001,0,1,1,g - m -"),
     "out_of_range", "signed, but lat is beyond 90 degrees"),
    ("reject_too_long", signed_text(KEY_A, f"PB1 A {A} 44 S - - 1 - - m -") + " " + "0" * 140, "bad_sms",
     "more than 160 characters cannot be one SMS"),
    ("reject_not_our_format", "Sisa pulsa Anda Rp 1.000. Isi ulang sekarang", "bad_sms",
     "an operator's notice: not the format (unknown_number instead when the sender is no device's SIM)"),
    ("reject_ack_sent_to_the_gateway", signed_text(KEY_A, f"PB1 K {A} 18 R 1717215010"), "bad_sms",
     "an ack is not an alert"),
]

# Acks: (name, args as the gateway makes them, signed text).
ACKS: list[tuple[str, dict[str, object], str]] = [
    ("ack_received", {"dev": DEV_A, "ref": 18, "state": "received", "ts": 1717215010},
     f"PB1 K {A} 18 R 1717215010"),
    ("ack_acknowledged", {"dev": DEV_A, "ref": 18, "state": "acknowledged", "ts": 1717215060},
     f"PB1 K {A} 18 A 1717215060"),
    ("ack_dispatched", {"dev": DEV_A, "ref": 9007199254740991, "state": "dispatched", "ts": 4294967295},
     f"PB1 K {A} 9007199254740991 D 4294967295"),
    ("ack_resolved", {"dev": DEV_A, "ref": 1, "state": "resolved", "ts": 0}, f"PB1 K {A} 1 X 0"),
    ("ack_cancelled", {"dev": DEV_A, "ref": 19, "state": "cancelled", "ts": 1717215100},
     f"PB1 K {A} 19 C 1717215100"),
    ("ack_on_scene", {"dev": DEV_A, "ref": 20, "state": "on_scene", "ts": 1717215200},
     f"PB1 K {A} 20 O 1717215200"),
    ("ack_false_alarm", {"dev": DEV_A, "ref": 21, "state": "false_alarm", "ts": 1717215300},
     f"PB1 K {A} 21 F 1717215300"),
]

VALID_ACK = f"PB1 K {A} 18 R 1717215010"

# Acks the button (device A) must refuse: (name, text, reason, note).
REJECTED_ACKS: list[tuple[str, str, str, str]] = [
    ("ack_reject_forged", VALID_ACK + " 0123456789abcdef", "bad_sig", "grammatical, wrong MAC"),
    ("ack_reject_other_devices_key", signed_text(KEY_B, VALID_ACK), "bad_sig", "signed with device B's key"),
    ("ack_reject_for_another_device", signed_text(KEY_B, f"PB1 K {B} 18 R 1717215010"), "dev_mismatch",
     "a valid ack for device B reaching device A"),
    ("ack_reject_truncated", signed_text(KEY_A, VALID_ACK)[:-1], "bad_sms", "the last MAC digit is missing"),
    ("ack_reject_truncated_state", signed_text(KEY_A, VALID_ACK).replace(" R ", " "), "bad_sms",
     "the state is missing"),
    ("ack_reject_unknown_state", signed_text(KEY_A, f"PB1 K {A} 18 Z 1717215010"), "bad_sms",
     "Z is no state"),
    ("ack_reject_non_gsm7", signed_text(KEY_A, VALID_ACK) + " \u00e9\u20ac\U0001f600", "bad_sms",
     "non-GSM-7 characters (the device does not tell GSM-7 from other text: all are outside the format)"),
    ("ack_reject_alert_reflected", signed_text(KEY_A, f"PB1 A {A} 18 S - - 1 - - m -"), "bad_sms",
     "the button's own alert sent back is not an ack"),
    ("ack_reject_ref_zero", signed_text(KEY_A, f"PB1 K {A} 0 R 1717215010"), "bad_sms", "ref is 1 or more"),
    ("ack_reject_ts_too_big", signed_text(KEY_A, f"PB1 K {A} 18 R 4294967296"), "bad_sms",
     "ts fits 32 bits unsigned"),
    ("ack_reject_trailing_space", signed_text(KEY_A, VALID_ACK) + " ", "bad_sms", "exactly one text per ack"),
]

DESCRIPTION = (
    "SMS vectors (protocol/README.md, SMS). signed = text without its last ' ' + 16 hex; mac = the first 16 hex "
    "digits of HMAC-SHA256(bytes.fromhex(key_hex), b'panic/v1/sms\\n' + signed ASCII). `alerts`: what the "
    "firmware writes for `args` (smsfmt.alert) and the body the gateway makes of it. `encode_errors`: args for "
    "which the firmware raises ValueError. `rejected_alerts`: the gateway's reason for each text, with device "
    "A (key_hex) and B (other_key_hex) registered, fed in order. `acks`: what the gateway writes for `args`; "
    "the button (device A) reads back (ref, state, ts). `rejected_acks`: the button's reason. "
    "Generated by make_sms.py; do not edit by hand."
)


def build() -> dict[str, object]:
    return {
        "description": DESCRIPTION,
        "device": {"id": DEV_A, "key_hex": KEY_A.hex()},
        "other_device": {"id": DEV_B, "key_hex": KEY_B.hex()},
        "alerts": [{"name": n, "args": args, "text": signed_text(KEY_A, text), "mac": mac(KEY_A, text),
                    "body": body} for n, args, text, body in ALERTS],
        "encode_errors": [{"name": n, "args": args, "error": "ValueError"} for n, args in ENCODE_ERRORS],
        "rejected_alerts": [{"name": n, "text": text, "reason": reason, "note": note}
                            for n, text, reason, note in REJECTED_ALERTS],
        "acks": [{"name": n, "args": args, "text": signed_text(KEY_A, text)} for n, args, text in ACKS],
        "rejected_acks": [{"name": n, "text": text, "reason": reason, "note": note}
                          for n, text, reason, note in REJECTED_ACKS],
    }


if __name__ == "__main__":
    sys.exit(vectorfile.main(OUT, build(), sys.argv[1:]))
