#!/usr/bin/env python3
"""Generate protocol/vectors/bounds.json: what a device writes for every reading, in range or not.

Standard library only and deterministic; running it again reproduces the
committed file byte for byte (tests/protocol/test_vectors.py checks it).

    python protocol/vectors/make_bounds.py           # rewrite bounds.json
    python protocol/vectors/make_bounds.py --stdout  # print it instead
    python protocol/vectors/make_bounds.py --check   # exit 1 if it is stale

Each vector gives the readings a device formats into a message (`args`, as
the firmware's panic/messages.py takes them, except that a fix is given as
its numbers, which panic/fix.py turns into `loc`) and the exact body it must
write (`body`), or the error it must raise instead of signing anything
(`error`). The expected member values are stated here by hand, never
computed: the rules are in protocol/README.md ("Numbers and their ranges").
The firmware tests run every vector under MicroPython; the gateway tests
sign every body and must accept it; the protocol tests validate every body
against its schema. So a device following these rules is never rejected.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import vectorfile

OUT = Path(__file__).resolve().with_name("bounds.json")

DEV = "pb-0123456789ab"
TEN_TO_300 = 10**300
MAX_SEQ = 2**53 - 1
MAX_TS = 2**32 - 1

# Readings in range, and the member texts they give: each vector changes a few.
ALERT_ARGS: dict[str, Any] = {
    "dev": DEV, "seq": 17, "kind": "sos", "ts": 1717300000, "up": 600000, "bat": 90, "pwr": "mains",
    "net": "wifi", "rssi": -55, "ref": None, "loc": None,
}
ALERT_TEXT = {  # member order is free; the firmware writes the heartbeat's members first
    "v": "1", "dev": f'"{DEV}"', "seq": "17", "ts": "1717300000", "up": "600000", "bat": "90", "pwr": '"mains"',
    "net": '"wifi"', "rssi": "-55", "type": '"sos"', "loc": "null",
}
HB_ARGS: dict[str, Any] = {
    "dev": DEV, "seq": 18, "ts": 1717300030, "up": 630000, "bat": 90, "pwr": "battery", "net": "wifi", "rssi": -55,
    "ep": 0,
}
HB_TEXT = {
    "v": "1", "dev": f'"{DEV}"', "seq": "18", "ts": "1717300030", "up": "630000", "bat": "90",
    "pwr": '"battery"', "net": '"wifi"', "rssi": "-55", "ep": "0",
}
FIX = (-54291234, 1052612345, 6, "gps", 1)  # Bandar Lampung, integer 1e-7 degrees
FIX_TEXT = '{"lat":-5.4291234,"lon":105.2612345,"acc":6,"src":"gps","age":1}'

SCHEMA = {"alert": "device-alert.json", "heartbeat": "device-heartbeat.json", "online": "device-status.json"}
VECTORS: list[dict[str, object]] = []


def obj(texts: dict[str, str]) -> str:
    return "{" + ",".join(f'"{name}":{raw}' for name, raw in texts.items()) + "}"


def add(name: str, message: str, member: str, args: dict[str, Any], body: str | None, note: str,
        error: str | None = None) -> None:
    VECTORS.append({
        "name": name, "message": message, "member": member, "args": args,
        "body": body, "error": error, "schema": SCHEMA[message] if body else None, "note": note,
    })


def alert(name: str, member: str, note: str, *, error: str | None = None, expect: dict[str, str] | None = None,
          **args: Any) -> None:
    text = {**ALERT_TEXT, **(expect or {})}
    if args.get("ref") is not None and error is None:
        text["ref"] = str(args["ref"])
    add(name, "alert", member, {**ALERT_ARGS, **args}, None if error else obj(text), note, error)


def heartbeat(name: str, member: str, note: str, *, error: str | None = None,
              expect: dict[str, str] | None = None, **args: Any) -> None:
    add(name, "heartbeat", member, {**HB_ARGS, **args}, None if error else obj({**HB_TEXT, **(expect or {})}),
        note, error)


def online(name: str, member: str, fw: str, up: int, body: str, note: str) -> None:
    add(name, "online", member, {"fw": fw, "up": up}, body, note)


# --- alert: numbers in range are written as they are ------------------------------------

alert("alert_in_range", "-", "Control: every reading in range, no fix.")
alert("alert_every_number_lowest", "-", "ts, up, bat and rssi at the lowest of their ranges.",
      ts=0, up=0, bat=0, rssi=-150, expect={"ts": "0", "up": "0", "bat": "0", "rssi": "-150"})
alert("alert_every_number_highest", "-", "seq, ts, up, bat and rssi at the highest of their ranges.",
      seq=MAX_SEQ, ts=MAX_TS, up=MAX_SEQ, bat=100, rssi=0,
      expect={"seq": str(MAX_SEQ), "ts": str(MAX_TS), "up": str(MAX_SEQ), "bat": "100", "rssi": "0"})
alert("alert_unknowns_null", "-", "Clock, gauge and signal unknown: null.",
      ts=None, bat=None, rssi=None, expect={"ts": "null", "bat": "null", "rssi": "null"})
alert("alert_cancel_ref", "ref", "A cancel carries ref.", kind="cancel", ref=3, expect={"type": '"cancel"'})

# --- alert: out-of-range readings --------------------------------------------------------

alert("ts_negative_is_null", "ts", "A clock before 1970 cannot be right: unknown.", ts=-1, expect={"ts": "null"})
alert("ts_beyond_2106_is_null", "ts", "A clock past 2^32-1 cannot be right: unknown.", ts=MAX_TS + 1,
      expect={"ts": "null"})
alert("up_negative_is_clamped", "up", "Uptime below 0 ms is written as 0.", up=-5, expect={"up": "0"})
alert("up_beyond_2_53_is_clamped", "up", "Uptime past 2^53-1 ms is written as 2^53-1.", up=MAX_SEQ + 1,
      expect={"up": str(MAX_SEQ)})
alert("bat_above_100_is_clamped", "bat", "A gauge reading 103 % is full: 100.", bat=103, expect={"bat": "100"})
alert("bat_negative_is_clamped", "bat", "A gauge reading -2 % is empty: 0.", bat=-2, expect={"bat": "0"})
alert("bat_float_is_truncated", "bat", "A float reading is written as an integer (int() truncates).", bat=87.9,
      expect={"bat": "87"})
alert("rssi_positive_is_clamped", "rssi", "+7 dBm is written as 0, the strongest in range.", rssi=7,
      expect={"rssi": "0"})
alert("rssi_below_range_is_clamped", "rssi", "-151 dBm is written as -150, the weakest in range.", rssi=-151,
      expect={"rssi": "-150"})
alert("rssi_minus_10_to_300_is_clamped", "rssi", "The audit's -10^300 dBm is written as -150.", rssi=-TEN_TO_300,
      expect={"rssi": "-150"})
alert("rssi_float_is_truncated", "rssi", "-61.5 dBm is written as -61 (int() truncates toward zero).",
      rssi=-61.5, expect={"rssi": "-61"})
alert("seq_zero_raises", "seq", "Seqs start at 1: a device never signs seq 0.", seq=0, error="ValueError")
alert("seq_beyond_2_53_raises", "seq", "A seq past 2^53-1 is never signed.", seq=MAX_SEQ + 1, error="ValueError")
alert("ref_zero_raises", "ref", "A cancel of seq 0 is never signed.", kind="cancel", ref=0, error="ValueError")

# --- alert: locations (integer 1e-7 degrees in, exact decimal text out) -------------------

alert("loc_gps_fix", "loc", "A fix in Bandar Lampung: lat/lon written from integers, 7 decimals.",
      loc=FIX, expect={"loc": FIX_TEXT})
alert("loc_small_negative_coordinates", "loc.lat",
      "-0.5 and -1e-7 degrees keep their sign (integer division would floor them to -1).",
      loc=(-5000000, -1, 0, "last_gps", 0),
      expect={"loc": '{"lat":-0.5000000,"lon":-0.0000001,"acc":0,"src":"last_gps","age":0}'})
alert("loc_every_number_at_its_edge", "loc", "The pole, the antimeridian, 100 km and a year are still in range.",
      loc=(900000000, -1800000000, 100000, "last_gps", 31536000),
      expect={"loc": '{"lat":90.0000000,"lon":-180.0000000,"acc":100000,"src":"last_gps","age":31536000}'})
for name, member, fix, note in [
    ("loc_lat_beyond_90_is_null", "loc.lat", (900000001, 1052612345, 6, "gps", 1), "Latitude past the pole."),
    ("loc_lon_beyond_180_is_null", "loc.lon", (-54291234, -1800000001, 6, "gps", 1), "Longitude past -180."),
    ("loc_acc_negative_is_null", "loc.acc", (-54291234, 1052612345, -1, "gps", 1), "A negative accuracy."),
    ("loc_acc_beyond_100_km_is_null", "loc.acc", (-54291234, 1052612345, 100001, "gps", 1),
     "Accuracy worse than 100 km: clamping would claim a better fix than there is."),
    ("loc_acc_10_to_300_is_null", "loc.acc", (-54291234, 1052612345, TEN_TO_300, "gps", 1), "The audit's 10^300 m."),
    ("loc_age_negative_is_null", "loc.age", (-54291234, 1052612345, 6, "gps", -1), "A fix from the future."),
    ("loc_age_beyond_a_year_is_null", "loc.age", (-54291234, 1052612345, 6, "last_gps", 31536001),
     "A fix older than a year: clamping would claim a fresher fix than there is."),
    ("loc_age_10_to_300_is_null", "loc.age", (-54291234, 1052612345, 6, "last_gps", TEN_TO_300),
     "The audit's 10^300 s."),
    ("loc_src_none_is_null", "loc.src", (0, 0, 0, "none", 0), 'There is no src "none": no fix is loc null.'),
]:
    alert(name, member, note + " A fix with any number out of range is no fix: loc is null (the gateway "
          "falls back to the registered premises).", loc=fix)

# --- heartbeat: the same rules ---------------------------------------------------------------

heartbeat("heartbeat_in_range", "-", "Control: a heartbeat with every reading in range.")
heartbeat("heartbeat_every_reading_out_of_range", "-", "ts 2^32, up -1, bat 150 %, rssi +3 dBm: null, 0, 100, 0.",
          ts=MAX_TS + 1, up=-1, bat=150, rssi=3, expect={"ts": "null", "up": "0", "bat": "100", "rssi": "0"})
heartbeat("heartbeat_second_endpoint", "ep", "On the second of its broker endpoints (config brokers[1]).", ep=1,
          expect={"ep": "1"})
heartbeat("heartbeat_endpoint_out_of_range", "ep", "ep past the 4 endpoints a config may list: 3.", ep=7,
          expect={"ep": "3"})
heartbeat("heartbeat_seq_zero_raises", "seq", "A heartbeat is never signed with seq 0.", seq=0, error="ValueError")

# --- online (the unsigned, retained birth message) ----------------------------------------------

online("online_release", "fw", "0.1.0", 1234, '{"state":"online","fw":"0.1.0","up":1234}',
       "Control. fw is the firmware's own VERSION, which its tests hold to device-status.json's pattern.")
online("online_up_negative_is_clamped", "up", "0.1.0", -1, '{"state":"online","fw":"0.1.0","up":0}',
       "Uptime below 0 ms is written as 0.")

DESCRIPTION = (
    "What a device writes for its readings (protocol/README.md, Numbers and their ranges). `message` is "
    "alert, heartbeat or online; `args` are the readings as the firmware's panic/messages.py takes them "
    "(loc as [lat_e7, lon_e7, acc_m, src, age_s], which panic/fix.py formats, or null); `body` is the exact "
    "message body it must produce (signed bodies without their sig), or null when it must raise `error` "
    "instead of signing anything. `member` names the member the vector is about (\"-\" for several); "
    "`schema` is the file in protocol/schemas/ the body (with a sig appended when signed) validates against. "
    "Generated by make_bounds.py; do not edit by hand."
)


def build() -> dict[str, object]:
    return {"description": DESCRIPTION, "vectors": VECTORS}


if __name__ == "__main__":
    sys.exit(vectorfile.main(OUT, build(), sys.argv[1:]))
