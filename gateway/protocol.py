"""Wire contract v1 on the gateway side: topics, the signature envelope, body checks.

The firmware implements the same contract under MicroPython; the shared
vectors in protocol/vectors keep the two identical. The order of the checks
and the reason codes are fixed in protocol/README.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.lifecycle import EMERGENCY_TYPES, PoliceState, map_false_alarm
from gateway.logsafe import printable

PREFIX = "panic/v1/"
DEVICE_ID = re.compile(r"pb-[0-9a-f]{12}")
_DEVICE_TOPIC = re.compile(r"panic/v1/dev/(pb-[0-9a-f]{12})/(alert|hb)")
_RESULT_TOPIC = re.compile(r"panic/v1/dev/(pb-[0-9a-f]{12})/result")
_SIG_SUFFIX = re.compile(rb',"sig":"([0-9a-f]{64})"\}\Z')
SIG_SUFFIX_LEN = 74  # len(',"sig":"') + 64 + len('"}')
# Bounds that keep every number exact in any JSON parser and storable in a
# BIGINT / time_t: a larger value would be a poison message for storage.
MAX_SEQ = 2**53 - 1
MAX_TS = 2**32 - 1
# The range of every number in a device message, (lowest, highest), with the
# reasons in protocol/README.md ("Numbers and their ranges"); the JSON Schemas
# carry the same bounds and the vectors hold the two together.
RANGES: dict[str, tuple[int, int]] = {
    "seq": (1, MAX_SEQ),            # the device's message counter
    "ref": (1, MAX_SEQ),            # a cancel's target: a seq
    "ts": (0, MAX_TS),              # UTC seconds: an unsigned 32-bit clock, to 2106
    "up": (0, MAX_SEQ),             # uptime in ms
    "bat": (0, 100),                # percent
    "rssi": (-150, 0),              # dBm: Wi-Fi, GSM (-113) and LTE RSRP (-140) fit
    "ep": (0, 3),                   # heartbeat: index of the broker endpoint in use (1..4 configured)
    "loc.lat": (-90, 90),           # degrees, a multiple of 1e-7
    "loc.lon": (-180, 180),         # degrees, a multiple of 1e-7
    "loc.acc": (0, 100_000),        # metres: a worse fix does not even name the town
    "loc.age": (0, 365 * 86_400),   # seconds: an older fix says less than the premises
}
MAX_STATUS_BYTES = 256
# A firmware version as the unsigned status message may carry it.
FIRMWARE_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}")

# Remote commands (protocol/README.md, "Commands"; schemas/device-cmd.json, device-result.json).
COMMANDS = ("locate", "test", "identify", "config", "reboot")
# What a config command may change, and the bounds: those of firmware/panic/bounds.py (a test holds them equal).
# The device also refuses a hold_ms not below cancel_ms (the command's values, else its current ones).
CONFIG_BOUNDS: dict[str, tuple[int, int]] = {"heartbeat_s": (1, 86_400), "hold_ms": (100, 30_000),
                                             "cancel_ms": (3000, 60_000), "cancel_window_s": (0, 3600),
                                             "taps_ms": (500, 10_000)}
# Why a device rejects a command (it changes nothing then).
COMMAND_REJECTIONS = ("no_sig", "bad_sig", "bad_json", "bad_field", "dev_mismatch", "replay", "expired",
                      "unknown_cmd", "bad_args", "out_of_range", "failed")

# Alert types and their Ademco Contact ID event codes (schemas/device-alert.json, docs/protocol.md).
# A *_restored type ends the condition of its base type: the same code, reported as a restore (Q=3).
CONTACT_ID = {
    "sos": "120",
    "silent_sos": "122",
    "cancel": "406",
    "test": "601",
    "tamper": "137",
    "power_lost": "301",
    "battery_low": "302",
    "tamper_restored": "137",
    "power_restored": "301",
    "battery_restored": "302",
}
# The type each restore ends.
RESTORES = {"tamper_restored": "tamper", "power_restored": "power_lost", "battery_restored": "battery_low"}
# Calls for police: routed to a station. A cancel asks police to stand down one of these.
EMERGENCIES = EMERGENCY_TYPES  # gateway/lifecycle.py: the ones that call for police
# Device events: the monitoring centre's business (panic/v1/dispatch/events, DC-09), never a station's.
DEVICE_EVENTS = frozenset({"tamper", "power_lost", "battery_low", *RESTORES})

Reason = Literal[
    "too_large", "bad_topic", "no_sig", "unknown_device", "bad_sig",
    "bad_json", "bad_field", "out_of_range", "dev_mismatch", "replay", "revoked",
    # SMS only (protocol/README.md, "SMS"; gateway/sms/)
    "multipart", "not_gsm7", "bad_sms", "unknown_number",
]


class Rejected(Exception):
    """A device message that fails a check; `reason` is the contract's code."""

    def __init__(self, reason: Reason, detail: str = "", device_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail
        self.device_id = device_id  # when the topic named one


# What dispatch writes to name an alert revision (acks and receipts; schemas/dispatch-ack.json, dispatch-receipt.json).
AlertId = Annotated[str, Field(pattern=r"^pb-[0-9a-f]{12}:[1-9][0-9]*$", max_length=40)]
Rev = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Acknowledgement(BaseModel):
    """What dispatch decides about an alert: over MQTT (with alert_id) or POST /alerts/{id}/ack.

    One model for both doors, so the two can never validate differently.
    Strict: JSON types only (`0` is not `false`); protocol/schemas/dispatch-ack.json.
    """

    model_config = ConfigDict(strict=True, str_strip_whitespace=True, extra="forbid")

    state: PoliceState
    by: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=1000)
    # The revision the actor saw (optional): another one is refused as stale.
    rev: Rev | None = None
    # Before `false_alarm` was a state: with resolved or cancelled it means state false_alarm
    # (lifecycle.map_false_alarm); with any other state it is refused.
    false_alarm: bool = False

    @model_validator(mode="after")
    def _false_alarm_is_a_state(self) -> Self:
        self.state = cast(PoliceState, map_false_alarm(self.state, self.false_alarm))
        return self


class DispatchAck(Acknowledgement):
    """`panic/v1/dispatch/ack`: an Acknowledgement naming its alert."""

    alert_id: AlertId


@dataclass(frozen=True)
class Envelope:
    """A device message split into what was signed and its signature."""

    device_id: str
    kind: Literal["alert", "hb", "result"]
    signed: bytes
    sig: str


@dataclass(frozen=True)
class Status:
    """The retained, unsigned `panic/v1/dev/{id}/status` message, once checked."""

    state: Literal["online", "offline"]
    fw: str | None


def device_topic(device_id: str, leaf: str) -> str:
    return f"{PREFIX}dev/{device_id}/{leaf}"


def compute_sig(key: bytes, topic: str, signed: bytes) -> str:
    return hmac.new(key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()


def sign(key: bytes, topic: str, body: dict[str, Any]) -> bytes:
    """Serialise `body` compactly and append its `sig` member as the last one."""
    signed = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return signed[:-1] + b',"sig":"' + compute_sig(key, topic, signed).encode() + b'"}'


def same_alert(stored: bytes, stored_type: str, payload: bytes, body: dict[str, Any]) -> bool:
    """Whether a verified alert is the stored alert with the same (dev, seq) again: a duplicate.

    The same bytes (a retransmission), or the same alert over the other
    bearer: an SMS alert (text starting "PB1 ") and an MQTT alert (JSON) with
    the same seq and type. Both passed the device key's check and a button
    never signs two alerts with one seq, so the pair is one press sent twice
    (protocol/README.md, "SMS"), not a replay.
    """
    if stored == payload:
        return True
    return stored.startswith(SMS_PREFIX) != payload.startswith(SMS_PREFIX) and stored_type == body.get("type")


SMS_PREFIX = b"PB1 "


def open_envelope(topic: str, payload: bytes, max_bytes: int) -> Envelope:
    """Checks 1-3: size, topic, and the shape of the trailing sig member."""
    match, signed, sig = _open(topic, payload, max_bytes, _DEVICE_TOPIC)
    kind: Literal["alert", "hb"] = "alert" if match.group(2) == "alert" else "hb"
    return Envelope(match.group(1), kind, signed, sig)


def open_result(topic: str, payload: bytes, max_bytes: int) -> Envelope:
    """The same checks for a device's result of a command, on `panic/v1/dev/{id}/result`."""
    match, signed, sig = _open(topic, payload, max_bytes, _RESULT_TOPIC)
    return Envelope(match.group(1), "result", signed, sig)


def _open(topic: str, payload: bytes, max_bytes: int, topics: re.Pattern[str]) -> tuple[re.Match[str], bytes, str]:
    if len(payload) > max_bytes:
        raise Rejected("too_large", f"{len(payload)} bytes > {max_bytes}")
    match = topics.fullmatch(topic)
    if not match:
        raise Rejected("bad_topic", f"topic '{printable(topic)}'")
    return (match, *split_signed(payload))


def split_signed(payload: bytes) -> tuple[bytes, str]:
    """Check 3: the signed bytes and the sig of a payload ending in its sig member."""
    sig = _SIG_SUFFIX.search(payload)
    if not sig:
        raise Rejected("no_sig", 'payload must end with ,"sig":"<64 lowercase hex>"}')
    return payload[: -SIG_SUFFIX_LEN] + b"}", sig.group(1).decode()


def verify(envelope: Envelope, topic: str, key: bytes) -> None:
    """Check 5: the HMAC, compared in constant time."""
    if not hmac.compare_digest(compute_sig(key, topic, envelope.signed), envelope.sig):
        raise Rejected("bad_sig", "signature does not match")


def parse_body(envelope: Envelope) -> dict[str, Any]:
    """Checks 6-8: JSON object, members and types, ranges, dev matches the topic.

    Types are checked for every member before any range, so a body with both
    kinds of fault is `bad_field`. Coordinates come back as floats.
    """
    return _parse(envelope.signed, envelope.device_id, _check_alert if envelope.kind == "alert" else _check_heartbeat)


def _parse(signed: bytes, device_id: str, check: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
    body = _load_json(signed)
    if not isinstance(body, dict):
        raise Rejected("bad_json", "not a JSON object")
    problem = check(body)
    if problem:
        raise Rejected("bad_field", problem)
    problem = _check_ranges(body)
    if problem:
        raise Rejected("out_of_range", problem)
    if body["dev"] != device_id:
        raise Rejected("dev_mismatch", "body dev differs from the topic's device id")
    if body.get("loc"):
        body["loc"] = {**body["loc"], "lat": float(body["loc"]["lat"]), "lon": float(body["loc"]["lon"])}
    return body


def parse_status(payload: bytes) -> Status:
    """The unsigned status message: a hint, so anything but the pinned shape is refused."""
    if len(payload) > MAX_STATUS_BYTES:
        raise Rejected("too_large", f"{len(payload)} bytes > {MAX_STATUS_BYTES}")
    body = _load_json(payload)
    if not isinstance(body, dict):
        raise Rejected("bad_json", "not a JSON object")
    extra = set(body) - {"state", "fw", "up"}
    if extra:
        raise Rejected("bad_field", f"unexpected member '{printable(min(extra))}'")
    state = body.get("state")
    if state not in ("online", "offline"):
        raise Rejected("bad_field", "state must be online or offline")
    fw = body.get("fw")
    if "fw" in body and not (isinstance(fw, str) and FIRMWARE_VERSION.fullmatch(fw)):
        raise Rejected("bad_field", f"fw '{printable(fw, 40)}' is not a version ({FIRMWARE_VERSION.pattern})")
    if "up" in body:
        if not _is_int(body["up"]):
            raise Rejected("bad_field", "up must be an integer")
        problem = _range_problem("up", body["up"])
        if problem:
            raise Rejected("out_of_range", problem)
    return Status("online" if state == "online" else "offline", fw)


def _load_json(data: bytes) -> Any:
    """Strict JSON: UTF-8, no repeated member, no NaN; fractions as Decimal, exact."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_members,
                          parse_constant=_no_constants, parse_float=Decimal)
    except _DuplicateMember as exc:
        raise Rejected("bad_field", f"member '{printable(exc)}' appears twice") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected("bad_json", printable(exc)) from None


class _DuplicateMember(Exception):
    pass


def _no_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could disagree on which of two "seq" members counts.
    result = dict(pairs)
    if len(result) != len(pairs):
        names = [name for name, _ in pairs]
        raise _DuplicateMember(next(name for name in names if names.count(name) > 1))
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- member checks -------------------------------------------------------------
# Mirrors protocol/schemas/device-alert.json and device-heartbeat.json; the
# vectors test the two against each other. Hand-written because it sits on the
# hot path (tens of thousands of heartbeats a second).


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: object) -> bool:
    return value is None or _is_int(value)


def _is_coordinate(value: object) -> bool:
    """An integer, or a fraction that is a whole number of 1e-7 degrees (checked on its digits)."""
    if _is_int(value):
        return True
    if not isinstance(value, Decimal) or not value.is_finite():
        return False
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    # The value is digits x 10^exponent: without its trailing zeros, the last digit must be 1e-7 or coarser.
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return exponent >= -7 or digits == (0,)


_COMMON = ("v", "dev", "seq", "ts", "up", "bat", "pwr", "net", "rssi")
_RESULT = ("v", "dev", "cseq", "cmd", "status", "reason", "ts", "up")
_ALERT_ONLY = ("type", "loc")
_LOC_KEYS = {"lat", "lon", "acc", "src", "age"}
_BODY_NUMBERS = ("seq", "ts", "up", "bat", "rssi", "ref", "ep")
_LOC_NUMBERS = ("lat", "lon", "acc", "age")


def _check_members(body: dict[str, Any], required: tuple[str, ...], allowed: set[str]) -> str | None:
    """Every required member, no other than `allowed`, `v` 1 and a device id in `dev`."""
    missing = [k for k in required if k not in body]
    if missing:
        return f"missing {', '.join(missing)}"
    extra = set(body) - allowed
    if extra:
        return f"unexpected member '{printable(min(extra))}'"
    if body["v"] != 1 or not _is_int(body["v"]):
        return "v must be 1"
    if not isinstance(body["dev"], str) or not DEVICE_ID.fullmatch(body["dev"]):
        return "dev must match pb-<12 hex>"
    return None


def _check_common(body: dict[str, Any], allowed: set[str]) -> str | None:
    problem = _check_members(body, _COMMON, allowed)
    if problem:
        return problem
    if not _is_int(body["seq"]):
        return "seq must be an integer"
    if not _int_or_none(body["ts"]):
        return "ts must be an integer or null"
    if not _is_int(body["up"]):
        return "up must be an integer"
    if not _int_or_none(body["bat"]):
        return "bat must be an integer or null"
    if body["pwr"] not in ("mains", "battery"):
        return "pwr must be mains or battery"
    if body["net"] not in ("wifi", "cell", "sms"):
        return "net must be wifi, cell or sms"
    if not _int_or_none(body["rssi"]):
        return "rssi must be an integer or null"
    return None


def _check_heartbeat(body: dict[str, Any]) -> str | None:
    problem = _check_common(body, {*_COMMON, "ep"})
    if problem is None and "ep" in body and not _is_int(body["ep"]):
        return "ep must be an integer"
    return problem


def _check_alert(body: dict[str, Any]) -> str | None:
    for key in _ALERT_ONLY:
        if key not in body:
            return f"missing {key}"
    allowed = {*_COMMON, *_ALERT_ONLY}
    if body.get("type") == "cancel":
        allowed.add("ref")
    problem = _check_common(body, allowed)
    if problem:
        return problem
    if body["type"] not in CONTACT_ID:
        return "unknown type"
    if body["type"] == "cancel" and not _is_int(body.get("ref")):
        return "cancel needs ref, the seq it cancels"
    return _check_location(body["loc"])


def _check_location(loc: object) -> str | None:
    if loc is None:
        return None
    if not isinstance(loc, dict) or set(loc) != _LOC_KEYS:
        return "loc must be null or {lat, lon, acc, src, age}"
    for name in ("lat", "lon"):
        if not _is_coordinate(loc[name]):
            return f"loc.{name} must be a number with at most 7 decimals"
    if not _is_int(loc["acc"]):
        return "loc.acc must be an integer"
    if loc["src"] not in ("gps", "last_gps"):
        return "loc.src must be gps or last_gps (no fix: loc is null)"
    if not _is_int(loc["age"]):
        return "loc.age must be an integer"
    return None


def _check_result(body: dict[str, Any]) -> str | None:
    problem = _check_members(body, _RESULT, {*_RESULT, "loc", "seq"})
    if problem:
        return problem
    if not _int_or_none(body["cseq"]) or (body["cmd"] is not None and body["cmd"] not in COMMANDS):
        return "cseq must be an integer or null, cmd a command or null"
    if body["status"] not in ("ok", "rejected") or (body["reason"] is not None
                                                    and body["reason"] not in COMMAND_REJECTIONS):
        return "status must be ok or rejected, reason a rejection code or null"
    if (body["status"] == "ok") != (body["reason"] is None) or (
            body["status"] == "ok" and (body["cseq"] is None or body["cmd"] is None)):
        return "an ok result names its command and has no reason; a rejected one has a reason"
    if not _int_or_none(body["ts"]) or not _is_int(body["up"]):
        return "ts must be an integer or null, up an integer"
    if "loc" in body and (body["cmd"] != "locate" or body["status"] != "ok"):
        return "only an ok locate result carries loc"
    if "seq" in body and (body["cmd"] != "test" or body["status"] != "ok" or not _is_int(body["seq"])):
        return "only an ok test result carries seq, an integer"
    return _check_location(body.get("loc"))


def parse_result(signed: bytes, device_id: str) -> dict[str, Any]:
    """A device's result (protocol/schemas/device-result.json), signed part already verified."""
    return _parse(signed, device_id, _check_result)


def _check_ranges(body: dict[str, Any]) -> str | None:
    """After the type checks: every number within RANGES (absent or null members have none)."""
    for name in _BODY_NUMBERS:
        value = body.get(name)
        if value is not None and (problem := _range_problem(name, value)):
            return problem
    cseq = body.get("cseq")  # a result's: a command's number, ranged as a seq
    if cseq is not None and not 1 <= cseq <= MAX_SEQ:
        return f"cseq {printable(cseq, 24)} is outside 1 to {MAX_SEQ}"
    loc = body.get("loc")
    if loc:
        for name in _LOC_NUMBERS:
            if problem := _range_problem(f"loc.{name}", loc[name]):
                return problem
    return None


def _range_problem(name: str, value: int | Decimal) -> str | None:
    low, high = RANGES[name]
    if low <= value <= high:
        return None
    return f"{name} {printable(value, 24)} is outside {low} to {high}"
