"""The wire contract in protocol/: schemas, AsyncAPI document and shared vectors.

These run under CPython. The vectors themselves are meant for both sides: the
gateway tests and the firmware tests (under MicroPython) replay the same files.
Here we check that the files are internally consistent and agree with the
contract (protocol/README.md):

- the generators reproduce the committed vector files byte for byte;
- every signing vector's sig is HMAC-SHA256 over topic + "\\n" + signed;
- payloads validate against the schema they name; bad_field payloads do not;
- a small reference implementation of the gateway's ordered checks and of the
  anti-replay window agrees with every hand-stated reason and expectation;
- the AsyncAPI document is 3.0, its $refs resolve, and its channels, QoS,
  retain flags and directions match the topic table below.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker, validators

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "protocol"
SCHEMAS = PROTOCOL / "schemas"
VECTORS = PROTOCOL / "vectors"
DOCS = ROOT / "docs" / "protocol.md"

MAX_PAYLOAD = 2048
REASONS = [
    "too_large", "bad_topic", "no_sig", "unknown_device", "bad_sig",
    "bad_json", "bad_field", "out_of_range", "dev_mismatch", "replay",
]
RANGE_KEYWORDS = {"minimum", "maximum"}

# The contract's topics: topic, from, to, QoS, retain.
TOPICS = [
    ("panic/v1/dev/{id}/alert", "device", "gateway", 1, False),
    ("panic/v1/dev/{id}/hb", "device", "gateway", 0, False),
    ("panic/v1/dev/{id}/status", "device", "all", 1, True),
    ("panic/v1/dev/{id}/ack", "gateway", "device", 1, False),
    ("panic/v1/dev/{id}/cmd", "gateway", "device", 1, False),
    ("panic/v1/dev/{id}/result", "device", "gateway", 1, False),
    ("panic/v1/dispatch/alerts", "gateway", "dispatch", 1, False),
    ("panic/v1/dispatch/stations/{station}/alerts", "gateway", "dispatch", 1, False),
    ("panic/v1/dispatch/events", "gateway", "dispatch", 1, False),
    ("panic/v1/dispatch/ack", "dispatch", "gateway", 1, False),
    ("panic/v1/dispatch/receipt", "dispatch", "gateway", 1, False),
]
# Topics the project added to the original table (dispatch receipts, docs/protocol.md).
ADDED_TOPICS = {"panic/v1/dispatch/receipt", "panic/v1/dev/{id}/result"}


# --- helpers ----------------------------------------------------------------------


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _strict_integer(_checker: object, instance: object) -> bool:
    # JSON Schema calls 5.0 an integer; the contract does not (bad_field_seq_float).
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    # jsonschema checks date-time only with an optional package; do it here.
    if not isinstance(value, str):
        return True
    if not RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def validator(schema_file: str) -> Any:
    return StrictValidator(load_json(SCHEMAS / schema_file), format_checker=FORMATS)


def parse(payload: bytes, parse_float: Any = float) -> tuple[Any, list[str]]:
    """Strict JSON: UTF-8, no NaN/Infinity. Returns the value and repeated member names."""
    repeated: list[str] = []

    def pairs(members: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in members:
            if name in result:
                repeated.append(name)
            result[name] = value
        return result

    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    value = json.loads(payload.decode("utf-8"), object_pairs_hook=pairs, parse_constant=reject,
                       parse_float=parse_float)
    return value, repeated


def coarse_coordinates(payload: bytes) -> list[str]:
    """loc.lat/lon that are not whole numbers of 1e-7 degrees, judged on the literal (schemas say it in words)."""
    body, _ = parse(payload, parse_float=Fraction)  # exact, whatever the exponent
    loc = body.get("loc") if isinstance(body, dict) else None
    if not isinstance(loc, dict):
        return []
    return [f"loc.{name} {loc[name]} has more than 7 decimals" for name in ("lat", "lon")
            if isinstance(loc.get(name), Fraction) and (loc[name] * 10**7).denominator != 1]


def field_problems(payload: bytes, schema_file: str) -> tuple[list[str], list[str]]:
    """Why a (parseable) payload fails the field checks: (bad_field problems, out_of_range problems)."""
    body, repeated = parse(payload)
    shape = [f"member {name!r} appears more than once" for name in repeated] + coarse_coordinates(payload)
    ranges = []
    for error in validator(schema_file).iter_errors(body):
        (ranges if error.validator in RANGE_KEYWORDS else shape).append(error.message)
    return shape, ranges


def field_errors(payload: bytes, schema_file: str) -> list[str]:
    shape, ranges = field_problems(payload, schema_file)
    return shape + ranges


def hmac_hex(key: bytes, topic: str, signed: bytes) -> str:
    return hmac.new(key, topic.encode("utf-8") + b"\n" + signed, hashlib.sha256).hexdigest()


def payload_bytes(vector: dict[str, Any]) -> bytes:
    if "payload_hex" in vector:
        return bytes.fromhex(vector["payload_hex"])
    return vector["payload"].encode("utf-8")


DEVICE_TOPIC = re.compile(r"panic/v1/dev/(pb-[0-9a-f]{12})/(alert|hb)")
SIG_TAIL = re.compile(rb',"sig":"([0-9a-f]{64})"\}\Z')
SCHEMA_FOR_SUFFIX = {"alert": "device-alert.json", "hb": "device-heartbeat.json"}


def first_failing_check(topic: str, payload: bytes, device_id: str, key: bytes) -> str | None:
    """Reference implementation of protocol/README.md's ordered checks 1-8 (7: types, then ranges)."""
    if len(payload) > MAX_PAYLOAD:
        return "too_large"
    match = DEVICE_TOPIC.fullmatch(topic)
    if not match:
        return "bad_topic"
    tail = SIG_TAIL.search(payload)
    if not tail:
        return "no_sig"
    if match[1] != device_id:
        return "unknown_device"
    signed = payload[:-74] + b"}"
    if not hmac.compare_digest(hmac_hex(key, topic, signed), tail[1].decode("ascii")):
        return "bad_sig"
    try:
        body, _ = parse(payload)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "bad_json"
    if not isinstance(body, dict):
        return "bad_json"
    shape, ranges = field_problems(payload, SCHEMA_FOR_SUFFIX[match[2]])
    if shape:
        return "bad_field"
    if ranges:
        return "out_of_range"
    if body["dev"] != match[1]:
        return "dev_mismatch"
    return None


class ReplayWindow:
    """Reference implementation of protocol/README.md's anti-replay window."""

    def __init__(self, width: int = 64) -> None:
        self.width = width
        self.high = 0  # H
        self.bits = 0  # bit i <=> seq H - i seen
        self.stored: dict[int, str] = {}  # accepted alerts only

    def offer(self, seq: int, tag: str, kind: str = "alert") -> str:
        if self.stored.get(seq) == tag:
            return "duplicate"
        if seq > self.high:
            shift = seq - self.high
            self.bits = ((self.bits << shift) | 1) & ((1 << self.width) - 1) if shift < self.width else 1
            self.high = seq
        elif seq >= 1 and self.high - (self.width - 1) <= seq and not self.bits >> (self.high - seq) & 1:
            self.bits |= 1 << (self.high - seq)
        elif kind == "alert" and 1 <= seq < self.high - (self.width - 1) and seq not in self.stored:
            pass  # rule 4: an alert below the window that was never stored
        else:
            return "replay"
        if kind == "alert":
            self.stored[seq] = tag
        return "new"


SIGNING = load_json(VECTORS / "signing.json")
COMMANDS = load_json(VECTORS / "commands.json")
MALFORMED = load_json(VECTORS / "malformed.json")
REPLAY = load_json(VECTORS / "replay_window.json")
BOUNDS = load_json(VECTORS / "bounds.json")
SCHEMA_FILES = sorted(SCHEMAS.glob("*.json"))


def by_name(vectors: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(vector, id=vector["name"]) for vector in vectors]


# --- generated files are up to date ---------------------------------------------


@pytest.mark.parametrize(("script", "output"), [
    ("make_signing.py", "signing.json"),
    ("make_malformed.py", "malformed.json"),
    ("make_bounds.py", "bounds.json"),
    ("make_sms.py", "sms.json"),
    ("make_commands.py", "commands.json"),
    ("make_console.py", "console.json"),
])
def test_generator_reproduces_committed_file(script: str, output: str) -> None:
    # -E -s -S: no environment, no site-packages (the script's own folder stays on
    # sys.path for vectorfile.py): the generators are stdlib only.
    result = subprocess.run(
        [sys.executable, "-E", "-s", "-S", str(VECTORS / script), "--stdout"],
        capture_output=True, timeout=60, check=True,
    )
    assert result.stdout == (VECTORS / output).read_bytes(), f"{output} is stale: run protocol/vectors/{script}"


@pytest.mark.parametrize("name", ["signing.json", "malformed.json", "replay_window.json", "bounds.json",
                                  "commands.json", "console.json"])
def test_vector_files_have_the_common_shape(name: str) -> None:
    data = load_json(VECTORS / name)
    assert isinstance(data["description"], str) and data["description"]
    assert isinstance(data["vectors"], list) and data["vectors"]
    names = [vector["name"] for vector in data["vectors"]]
    assert len(names) == len(set(names)), "vector names must be unique"


# --- schemas --------------------------------------------------------------------------


def test_every_payload_has_a_schema() -> None:
    expected = {
        "device-alert.json", "device-heartbeat.json", "device-status.json", "device-ack.json",
        "device-cmd.json", "device-result.json", "dispatch-alert.json", "dispatch-event.json", "dispatch-ack.json",
        "dispatch-receipt.json", "console-request.json", "console-response.json",
    }
    assert {path.name for path in SCHEMA_FILES} == expected


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = load_json(path)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/" + path.name)
    assert schema["title"]


def _object_schemas(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Subschemas that describe objects (skipping if/then/else and allOf conditions)."""
    found = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append((where, node))
        for key in ("properties", "$defs"):
            for name, sub in node.get(key, {}).items():
                found += _object_schemas(sub, f"{where}/{key}/{name}")
        for key in ("oneOf", "anyOf"):
            for index, sub in enumerate(node.get(key, [])):
                found += _object_schemas(sub, f"{where}/{key}/{index}")
        if "items" in node:
            found += _object_schemas(node["items"], f"{where}/items")
    return found


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_closed_schemas_forbid_unknown_members(path: Path) -> None:
    objects = _object_schemas(load_json(path), "#")
    assert objects
    for where, node in objects:
        assert node.get("additionalProperties") is False, f"{path.name} {where} is not closed"


def _numbers(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every subschema that admits a JSON number, with where it is."""
    found = []
    if isinstance(node, dict):
        types = node.get("type", [])
        if {"integer", "number"} & set([types] if isinstance(types, str) else types):
            found.append((where, node))
        for key in ("properties", "$defs"):
            for name, sub in node.get(key, {}).items():
                found += _numbers(sub, f"{where}/{key}/{name}")
        for key in ("oneOf", "anyOf", "allOf"):
            for index, sub in enumerate(node.get(key, [])):
                found += _numbers(sub, f"{where}/{key}/{index}")
        if "items" in node:
            found += _numbers(node["items"], f"{where}/items")
    return found


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_every_number_has_a_range(path: Path) -> None:
    """No number without both ends: an unbounded one reached dispatch with 301 digits (issue 6, hole 2)."""
    for where, node in _numbers(load_json(path), "#"):
        assert "minimum" in node and "maximum" in node, f"{path.name} {where} has no range"


def device_numbers() -> set[str]:
    """The numeric members of the messages a device writes: seq, ts, ..., loc.lat, ..."""
    names = set()
    for schema_file in ("device-alert.json", "device-heartbeat.json", "device-status.json"):
        for where, _node in _numbers(load_json(SCHEMAS / schema_file), ""):
            names.add(where.replace("/properties/", ".").lstrip("."))
    return names


def test_bounds_vectors_cover_every_device_number() -> None:
    members = [vector["member"] for vector in BOUNDS["vectors"]]
    assert device_numbers() == {"seq", "ts", "up", "bat", "rssi", "ref", "ep", "loc.lat", "loc.lon", "loc.acc",
                                "loc.age"}
    assert device_numbers() <= set(members)
    assert {"fw", "loc.src"} <= set(members)
    for vector in BOUNDS["vectors"]:
        assert (vector["body"] is None) == (vector["error"] is not None), vector["name"]
        assert vector["error"] in (None, "ValueError"), vector["name"]


@pytest.mark.parametrize("vector", by_name([v for v in BOUNDS["vectors"] if v["body"] is not None]))
def test_bounds_body_validates_against_its_schema(vector: dict[str, Any]) -> None:
    body = vector["body"].encode("utf-8")
    if vector["message"] != "online":  # signed: the schema wants the sig member
        body = body[:-1] + b',"sig":"' + b"0" * 64 + b'"}'
    assert field_errors(body, vector["schema"]) == []


def test_signed_schemas_require_sig_and_device_fields() -> None:
    for name in ("device-alert.json", "device-heartbeat.json", "device-ack.json"):
        schema = load_json(SCHEMAS / name)
        assert {"v", "dev", "sig"} <= set(schema["required"]), name
        assert schema["properties"]["v"]["const"] == 1
    for name in ("device-alert.json", "device-heartbeat.json"):
        assert "seq" in load_json(SCHEMAS / name)["required"]
    assert "sig" not in load_json(SCHEMAS / "device-status.json")["properties"]


@pytest.mark.parametrize("vector", by_name(COMMANDS["vectors"]))
def test_command_vector_schema_validity(vector: dict[str, Any]) -> None:
    """Valid commands validate against device-cmd.json; each rejection the schema can see, it sees."""
    try:
        valid = field_errors(vector["payload"].encode("utf-8"), "device-cmd.json") == []
    except ValueError:  # not JSON
        valid = False
    assert valid == vector["schema_valid"]
    if vector["reason"] is None:
        assert vector["schema_valid"], "a command the device accepts is one the schema accepts"


@pytest.mark.parametrize("vector", by_name(COMMANDS["results"]))
def test_command_result_vector(vector: dict[str, Any]) -> None:
    key = bytes.fromhex(COMMANDS["device"]["key_hex"])
    body = vector["body"].encode("utf-8")
    sig = hmac_hex(key, vector["topic"], body)
    assert vector["payload"].encode("utf-8") == body[:-1] + b',"sig":"' + sig.encode() + b'"}'
    assert field_errors(vector["payload"].encode("utf-8"), "device-result.json") == []


def test_command_vectors_cover_the_brief() -> None:
    reasons = {v["reason"] for v in COMMANDS["vectors"]}
    assert {None, "no_sig", "bad_sig", "bad_json", "bad_field", "dev_mismatch", "replay", "expired", "unknown_cmd",
            "bad_args", "out_of_range"} == reasons
    commands = {json.loads(v["payload"])["cmd"] for v in COMMANDS["vectors"] if v["reason"] is None}
    assert commands == {"locate", "test", "identify", "config", "reboot"}
    assert {"ok", "rejected"} == {json.loads(r["body"])["status"] for r in COMMANDS["results"]}


CID = {"sos": "120", "silent_sos": "122", "cancel": "406", "test": "601",
       "tamper": "137", "power_lost": "301", "battery_low": "302",
       "tamper_restored": "137", "power_restored": "301", "battery_restored": "302"}


def _dispatch_alert_example() -> dict[str, Any]:
    asyncapi = yaml.safe_load((PROTOCOL / "asyncapi.yaml").read_text(encoding="utf-8"))
    example: dict[str, Any] = asyncapi["components"]["messages"]["dispatchAlert"]["examples"][0]["payload"]
    return json.loads(json.dumps(example))


DISPATCH_ALERT_TYPES = ("sos", "silent_sos", "cancel", "test")  # device events go to dispatch/events


def _as_type(alert: dict[str, Any], alert_type: str) -> dict[str, Any]:
    """The example as an alert of `alert_type`, with the members that type carries."""
    alert.update(type=alert_type, cid=CID[alert_type], silent=alert_type == "silent_sos", test=alert_type == "test")
    if alert_type == "cancel":
        alert["cancels"] = "pb-3c71bf4a9e10:17"
    return alert


@pytest.mark.parametrize("alert_type", DISPATCH_ALERT_TYPES)
def test_dispatch_alert_ties_cid_to_type(alert_type: str) -> None:
    check = validator("dispatch-alert.json")
    alert = _as_type(_dispatch_alert_example(), alert_type)
    assert not list(check.iter_errors(alert))
    wrong = next(code for code in CID.values() if code != CID[alert_type])
    alert["cid"] = wrong
    assert list(check.iter_errors(alert)), f"{alert_type} must not carry cid {wrong}"


@pytest.mark.parametrize(("alert_type", "member", "value"), [
    ("silent_sos", "silent", False),  # a silent alert is marked silent
    ("sos", "silent", True),
    ("test", "test", False),  # a test is always marked a test
    ("cancel", "cancels", None),  # a cancel record names what it cancels
    ("sos", "cancels", "pb-3c71bf4a9e10:17"),
    ("tamper", "cid", "137"),  # a device event is not a dispatch alert
])
def test_dispatch_alert_marks_each_type(alert_type: str, member: str, value: Any) -> None:
    check = validator("dispatch-alert.json")
    alert = _dispatch_alert_example()
    alert.update(type=alert_type, cid=CID.get(alert_type, "120"), silent=alert_type == "silent_sos",
                 test=alert_type == "test", cancels="pb-3c71bf4a9e10:17")
    if alert_type != "cancel":
        del alert["cancels"]
    if value is None:
        del alert[member]
    else:
        alert[member] = value
    assert list(check.iter_errors(alert)), f"{alert_type} with {member}={value!r} must not validate"


def test_dispatch_alert_state_cancel_requested() -> None:
    alert = _dispatch_alert_example()
    alert["state"] = "cancel_requested"
    assert not list(validator("dispatch-alert.json").iter_errors(alert))


@pytest.mark.parametrize(("event", "cid", "ok"), [
    ("tamper", "137", True), ("power", "301", True), ("low_battery", "302", True),
    ("device_offline", "137", False),  # only a button's tamper, power and battery messages carry a code
    ("tamper", "120", False),
])
def test_dispatch_event_carries_the_device_events_code(event: str, cid: str, ok: bool) -> None:
    record = {"event": event, "at": "2024-06-01T04:10:07.412Z", "device": "pb-3c71bf4a9e10", "owner": None,
              "premises": None, "reason": None, "detail": "lid", "alert_id": "pb-3c71bf4a9e10:5", "cid": cid,
              "restore": False}
    errors = list(validator("dispatch-event.json").iter_errors(record))
    assert (errors == []) == ok, errors
    if ok:
        del record["restore"]
        assert list(validator("dispatch-event.json").iter_errors(record)), "cid without restore"


@pytest.mark.parametrize(("member", "value"), [
    ("alert_id", "pb-3c71bf4a9e10:0"),
    ("alert_id", "pb-3c71bf4a9e10"),
    ("rev", 0),
    ("state", "lost"),
    ("escalation", {"level": 0, "reason": "late", "stations": [], "at": "2024-06-01T04:11:07Z"}),
    ("escalation", {"level": 1, "reason": "late", "stations": ["Polsek/1"], "at": "2024-06-01T04:11:07Z"}),
    ("escalation", {"level": 1, "reason": "late", "stations": []}),
    ("received_at", "2024-06-01T11:10:07+07:00"),
    ("received_at", "2024-06-31T04:10:07Z"),
    ("pressed_at", 1717215007),
    ("candidates", [{"id": "a", "name": "A", "distance_m": 1}] * 4),
    ("station", {"id": "Polsek/1", "name": "A", "distance_m": 1}),
])
def test_dispatch_alert_rejects(member: str, value: Any) -> None:
    alert = _dispatch_alert_example()
    alert[member] = value
    assert list(validator("dispatch-alert.json").iter_errors(alert))


@pytest.mark.parametrize(("ack", "valid"), [
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "acknowledged", "by": "desk 2"}, True),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "resolved", "by": "desk 2", "note": None,
      "false_alarm": True}, True),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "acknowledged", "by": ""}, False),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "acknowledged"}, False),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "received", "by": "desk 2"}, False),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "resolved", "by": "x", "false_alarm": "yes"}, False),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "on_scene", "by": "unit 7", "rev": 3}, True),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "false_alarm", "by": "desk 2", "rev": None}, True),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "on_scene", "by": "unit 7", "rev": 0}, False),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "cancel_requested", "by": "desk 2"}, False),
    ({"alert_id": "pb-3c71bf4a9e10:18", "state": "acknowledged", "by": "desk 2", "false_alarm": True}, False),
])
def test_dispatch_ack(ack: dict[str, Any], valid: bool) -> None:
    assert (not list(validator("dispatch-ack.json").iter_errors(ack))) is valid


@pytest.mark.parametrize(("event", "valid"), [
    ({"event": "rejected", "reason": "bad_sig"}, True),
    ({"event": "rejected", "reason": None}, False),
    ({"event": "rejected", "reason": "nope"}, False),
    ({"event": "device_offline", "reason": "bad_sig"}, False),
    ({"event": "unregistered", "reason": "unknown_device"}, True),
    ({"event": "rejected", "reason": "bad_topic", "device": None, "owner": None, "premises": None}, True),
    ({"event": "exploded", "reason": None}, False),
])
def test_dispatch_event(event: dict[str, Any], valid: bool) -> None:
    base = {"event": "device_online", "at": "2024-06-01T05:00:31Z", "device": "pb-3c71bf4a9e10",
            "owner": None, "premises": None, "reason": None, "detail": None}
    assert (not list(validator("dispatch-event.json").iter_errors({**base, **event}))) is valid


REFUSED = {"event": "ack_refused", "reason": "conflict", "status": 409, "alert_id": "pb-3c71bf4a9e10:18",
           "state": "acknowledged", "rev": 4, "by": "desk 2",
           "detail": "alert pb-3c71bf4a9e10:18 cannot go from resolved to acknowledged"}
REFUSED_MALFORMED = {"event": "ack_refused", "reason": "malformed", "status": 422, "device": None, "alert_id": None,
                     "state": None, "rev": None, "by": None, "detail": "body: Invalid JSON: EOF while parsing a value"}


@pytest.mark.parametrize(("event", "valid"), [
    (REFUSED, True),
    ({**REFUSED, "reason": "not_found", "status": 404, "rev": None, "detail": "no alert pb-3c71bf4a9e10:18"}, True),
    (REFUSED_MALFORMED, True),
    ({**REFUSED_MALFORMED, "state": "new", "by": "desk 2", "rev": 3}, True),  # what it sent, though no ack may say it
    ({**REFUSED, "status": 404}, False),  # the status is the reason's
    ({**REFUSED, "reason": "malformed"}, False),
    ({**REFUSED, "reason": "bad_sig"}, False),  # a device rejection's code
    ({**REFUSED, "reason": None}, False),
    ({**REFUSED, "state": "new"}, False),  # a well-formed ack asked for a police state
    ({**REFUSED, "alert_id": None}, False),  # only a malformed ack may name no alert
    ({**REFUSED, "rev": 0}, False),
    ({**REFUSED, "detail": None}, False),
    ({**REFUSED, "cid": "137", "restore": False}, False),
    ({k: v for k, v in REFUSED.items() if k != "status"}, False),
    ({k: v for k, v in REFUSED_MALFORMED.items() if k != "by"}, False),
    ({"event": "rejected", "reason": "conflict"}, False),  # an acknowledgement's reason on a device rejection
    ({"event": "device_offline", "state": "acknowledged"}, False),  # the refusal's members are its own
    ({"event": "device_offline", "status": 409}, False),
    ({"event": "tamper", "alert_id": None, "cid": "137", "restore": False}, False),
    ({"event": "tamper", "alert_id": "pb-3c71bf4a9e10:5"}, False),  # a device event's id comes with its code
])
def test_dispatch_event_ack_refused(event: dict[str, Any], valid: bool) -> None:
    base = {"event": "device_online", "at": "2024-06-01T05:00:31Z", "device": "pb-3c71bf4a9e10",
            "owner": None, "premises": None, "reason": None, "detail": None}
    assert (not list(validator("dispatch-event.json").iter_errors({**base, **event}))) is valid


# --- signing vectors -----------------------------------------------------------------------


def test_signing_vectors_cover_the_brief() -> None:
    vectors = SIGNING["vectors"]
    assert len(vectors) >= 8
    suffixes = {vector["topic"].rsplit("/", 1)[1] for vector in vectors}
    assert {"alert", "hb", "ack"} <= suffixes
    assert any(any(ord(char) > 127 for char in vector["signed"]) for vector in vectors), "non-ASCII text"
    assert any('": ' in vector["signed"] and '", "' in vector["signed"] for vector in vectors), "spaced JSON"
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for vector in vectors:
        groups.setdefault((vector["key_hex"], vector["signed"]), []).append(vector)
    pairs = [group for group in groups.values() if len({vector["topic"] for vector in group}) > 1]
    assert pairs, "the same body signed under two topics"
    for group in pairs:
        assert len({vector["sig"] for vector in group}) == len(group)
    states = {json.loads(vector["signed"]).get("state") for vector in vectors if vector["topic"].endswith("/ack")}
    assert {"received", "acknowledged"} <= states
    assert any('"lat":-5.4291234,"lon":105.2612345' in vector["signed"] for vector in vectors)
    assert any('"type":"cancel"' in vector["signed"] and '"ref":' in vector["signed"] for vector in vectors)
    assert any('"loc":null' in vector["signed"] and '"type":"sos"' in vector["signed"] for vector in vectors)


@pytest.mark.parametrize("vector", by_name(SIGNING["vectors"]))
def test_signing_vector(vector: dict[str, Any]) -> None:
    key = bytes.fromhex(vector["key_hex"])
    assert len(key) == 32
    signed = vector["signed"].encode("utf-8")
    payload = vector["payload"].encode("utf-8")
    assert re.fullmatch(r"[0-9a-f]{64}", vector["sig"])
    assert vector["sig"] == hmac_hex(key, vector["topic"], signed)
    assert vector["payload"] == vector["signed"][:-1] + ',"sig":"' + vector["sig"] + '"}'
    # The README's formulas, on bytes.
    assert payload[:-74] + b"}" == signed
    assert SIG_TAIL.search(payload)
    assert len(payload) <= MAX_PAYLOAD


@pytest.mark.parametrize("vector", by_name([v for v in SIGNING["vectors"] if v["schema"] is not None]))
def test_signing_payload_validates_against_its_schema(vector: dict[str, Any]) -> None:
    assert field_errors(vector["payload"].encode("utf-8"), vector["schema"]) == []


def test_signing_schema_members_name_existing_files() -> None:
    for vector in SIGNING["vectors"]:
        assert vector["schema"] is None or (SCHEMAS / vector["schema"]).is_file(), vector["name"]


# --- malformed vectors ---------------------------------------------------------------------

DEVICE_ID = MALFORMED["device"]["id"]
DEVICE_KEY = bytes.fromhex(MALFORMED["device"]["key_hex"])


def test_malformed_device() -> None:
    assert DEVICE_ID == "pb-0123456789ab"
    assert len(DEVICE_KEY) == 32


def test_malformed_vectors_cover_every_reason() -> None:
    reasons = [vector["reason"] for vector in MALFORMED["vectors"]]
    assert set(reasons) <= {*REASONS, None}
    # replay needs state: replay_window.json covers it.
    assert set(REASONS) - {"replay"} <= set(reasons)
    assert reasons.count(None) >= 2
    for vector in MALFORMED["vectors"]:
        assert ("payload" in vector) != ("payload_hex" in vector), vector["name"]
        if "payload_hex" in vector:
            with pytest.raises(UnicodeDecodeError):
                bytes.fromhex(vector["payload_hex"]).decode("utf-8")


def test_malformed_seqs_allow_feeding_in_order() -> None:
    seqs = [
        (vector["reason"], int(match[1]))
        for vector in MALFORMED["vectors"]
        if (match := re.search(rb'"seq": ?([0-9]+)(?=[,} ])', payload_bytes(vector)))
    ]
    positive = [seq for _, seq in seqs if seq > 0]
    assert len(positive) == len(set(positive)), "each vector has its own seq"
    accepted = [seq for reason, seq in seqs if reason is None]
    assert accepted == sorted(accepted)


@pytest.mark.parametrize("vector", by_name(MALFORMED["vectors"]))
def test_malformed_reason_matches_the_ordered_checks(vector: dict[str, Any]) -> None:
    payload = payload_bytes(vector)
    assert first_failing_check(vector["topic"], payload, DEVICE_ID, DEVICE_KEY) == vector["reason"]


@pytest.mark.parametrize("vector", by_name([v for v in MALFORMED["vectors"]
                                           if v["reason"] in ("bad_field", "out_of_range")]))
def test_field_vector_has_valid_envelope_but_fails_schema(vector: dict[str, Any]) -> None:
    payload = payload_bytes(vector)
    match = DEVICE_TOPIC.fullmatch(vector["topic"])
    assert match and match[1] == DEVICE_ID
    tail = SIG_TAIL.search(payload)
    assert tail, "envelope"
    assert tail[1].decode() == hmac_hex(DEVICE_KEY, vector["topic"], payload[:-74] + b"}"), "sig"
    assert field_errors(payload, SCHEMA_FOR_SUFFIX[match[2]]), "must fail the schema"


@pytest.mark.parametrize("vector", by_name([v for v in MALFORMED["vectors"] if v["reason"] is None]))
def test_control_vector_is_valid(vector: dict[str, Any]) -> None:
    payload = payload_bytes(vector)
    match = DEVICE_TOPIC.fullmatch(vector["topic"])
    assert match
    assert field_errors(payload, SCHEMA_FOR_SUFFIX[match[2]]) == []


# --- replay window ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", by_name(REPLAY["vectors"]))
def test_replay_window_expectations(vector: dict[str, Any]) -> None:
    assert vector["window"] == 64
    window = ReplayWindow(vector["window"])
    for index, step in enumerate(vector["steps"]):
        assert step["expect"] in {"new", "duplicate", "replay"}
        assert step["kind"] in {"alert", "hb"}
        assert isinstance(step["why"], str) and step["why"]
        got = window.offer(step["seq"], step["bytes"], step["kind"])
        assert got == step["expect"], f"step {index} (seq {step['seq']}, {step['bytes']}): {step['why']}"


def test_replay_window_covers_the_brief() -> None:
    seen: set[str] = set()
    for vector in REPLAY["vectors"]:
        window = ReplayWindow(vector["window"])
        for index, step in enumerate(vector["steps"]):
            seq, tag, kind, expect, high = step["seq"], step["bytes"], step["kind"], step["expect"], window.high
            if index == 0 and expect == "new":
                seen.add("first message")
            if expect == "new" and seq == high + 1:
                seen.add("in order")
            if expect == "duplicate":
                seen.add("duplicate")
                if seq < high - 63:
                    seen.add("old stored duplicate outside the window")
            if expect == "replay" and seq in window.stored and window.stored[seq] != tag:
                seen.add("same seq, other bytes")
            if expect == "new" and seq < high:
                seen.add("out of order inside the window")
            if expect == "new" and high >= 64 and seq == high - 63:
                seen.add("lower edge H-63")
            if expect == "replay" and high >= 64 and seq == high - 64:
                seen.add("one below H-64")
            if expect == "new" and seq - high > 64:
                seen.add("big jump")
            if seq == 0 and expect == "replay":
                seen.add("seq 0")
            if kind == "alert" and expect == "new" and seq < high - 63:
                seen.add("alert below the window never stored")
            if kind == "hb" and expect == "replay" and seq < high - 63:
                seen.add("heartbeat below the window")
            if expect == "new" and seq < high and any(s > seq for s in window.stored) and seq - 1 in window.stored:
                seen.add("gap filled later")
            window.offer(seq, tag, kind)
    assert seen == {
        "first message", "in order", "duplicate", "old stored duplicate outside the window",
        "same seq, other bytes", "out of order inside the window", "lower edge H-63", "one below H-64",
        "big jump", "seq 0", "gap filled later", "alert below the window never stored",
        "heartbeat below the window",
    }


@pytest.mark.parametrize(("steps", "expected"), [
    ([(1, "a"), (1, "a")], ["new", "duplicate"]),
    ([(100, "a"), (36, "a")], ["new", "new"]),  # an alert below the window, never stored (rule 4)
    ([(100, "a"), (37, "a")], ["new", "new"]),
    ([(1, "a"), (65, "a"), (2, "a")], ["new", "new", "new"]),
])
def test_reference_window_itself(steps: list[tuple[int, str]], expected: list[str]) -> None:
    window = ReplayWindow()
    assert [window.offer(seq, tag) for seq, tag in steps] == expected


# --- AsyncAPI ------------------------------------------------------------------------------------

ASYNCAPI = yaml.safe_load((PROTOCOL / "asyncapi.yaml").read_text(encoding="utf-8"))


def _pointer(document: Any, fragment: str) -> Any:
    node = document
    for part in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(ref: str) -> Any:
    target, _, fragment = ref.partition("#")
    if not target:
        return _pointer(ASYNCAPI, fragment)
    path = (PROTOCOL / target).resolve()
    assert path.is_file(), f"$ref {ref} points to a missing file"
    return _pointer(load_json(path), fragment)


def test_asyncapi_is_3_0() -> None:
    assert re.fullmatch(r"3\.0\.\d+", str(ASYNCAPI["asyncapi"]))
    assert ASYNCAPI["info"]["title"] and ASYNCAPI["info"]["version"]
    servers = ASYNCAPI["servers"].values()
    assert {server["protocol"] for server in servers} == {"mqtt", "secure-mqtt"}
    assert {str(server["protocolVersion"]) for server in servers} == {"3.1.1"}


def test_asyncapi_refs_resolve() -> None:
    refs = _refs(ASYNCAPI)
    assert any(not ref.startswith("#") for ref in refs)
    for ref in refs:
        try:
            _resolve(ref)
        except (KeyError, IndexError) as error:
            raise AssertionError(f"$ref {ref} does not resolve") from error


def test_every_schema_is_used_by_asyncapi() -> None:
    used = {Path(ref.partition("#")[0]).name for ref in _refs(ASYNCAPI) if not ref.startswith("#")}
    # the serial console is not MQTT: its schemas belong to protocol/console.md
    assert used == {path.name for path in SCHEMA_FILES if not path.name.startswith("console-")}


def test_every_design_topic_is_a_channel() -> None:
    addresses = sorted(channel["address"] for channel in ASYNCAPI["channels"].values())
    assert addresses == sorted(topic for topic, *_ in TOPICS)


def test_channel_parameters_match_addresses() -> None:
    for name, channel in ASYNCAPI["channels"].items():
        placeholders = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert set(channel.get("parameters", {})) == placeholders, name
        for parameter in channel.get("parameters", {}).values():
            resolved = _resolve(parameter["$ref"]) if "$ref" in parameter else parameter
            assert resolved["x-pattern"] in resolved["description"]
            for example in resolved["examples"]:
                assert re.fullmatch(resolved["x-pattern"].strip("^$"), example)


def test_operations_match_design_table() -> None:
    expected = {topic: (sender, qos, retain) for topic, sender, _, qos, retain in TOPICS}
    covered = set()
    for name, operation in ASYNCAPI["operations"].items():
        channel = _resolve(operation["channel"]["$ref"])
        sender, qos, retain = expected[channel["address"]]
        assert operation["action"] == ("send" if sender == "gateway" else "receive"), name
        binding = operation["bindings"]["mqtt"]
        assert (binding["qos"], binding["retain"]) == (qos, retain), name
        for message in operation.get("messages", []):
            assert _resolve(message["$ref"]) in channel["messages"].values(), name
        covered.add(channel["address"])
    assert covered == set(expected)


def _message_examples() -> list[Any]:
    cases = []
    for name, message in ASYNCAPI["components"]["messages"].items():
        schema_file = Path(message["payload"]["schema"]["$ref"]).name
        for example in message.get("examples", []):
            cases.append(pytest.param(schema_file, example["payload"], id=f"{name}-{example['name']}"))
    return cases


@pytest.mark.parametrize(("schema_file", "payload"), _message_examples())
def test_asyncapi_examples_validate(schema_file: str, payload: Any) -> None:
    errors = field_errors(json.dumps(payload).encode("utf-8"), schema_file)
    assert errors == []


def test_asyncapi_signed_examples_come_from_the_vectors() -> None:
    sigs = {vector["sig"] for vector in SIGNING["vectors"]}
    for vector in COMMANDS["vectors"] + COMMANDS["results"]:
        sigs.add(vector["payload"][-66:-2])
    for message in ASYNCAPI["components"]["messages"].values():
        for example in message.get("examples", []):
            if "sig" in example["payload"]:
                assert example["payload"]["sig"] in sigs


# --- docs/protocol.md -----------------------------------------------------------------------------


def _doc_examples() -> list[Any]:
    if not DOCS.is_file():
        return []
    text = DOCS.read_text(encoding="utf-8")
    found = re.findall(r"<!-- schema: ([\w.-]+) -->\s*```json\n(.*?)```", text, flags=re.DOTALL)
    return [pytest.param(schema, body, id=f"{schema}-{index}") for index, (schema, body) in enumerate(found)]


def test_docs_have_checked_examples() -> None:
    assert len(_doc_examples()) >= 3


@pytest.mark.parametrize(("schema_file", "body"), _doc_examples())
def test_docs_examples_validate(schema_file: str, body: str) -> None:
    assert field_errors(body.encode("utf-8"), schema_file) == []


def test_every_side_knows_the_same_alert_types() -> None:
    """The schema's types, the firmware's (panic/messages.py) and the gateway's Contact ID table agree."""
    import ast

    from gateway.protocol import CONTACT_ID

    schema = load_json(SCHEMAS / "device-alert.json")["properties"]["type"]["enum"]
    tree = ast.parse((PROTOCOL.parent / "firmware" / "panic" / "messages.py").read_text(encoding="utf-8"))
    firmware = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "ALERT_TYPES" for t in node.targets))
    assert list(firmware) == schema
    assert set(CONTACT_ID) == set(schema) and CONTACT_ID == CID
