#!/usr/bin/env python3
"""Generate protocol/vectors/malformed.json: the gateway's rejection vectors.

Standard library only and deterministic; running it again reproduces the
committed file byte for byte (tests/protocol/test_vectors.py checks it).

    python protocol/vectors/make_malformed.py           # rewrite malformed.json
    python protocol/vectors/make_malformed.py --stdout  # print it instead
    python protocol/vectors/make_malformed.py --check   # exit 1 if it is stale

Every vector is built so that the checks *before* the one it is about pass
(protocol/README.md, "Gateway checks, in order"), and its `reason` is stated
here by hand, never computed. Each vector uses its own `seq`, increasing in
file order, so the vectors can be fed one by one to a fresh gateway or all in
order to one gateway: a rejected message never moves the replay window, and
no two accepted controls share a seq.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from pathlib import Path

import vectorfile
from vectorfile import sign, with_sig

OUT = Path(__file__).resolve().with_name("malformed.json")

DEV = "pb-0123456789ab"  # the one registered, active device
KEY = bytes.fromhex("583a400a43abb97e4728f6a47b29901db11284c35cec8921dbadab6384947a8d")
UNKNOWN_DEV = "pb-ffffffffffff"  # well-formed id, never registered
OTHER_KEY = bytes.fromhex("a1d3620e92e0385984a5d772fdc280fbcb7e8a2f5b1ba490567c9887e9c1951e")

ALERT = f"panic/v1/dev/{DEV}/alert"
HB = f"panic/v1/dev/{DEV}/hb"
MAX_PAYLOAD = 2048




def signed_payload(topic: str, signed: bytes, key: bytes = KEY) -> bytes:
    return with_sig(signed, sign(key, topic, signed))


def obj(members: list[tuple[str, str]]) -> bytes:
    """A compact JSON object from (name, raw JSON value text) pairs, in order."""
    return ("{" + ",".join(f'"{name}":{raw}' for name, raw in members) + "}").encode("utf-8")


def alert_members(seq: int, dev: str = DEV) -> list[tuple[str, str]]:
    return [
        ("v", "1"), ("dev", f'"{dev}"'), ("seq", str(seq)), ("type", '"sos"'),
        ("ts", str(1717300000 + seq)), ("up", str(600000 + 1000 * seq)), ("loc", "null"),
        ("bat", "90"), ("pwr", '"mains"'), ("net", '"wifi"'), ("rssi", "-55"),
    ]


def hb_members(seq: int, dev: str = DEV) -> list[tuple[str, str]]:
    return [
        ("v", "1"), ("dev", f'"{dev}"'), ("seq", str(seq)), ("ts", str(1717300000 + seq)),
        ("up", str(600000 + 1000 * seq)), ("bat", "90"), ("pwr", '"mains"'), ("net", '"wifi"'),
        ("rssi", "-55"),
    ]


def loc(**changes: str) -> str:
    """A valid GPS fix in Bandar Lampung as raw JSON, with some members' raw text changed."""
    members = {"lat": "-5.4291234", "lon": "105.2612345", "acc": "6", "src": '"gps"', "age": "1"}
    assert set(changes) <= set(members), changes
    members.update(changes)
    return "{" + ",".join(f'"{name}":{raw}' for name, raw in members.items()) + "}"


def replace(members: list[tuple[str, str]], name: str, raw: str) -> list[tuple[str, str]]:
    assert any(n == name for n, _ in members), name
    return [(n, raw if n == name else r) for n, r in members]


def drop(members: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    assert any(n == name for n, _ in members), name
    return [(n, r) for n, r in members if n != name]


def padded(seq: int, size: int) -> tuple[bytes, bytes]:
    """A valid alert whose payload is exactly `size` bytes (spaces after '{')."""
    base = obj(alert_members(seq))
    pad = size - len(with_sig(base, "0" * 64))
    assert pad > 0
    signed = b"{" + b" " * pad + base[1:]
    payload = signed_payload(ALERT, signed)
    assert len(payload) == size
    return signed, payload


VECTORS: list[dict[str, object]] = []
_seq = 0


def next_seq() -> int:
    global _seq
    _seq += 1
    return _seq


def add(name: str, topic: str, payload: bytes, reason: str | None, note: str) -> None:
    vector: dict[str, object] = {"name": name, "topic": topic}
    try:
        vector["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        vector["payload_hex"] = payload.hex()
    vector["reason"] = reason
    vector["note"] = note
    VECTORS.append(vector)


# --- valid controls -----------------------------------------------------------

s = next_seq()
add("valid_alert_sos", ALERT, signed_payload(ALERT, obj(alert_members(s))), None,
    "Control: a well-formed sos alert with no location.")
s = next_seq()
add("valid_heartbeat", HB, signed_payload(HB, obj(hb_members(s))), None,
    "Control: a well-formed heartbeat.")
s = next_seq()
add("valid_alert_gps", ALERT,
    signed_payload(ALERT, obj(replace(alert_members(s), "loc",
                                      '{"lat":-5.4291234,"lon":105.2612345,"acc":6,"src":"gps","age":1}'))),
    None, "Control: an alert with a GPS fix in Bandar Lampung.")
s = next_seq()
add("valid_exactly_2048_bytes", ALERT, padded(s, MAX_PAYLOAD)[1], None,
    "Control: 2048 bytes is still allowed (JSON whitespace after '{' pads it; the sig covers it).")

# --- 1. too_large ----------------------------------------------------------------

s = next_seq()
add("too_large_2049_bytes", ALERT, padded(s, MAX_PAYLOAD + 1)[1], "too_large",
    "Otherwise valid and correctly signed, but one byte over the 2048-byte limit.")
s = next_seq()
add("too_large_before_topic_check", "panic/v1/dev/garbage", b"x" * 3000, "too_large",
    "Size is checked first: a 3000-byte payload on a bad topic with no sig is too_large.")

# --- 2. bad_topic (each correctly signed over its own topic) ------------------------

for name, topic, note in [
    ("bad_topic_wrong_prefix", f"panic/v2/dev/{DEV}/alert", "Version level is v2, not v1."),
    ("bad_topic_short_id", "panic/v1/dev/pb-0123456789a/alert", "Id has 11 hex digits."),
    ("bad_topic_uppercase_id", "panic/v1/dev/pb-0123456789AB/alert", "Id hex digits must be lowercase."),
    ("bad_topic_missing_pb_prefix", "panic/v1/dev/0123456789ab/alert", "Id lacks the pb- prefix."),
    ("bad_topic_unknown_suffix", f"panic/v1/dev/{DEV}/foo", "Only alert and hb are accepted."),
    ("bad_topic_extra_level", f"panic/v1/dev/{DEV}/alert/x", "One topic level too many."),
]:
    s = next_seq()
    add(name, topic, signed_payload(topic, obj(alert_members(s))), "bad_topic",
        note + " The payload is a valid alert signed with the device key over this topic.")

# --- 3. no_sig ----------------------------------------------------------------------

s = next_seq()
add("no_sig_missing", ALERT, obj(alert_members(s)), "no_sig", "No sig member at all.")

s = next_seq()
body = obj(alert_members(s))
sig = sign(KEY, ALERT, body)
add("no_sig_not_last", ALERT, b'{"sig":"' + sig.encode() + b'",' + body[1:], "no_sig",
    "A correct sig, but as the first member: the payload must end with the sig member.")

s = next_seq()
body = obj(alert_members(s))
sig = sign(KEY, ALERT, body)
add("no_sig_63_hex", ALERT, with_sig(body, sig[:63]), "no_sig", "The sig has 63 hex digits.")

s = next_seq()
body = obj(alert_members(s))
sig = sign(KEY, ALERT, body)
add("no_sig_65_hex", ALERT, with_sig(body, sig + "0"), "no_sig", "The sig has 65 hex digits.")

s = next_seq()
body = obj(alert_members(s))
sig = sign(KEY, ALERT, body)
add("no_sig_uppercase_hex", ALERT, with_sig(body, sig.upper()), "no_sig",
    "The correct sig in uppercase hex: only lowercase is accepted.")

s = next_seq()
body = obj(alert_members(s))
sig = sign(KEY, ALERT, body)
add("no_sig_spaces_around", ALERT, body[:-1] + b', "sig": "' + sig.encode() + b'"}', "no_sig",
    "The correct sig written with spaces after ',' and ':' (what MicroPython's json.dumps emits): "
    "the sig member must be appended compactly by hand.")

s = next_seq()
add("no_sig_trailing_newline", ALERT, signed_payload(ALERT, obj(alert_members(s))) + b"\n", "no_sig",
    "A valid payload followed by a newline: it no longer ends with the sig member.")

s = next_seq()
add("no_sig_json_array", ALERT, b"[" + signed_payload(ALERT, obj(alert_members(s))) + b"]", "no_sig",
    "A JSON array around a valid payload: it ends with ']', so the envelope check (3) rejects it "
    "before the JSON check (6) could.")

# --- 4. unknown_device ----------------------------------------------------------------

unknown_topic = f"panic/v1/dev/{UNKNOWN_DEV}/alert"
s = next_seq()
add("unknown_device", unknown_topic,
    signed_payload(unknown_topic, obj(alert_members(s, UNKNOWN_DEV)), OTHER_KEY), "unknown_device",
    "Well-formed id that is not registered, correctly signed with some other key.")
s = next_seq()
add("unknown_device_before_json_check", unknown_topic,
    signed_payload(unknown_topic, b"{not json}", OTHER_KEY), "unknown_device",
    "The registry lookup (4) comes before parsing (6): garbage from an unknown id is unknown_device.")

# --- 5. bad_sig -----------------------------------------------------------------------

s = next_seq()
body = obj(alert_members(s))
sig = sign(KEY, ALERT, body)
flipped = sig[:20] + ("0" if sig[20] != "0" else "1") + sig[21:]
add("bad_sig_flipped_digit", ALERT, with_sig(body, flipped), "bad_sig",
    "The correct sig with one hex digit (index 20) changed.")

s = next_seq()
body = obj(alert_members(s))
add("bad_sig_from_other_topic", ALERT, with_sig(body, sign(KEY, HB, body)), "bad_sig",
    "Signed with the device key over the device's hb topic, published on its alert topic.")

s = next_seq()
body = obj(alert_members(s))
other_body = obj(replace(alert_members(s), "bat", "89"))
add("bad_sig_over_other_bytes", ALERT, with_sig(body, sign(KEY, ALERT, other_body)), "bad_sig",
    'A sig over the same body with "bat":89; the payload says "bat":90.')

s = next_seq()
body = obj(alert_members(s))
add("bad_sig_other_key", ALERT, with_sig(body, sign(OTHER_KEY, ALERT, body)), "bad_sig",
    "Signed over the right bytes with another device's key.")

s = next_seq()
body = obj(alert_members(s))
no_newline = hmac.new(KEY, ALERT.encode() + body, hashlib.sha256).hexdigest()
add("bad_sig_without_newline", ALERT, with_sig(body, no_newline), "bad_sig",
    'HMAC over topic + signed without the "\\n" between them.')

s = next_seq()
add("bad_sig_before_json_check", ALERT, with_sig(b'{"v":}', sign(OTHER_KEY, ALERT, b'{"v":}')),
    "bad_sig", "The HMAC (5) is checked before parsing (6): invalid JSON with a wrong sig is bad_sig.")

# --- 6. bad_json (each correctly signed over exactly its bytes) -------------------------

s = next_seq()
signed = obj(alert_members(s)).replace(b'"net":"wifi"', b'"net":"wi\xfffi"')
add("bad_json_invalid_utf8", ALERT, signed_payload(ALERT, signed), "bad_json",
    "A 0xff byte inside a string: not UTF-8 (hence payload_hex); the sig is correct over these bytes.")

s = next_seq()
signed = ('{"v":1,"dev":"' + DEV + '","seq":' + str(s) + ',"type":"sos","ts":}').encode()
add("bad_json_truncated", ALERT, signed_payload(ALERT, signed), "bad_json",
    'A body cut off after "ts": (signed is that text + "}"); the sig is correct over these bytes.')

s = next_seq()
signed = b"[" + obj(alert_members(s))
add("bad_json_array_unclosed", ALERT, signed_payload(ALERT, signed), "bad_json",
    "signed is '[' + a valid body: the envelope and sig are valid, the JSON is an unclosed array. "
    "(A complete top-level array ends with ']' and never passes check 3: see no_sig_json_array.)")

s = next_seq()
signed = obj(alert_members(s))[:-1] + b",}"
add("bad_json_trailing_comma", ALERT, signed_payload(ALERT, signed), "bad_json",
    "A trailing comma before '}': not JSON.")

s = next_seq()
signed = obj(replace(alert_members(s), "rssi", "NaN"))
add("bad_json_nan_literal", ALERT, signed_payload(ALERT, signed), "bad_json",
    "NaN is not JSON (Python's json.loads accepts it unless parse_constant rejects it).")

# --- 7. bad_field (valid envelope, sig and JSON object; dev matches the topic) -------------

bad_fields: list[tuple[str, str, list[tuple[str, str]], str]] = []
s = next_seq()
bad_fields.append(("bad_field_v2", ALERT, replace(alert_members(s), "v", "2"), "v is 2."))
s = next_seq()
bad_fields.append(("bad_field_seq_string", ALERT, replace(alert_members(s), "seq", f'"{s}"'),
                   "seq is a string."))
s = next_seq()
bad_fields.append(("bad_field_seq_float", ALERT, replace(alert_members(s), "seq", f"{s}.0"),
                   "seq written as a float: integers carry no fraction (a validator's integer type must "
                   "not accept 5.0)."))
s = next_seq()
bad_fields.append(("bad_field_seq_bool", ALERT, replace(alert_members(s), "seq", "true"), "seq is a boolean."))
s = next_seq()
bad_fields.append(("bad_field_unknown_type", ALERT, replace(alert_members(s), "type", '"fire"'),
                   "type is not one of the seven alert types."))
s = next_seq()
bad_fields.append(("bad_field_missing_ts", ALERT, drop(alert_members(s), "ts"),
                   "ts is missing (it must be present, null when the clock is unknown)."))
s = next_seq()
inner = obj(alert_members(s))
bad_fields.append(("bad_field_sig_inside_signed", ALERT,
                   [*alert_members(s), ("sig", f'"{sign(KEY, ALERT, inner)}"')],
                   "signed itself ends with a sig member (a valid-looking one), so the payload has two: "
                   "malformed per protocol/README.md."))
s = next_seq()
bad_fields.append(("bad_field_duplicate_seq", ALERT, [*alert_members(s), ("seq", str(s + 1000))],
                   "seq appears twice: parsers disagree on which one counts, so any repeated member "
                   "name is malformed."))
s = next_seq()
bad_fields.append(("bad_field_extra_member", ALERT, [*alert_members(s), ("foo", "1")],
                   "An unknown member: the alert body is closed."))
s = next_seq()
bad_fields.append(("bad_field_cancel_without_ref", ALERT, replace(alert_members(s), "type", '"cancel"'),
                   "A cancel must carry ref, the seq it cancels."))
s = next_seq()
bad_fields.append(("bad_field_alert_body_on_hb_topic", HB, alert_members(s),
                   "The topic selects the schema: an alert body (type, loc) is not a heartbeat."))
s = next_seq()
bad_fields.append(("bad_field_before_dev_mismatch", ALERT,
                   replace(alert_members(s), "dev", '"pb-0123456789AB"'),
                   "Body dev is not a valid id (uppercase): a field error (7) is reported before the "
                   "topic comparison (8)."))
s = next_seq()
bad_fields.append(("bad_field_rssi_float", ALERT, replace(alert_members(s), "rssi", "-55.0"),
                   "rssi written as a float: -55.0 is not an integer, though it is in range."))
s = next_seq()
bad_fields.append(("bad_field_bat_bool", ALERT, replace(alert_members(s), "bat", "true"),
                   "bat is a boolean (Python's True == 1 must not pass as 1 percent)."))
s = next_seq()
bad_fields.append(("bad_field_up_exponent", HB, replace(hb_members(s), "up", "6E5"),
                   "up written with an exponent: 6E5 is not an integer literal."))
s = next_seq()
bad_fields.append(("bad_field_acc_float", ALERT, replace(alert_members(s), "loc", loc(acc="6.0")),
                   "loc.acc written as a float."))
s = next_seq()
bad_fields.append(("bad_field_age_string", ALERT, replace(alert_members(s), "loc", loc(age='"1"')),
                   "loc.age is a string."))
s = next_seq()
bad_fields.append(("bad_field_lat_8_decimals", ALERT, replace(alert_members(s), "loc", loc(lat="-5.42912345")),
                   "loc.lat has 8 decimals: coordinates are whole numbers of 1e-7 degrees (checked on the "
                   "literal's digits; JSON Schema's multipleOf is unreliable on binary floats)."))
s = next_seq()
bad_fields.append(("bad_field_lat_1e-300", ALERT, replace(alert_members(s), "loc", loc(lat="1e-300")),
                   "loc.lat is 1e-300: inside -90 to 90, but not a whole number of 1e-7 degrees."))
s = next_seq()
bad_fields.append(("bad_field_loc_src_none", ALERT, replace(alert_members(s), "loc", loc(src='"none"')),
                   'loc.src is "none": there is no such source; no fix is written as loc null.'))
s = next_seq()
bad_fields.append(("bad_field_loc_src_none_all_null", ALERT,
                   replace(alert_members(s), "loc", '{"lat":null,"lon":null,"acc":null,"src":"none","age":null}'),
                   'A loc object saying "no fix" with nulls: no fix is written as loc null.'))
s = next_seq()
bad_fields.append(("bad_field_before_out_of_range", ALERT,
                   replace(replace(alert_members(s), "rssi", "-151"), "pwr", '"solar"'),
                   "rssi is out of range and pwr is not a power source: types and values are checked on every "
                   "member before any range, so this is bad_field, not out_of_range."))
for name, topic, members, note in bad_fields:
    add(name, topic, signed_payload(topic, obj(members)), "bad_field",
        note + " Correctly signed over these bytes.")

# --- 7. out_of_range (every member has the right type; one number is outside its range) ----

TEN_TO_300 = "1" + "0" * 300
out_of_range: list[tuple[str, str, list[tuple[str, str]], str]] = []
for name, member, raw, note in [
    ("seq_zero", "seq", "0", "seq is 0 (seqs start at 1)."),
    ("seq_beyond_2_53", "seq", "9007199254740992", "seq is 2^53: past the integers every JSON parser keeps exact."),
    ("ts_negative", "ts", "-1", "ts is -1: before 1970."),
    ("ts_beyond_2106", "ts", "4294967296",
     "ts is 2^32: beyond what a device clock can hold (and than some platforms' time_t)."),
    ("up_negative", "up", "-1", "up is -1 ms."),
    ("up_beyond_2_53", "up", "9007199254740992", "up is 2^53 ms."),
    ("bat_negative", "bat", "-1", "bat is -1 percent."),
    ("bat_101", "bat", "101", "bat is 101 percent."),
    ("rssi_positive", "rssi", "1", "rssi is +1 dBm: no receiver that works hears more than 0 dBm."),
    ("rssi_below_minus_150", "rssi", "-151", "rssi is -151 dBm: below any Wi-Fi, GSM or LTE reading."),
    ("rssi_minus_10_to_300", "rssi", "-" + TEN_TO_300,
     "rssi is -10^300 written out as a 301-digit integer (an outside audit had it published to dispatch)."),
]:
    s = next_seq()
    out_of_range.append((f"out_of_range_{name}", ALERT, replace(alert_members(s), member, raw), note))
for name, changes, note in [
    ("lat_91", {"lat": "91"}, "loc.lat is 91."),
    ("lat_below_minus_90", {"lat": "-90.0000001"}, "loc.lat is 1e-7 degrees south of the pole."),
    ("lon_beyond_180", {"lon": "180.0000001"}, "loc.lon is 1e-7 degrees past 180."),
    ("lat_huge_exponent", {"lat": "1E+400"},
     "loc.lat is 1E+400 (a float parser makes it infinity; it is a whole number of 1e-7 degrees, out of range)."),
    ("acc_negative", {"acc": "-1"}, "loc.acc is -1 m."),
    ("acc_beyond_100_km", {"acc": "100001"}, "loc.acc is 100001 m."),
    ("acc_10_to_300", {"acc": TEN_TO_300}, "loc.acc is 10^300 m (from the outside audit)."),
    ("age_negative", {"age": "-1"}, "loc.age is -1 s."),
    ("age_beyond_a_year", {"age": "31536001"}, "loc.age is a year and a second."),
    ("age_10_to_300", {"age": TEN_TO_300}, "loc.age is 10^300 s (from the outside audit)."),
]:
    s = next_seq()
    out_of_range.append((f"out_of_range_{name}", ALERT, replace(alert_members(s), "loc", loc(**changes)), note))
s = next_seq()
out_of_range.append(("out_of_range_cancel_ref_zero", ALERT,
                     [*replace(alert_members(s), "type", '"cancel"'), ("ref", "0")],
                     "A cancel of seq 0, which no alert has."))
s = next_seq()
out_of_range.append(("out_of_range_heartbeat_rssi", HB, replace(hb_members(s), "rssi", "-151"),
                     "The same ranges hold in a heartbeat: rssi -151."))
s = next_seq()
out_of_range.append(("out_of_range_heartbeat_bat", HB, replace(hb_members(s), "bat", "101"),
                     "The same ranges hold in a heartbeat: bat 101."))
s = next_seq()
out_of_range.append(("out_of_range_before_dev_mismatch", ALERT,
                     replace(alert_members(s, "pb-0123456789ac"), "bat", "101"),
                     "Body dev is another valid id and bat is 101: ranges (7) come before the topic "
                     "comparison (8)."))
for name, topic, members, note in out_of_range:
    add(name, topic, signed_payload(topic, obj(members)), "out_of_range",
        note + " Correctly signed over these bytes.")

# --- 8. dev_mismatch ------------------------------------------------------------------

s = next_seq()
add("dev_mismatch", ALERT, signed_payload(ALERT, obj(alert_members(s, "pb-0123456789ac"))), "dev_mismatch",
    "Body dev is another (valid) id than the topic's; signed with the topic device's key over its topic.")
s = next_seq()
add("dev_mismatch_heartbeat", HB, signed_payload(HB, obj(hb_members(s, "pb-ffffffffffff"))), "dev_mismatch",
    "The same on a heartbeat.")

# --- more valid controls ---------------------------------------------------------------

s = next_seq()
add("valid_cancel_with_ref", ALERT,
    signed_payload(ALERT, obj([*replace(alert_members(s), "type", '"cancel"'), ("ref", "1")])), None,
    "Control: a cancel of the alert with seq 1.")
s = next_seq()
spaced = ("{" + ", ".join(f'"{name}": {raw}' for name, raw in hb_members(s)) + "}").encode()
add("valid_micropython_spaces", HB, signed_payload(HB, spaced), None,
    "Control: a body with spaces after ',' and ':' as MicroPython's json.dumps writes it; only the "
    "appended sig member is compact.")
s = next_seq()
shuffled = sorted(alert_members(s), key=lambda member: member[0])
add("valid_member_order_shuffled", ALERT, signed_payload(ALERT, obj(shuffled)), None,
    "Control: members in another order (MicroPython dicts are unordered).")
s = next_seq()
add("valid_every_number_at_its_lowest", ALERT,
    signed_payload(ALERT, obj(replace(replace(replace(replace(replace(alert_members(s), "ts", "0"), "up", "0"),
                                                  "bat", "0"), "rssi", "-150"),
                                      "loc", '{"lat":-90,"lon":-180,"acc":0,"src":"gps","age":0}'))), None,
    "Control: ts, up, bat, rssi and every loc number at the lowest value of its range.")
s = next_seq()
add("valid_every_number_at_its_highest", ALERT,
    signed_payload(ALERT, obj(replace(replace(replace(replace(replace(alert_members(s), "ts", "4294967295"),
                                                          "up", "9007199254740991"), "bat", "100"), "rssi", "0"),
                                      "loc", '{"lat":90,"lon":180.0000000,"acc":100000,"src":"last_gps",'
                                             '"age":31536000}'))), None,
    "Control: ts, up, bat, rssi and every loc number at the highest value of its range (seq's highest "
    "would end the file's increasing seqs: the gateway tests cover it).")
s = next_seq()
add("valid_heartbeat_unknowns_null", HB,
    signed_payload(HB, obj(replace(replace(replace(hb_members(s), "ts", "null"), "bat", "null"), "rssi", "null"))),
    None, "Control: clock, battery gauge and signal unknown.")
s = next_seq()
add("valid_coordinates_integer_and_trailing_zeros", ALERT,
    signed_payload(ALERT, obj(replace(alert_members(s), "loc", loc(lat="-5", lon="105.26123450000")))), None,
    "Control: an integer latitude and a longitude with trailing zeros are still whole numbers of 1e-7 degrees.")

DESCRIPTION = (
    "Gateway rejection vectors (protocol/README.md, Gateway checks). `device` is the one registered, "
    "active device. `reason` is the code of the first failing check, or null for a valid control case; "
    "every vector passes all checks before its own. Each vector has its own seq, increasing in file order, "
    "so they may be fed one by one to a fresh gateway or in order to one gateway. `note` is for humans. "
    "The no_sig and bad_sig vectors also apply to the firmware's verification of gateway acks. "
    "Generated by make_malformed.py; do not edit by hand."
)


def build() -> dict[str, object]:
    return {
        "description": DESCRIPTION,
        "device": {"id": DEV, "key_hex": KEY.hex()},
        "vectors": VECTORS,
    }


if __name__ == "__main__":
    sys.exit(vectorfile.main(OUT, build(), sys.argv[1:]))
