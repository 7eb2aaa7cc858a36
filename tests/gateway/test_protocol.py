"""The gateway runs the shared protocol vectors (the firmware runs the same files)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import create_engine

from gateway import protocol
from gateway.protocol import Rejected
from gateway.storage.db import migrate
from tests.gateway.harness import make_core, register

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
SCHEMAS = VECTORS.parent / "schemas"
SIGNING = json.loads((VECTORS / "signing.json").read_text())["vectors"]
MALFORMED = json.loads((VECTORS / "malformed.json").read_text())


def payload_of(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["payload_hex"]) if "payload_hex" in vector else vector["payload"].encode()


@pytest.mark.parametrize("vector", SIGNING, ids=[v["name"] for v in SIGNING])
def test_signing_vector(vector: dict[str, Any]) -> None:
    key, topic, signed = bytes.fromhex(vector["key_hex"]), vector["topic"], vector["signed"].encode()
    assert protocol.compute_sig(key, topic, signed) == vector["sig"]
    if signed == json.dumps(json.loads(signed), separators=(",", ":"), ensure_ascii=False).encode():
        # compact bodies: the gateway's own serialiser produces the same bytes
        assert protocol.sign(key, topic, json.loads(signed)) == vector["payload"].encode()


def test_a_signing_vector_with_a_changed_byte_fails() -> None:
    vector = SIGNING[0]
    key = bytes.fromhex(vector["key_hex"])
    assert protocol.compute_sig(key, vector["topic"], vector["signed"].encode() + b" ") != vector["sig"]


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gateway.db'}"
    migrate(url)
    built = make_core(create_engine(url))
    register(built.store, MALFORMED["device"]["id"], MALFORMED["device"]["key_hex"])
    return built


@pytest.mark.parametrize("vector", MALFORMED["vectors"], ids=[v["name"] for v in MALFORMED["vectors"]])
def test_malformed_vector_is_judged_with_its_reason(core: Any, vector: dict[str, Any]) -> None:
    # Each vector carries its own increasing seq, so feeding them in file order
    # to one gateway leaves the replay window out of the way.
    outcome = core.ingest.device_message(vector["topic"], payload_of(vector), datetime.now(UTC))
    if vector["reason"] is None:
        assert outcome.verdict in ("new", "heartbeat"), outcome
    else:
        assert (outcome.verdict, outcome.reason) == ("rejected", vector["reason"])


def _strict_integer(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


def _schema_validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text())
    return _StrictValidator(schema, format_checker=jsonschema.FormatChecker())


FIELD_VECTORS = [v for v in MALFORMED["vectors"] if v["reason"] in (None, "bad_field", "out_of_range")]
# What JSON Schema cannot express: a member given twice (Python's parser keeps
# the last one), 37.0 as an integer (draft 2020-12 counts it as one; the
# strict validator below does not) and coordinates finer than 1e-7 degrees.
SCHEMA_BLIND = {"bad_field_duplicate_seq", "bad_field_sig_inside_signed", "bad_field_lat_8_decimals",
                "bad_field_lat_1e-300"}


@pytest.mark.parametrize("vector", FIELD_VECTORS, ids=[v["name"] for v in FIELD_VECTORS])
def test_field_checks_agree_with_the_json_schemas(vector: dict[str, Any]) -> None:
    """The hand-written hot-path checks and protocol/schemas give the same verdict."""
    payload = payload_of(vector)
    envelope = protocol.open_envelope(vector["topic"], payload, 2048)
    schema = "device-alert.json" if envelope.kind == "alert" else "device-heartbeat.json"
    schema_ok = _schema_validator(schema).is_valid(json.loads(payload))
    try:
        protocol.parse_body(envelope)
        gateway_ok = True
    except Rejected as rejected:
        assert rejected.reason == vector["reason"]
        gateway_ok = False
    assert gateway_ok == (vector["reason"] is None)
    if vector["name"] not in SCHEMA_BLIND:
        assert schema_ok == gateway_ok


VALID_ACK = {"alert_id": "pb-0123456789ab:7", "state": "acknowledged", "by": "Polsek desk 2", "note": None}


@pytest.mark.parametrize(
    ("change", "schema_rejects"),
    [
        ({"state": "closed"}, True),
        ({"false_alarm": 0}, True),  # JSON types only: 0 is not false
        ({"alert_id": "pb-0123456789ab:0"}, True),
        ({"extra": 1}, True),
        ({"by": None}, True),
        ({"by": "   "}, False),  # the schema's minLength counts spaces; the gateway strips them first
    ],
)
def test_dispatch_acks_are_validated_once_for_mqtt_and_http(change: dict[str, Any], schema_rejects: bool) -> None:
    from pydantic import ValidationError

    from gateway.protocol import DispatchAck

    assert DispatchAck.model_validate_json(json.dumps(VALID_ACK)).by == "Polsek desk 2"
    _schema_validator("dispatch-ack.json").validate(VALID_ACK)
    bad = {**VALID_ACK, **change}
    with pytest.raises(ValidationError):
        DispatchAck.model_validate_json(json.dumps(bad))
    assert (not _schema_validator("dispatch-ack.json").is_valid(bad)) == schema_rejects


# --- every number has a range (issue 6, hole 2) --------------------------------------------

BOUNDS = json.loads((VECTORS / "bounds.json").read_text())["vectors"]
KEY = bytes.fromhex(MALFORMED["device"]["key_hex"])
DEV = MALFORMED["device"]["id"]
LEAF = {"alert": "alert", "heartbeat": "hb"}


def _parse_signed(leaf: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
    topic = protocol.device_topic(DEV, leaf)
    signed = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    payload = signed[:-1] + b',"sig":"' + protocol.compute_sig(KEY, topic, signed).encode() + b'"}'
    envelope = protocol.open_envelope(topic, payload, 2048)
    protocol.verify(envelope, topic, KEY)
    return protocol.parse_body(envelope)


DEVICE_BODIES = [v for v in BOUNDS if v["message"] in LEAF and v["body"]]


@pytest.mark.parametrize("vector", DEVICE_BODIES, ids=[v["name"] for v in DEVICE_BODIES])
def test_the_gateway_accepts_whatever_the_firmware_writes(vector: dict[str, Any]) -> None:
    body = _parse_signed(LEAF[vector["message"]], vector["body"].encode())
    if body.get("loc"):  # coordinates leave the parser as floats that write back as the decimals sent
        sent = json.loads(vector["body"], parse_float=Decimal)["loc"]
        for name in ("lat", "lon"):
            assert isinstance(body["loc"][name], float)
            assert Decimal(json.dumps(body["loc"][name])) == sent[name]


STATUS_BODIES = [v for v in BOUNDS if v["message"] == "online"]


@pytest.mark.parametrize("vector", STATUS_BODIES, ids=[v["name"] for v in STATUS_BODIES])
def test_the_gateway_accepts_every_birth_message_the_firmware_writes(vector: dict[str, Any]) -> None:
    status = protocol.parse_status(vector["body"].encode())
    assert status.state == "online"
    assert status.fw == (vector["args"]["fw"] if '"fw"' in vector["body"] else None)


def _schema_ranges() -> dict[str, tuple[int, int]]:
    alert = json.loads((SCHEMAS / "device-alert.json").read_text())["properties"]
    found = {name: (alert[name]["minimum"], alert[name]["maximum"])
             for name in ("seq", "ref", "ts", "up", "bat", "rssi")}
    for name, node in alert["loc"]["properties"].items():
        if "minimum" in node:
            found[f"loc.{name}"] = (node["minimum"], node["maximum"])
    ep = json.loads((SCHEMAS / "device-heartbeat.json").read_text())["properties"]["ep"]
    found["ep"] = (ep["minimum"], ep["maximum"])
    return found


def test_a_heartbeat_names_its_endpoint_or_is_rejected() -> None:
    hb = {"v": 1, "dev": "pb-0123456789ab", "seq": 5, "ts": 1717300030, "up": 1, "bat": None, "pwr": "mains",
          "net": "wifi", "rssi": -50}
    assert protocol._check_heartbeat(hb) is None  # firmware from before endpoints: no ep
    assert protocol._check_heartbeat({**hb, "ep": 2}) is None
    assert protocol._check_heartbeat({**hb, "ep": "2"}) == "ep must be an integer"
    assert protocol._check_ranges({**hb, "ep": 4}) is not None


def test_the_gateway_ranges_are_the_schemas() -> None:
    assert _schema_ranges() == protocol.RANGES
    status = json.loads((SCHEMAS / "device-status.json").read_text())["properties"]
    assert (status["up"]["minimum"], status["up"]["maximum"]) == protocol.RANGES["up"]
    assert status["fw"]["pattern"] == "^" + protocol.FIRMWARE_VERSION.pattern + "$"


def _alert(**changes: Any) -> dict[str, Any]:
    body = {"v": 1, "dev": DEV, "seq": 5, "type": "cancel", "ts": 1717300000, "up": 1000, "bat": 50,
            "pwr": "mains", "net": "cell", "rssi": -80, "ref": 2,
            "loc": {"lat": 1, "lon": 2, "acc": 3, "src": "last_gps", "age": 4}}
    for name, value in changes.items():
        if name.startswith("loc."):
            body["loc"][name[4:]] = value
        else:
            body[name] = value
    return body


@pytest.mark.parametrize("member", sorted(_schema_ranges()))
def test_every_number_is_accepted_at_its_ends_and_refused_past_them(member: str) -> None:
    low, high = protocol.RANGES[member]
    step = 10**-7 if member in ("loc.lat", "loc.lon") else 1
    kind = "hb" if member == "ep" else "alert"  # ep is a heartbeat's only

    def body(value: object) -> dict[str, Any]:
        made = _alert(**{member: value})
        return {k: v for k, v in made.items() if k not in ("type", "ref", "loc")} if kind == "hb" else made

    for inside in (low, high):
        assert _parse_signed(kind, body(inside))
    for outside in (round(low - step, 7), round(high + step, 7)):
        with pytest.raises(Rejected) as refused:
            _parse_signed(kind, body(outside))
        assert refused.value.reason == "out_of_range"
        assert refused.value.detail.startswith(f"{member} ") and f"{low} to {high}" in refused.value.detail


def test_the_audited_numbers_are_refused_and_named() -> None:
    """Validly signed, 301 digits each: published to dispatch before (issue 6)."""
    for member, value in (("rssi", -(10**300)), ("loc.acc", 10**300), ("loc.age", 10**300)):
        with pytest.raises(Rejected) as refused:
            _parse_signed("alert", _alert(**{member: value}))
        assert refused.value.reason == "out_of_range"
        assert refused.value.detail.startswith(member + " 1") or refused.value.detail.startswith(member + " -1")
        assert len(refused.value.detail) < 80  # the value is cut, not echoed whole


@pytest.mark.parametrize(("member", "value"), [
    ("rssi", -55.0), ("rssi", True), ("bat", False), ("up", 1e3), ("loc.acc", 6.0), ("loc.age", "1"),
    ("ref", 2.0), ("seq", None), ("loc.lat", -5.42912345), ("loc.src", "none"),
])
def test_integers_are_integers_and_coordinates_are_whole_1e_7_degrees(member: str, value: Any) -> None:
    with pytest.raises(Rejected) as refused:
        _parse_signed("alert", _alert(**{member: value}))
    assert refused.value.reason == "bad_field"
    assert member in refused.value.detail


def test_no_fix_is_loc_null() -> None:
    assert _parse_signed("alert", _alert(loc=None))["loc"] is None
    with pytest.raises(Rejected, match="loc must be null or"):
        _parse_signed("alert", _alert(loc={"src": "none"}))


# --- the unsigned status message (issue 6, hole 3) ---------------------------------------------


@pytest.mark.parametrize(("payload", "state", "fw"), [
    (b'{"state":"online","fw":"0.1.0","up":1234}', "online", "0.1.0"),
    (b'{"state":"online","fw":"1.2.0-rc1+esp32_s3"}', "online", "1.2.0-rc1+esp32_s3"),
    (b'{"state":"online"}', "online", None),
    (b'{"state":"offline"}', "offline", None),
])
def test_status_is_parsed(payload: bytes, state: str, fw: str | None) -> None:
    assert protocol.parse_status(payload) == protocol.Status(state, fw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"state":"online","fw":"0.1.0\\u202e\\u0007\\u001b[31mEVIL","up":5}', "bad_field"),  # the audit's
    ('{"state":"online","fw":"0.1.0\u202e\x07\x1b[31mEVIL"}'.encode(), "bad_json"),  # raw controls: not JSON
    (b'{"state":"online","fw":"0.1.0\\n"}', "bad_field"),
    (b'{"state":"online","fw":"' + b"1" * 33 + b'"}', "bad_field"),
    (b'{"state":"online","fw":""}', "bad_field"),
    (b'{"state":"online","fw":null}', "bad_field"),
    (b'{"state":"online","fw":"0.1 beta"}', "bad_field"),
    (b'{"state":"online","fw":"-1"}', "bad_field"),
    (b'{"state":"sleeping"}', "bad_field"),
    (b'{"fw":"0.1.0"}', "bad_field"),
    (b'{"state":"online","owner":"me"}', "bad_field"),
    (b'{"state":"online","state":"offline"}', "bad_field"),
    (b'{"state":"online","up":1.5}', "bad_field"),
    (b'{"state":"online","up":true}', "bad_field"),
    (b'{"state":"online","up":-1}', "out_of_range"),
    (b'{"state":"online","up":9007199254740992}', "out_of_range"),
    (b"", "bad_json"),
    (b"garbage", "bad_json"),
    (b'["online"]', "bad_json"),
    (b'{"state":"online","up":NaN}', "bad_json"),
    (b'{"state":"offline","pad":"' + b" " * 300 + b'"}', "too_large"),
])
def test_anything_else_on_the_status_topic_is_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as refused:
        protocol.parse_status(payload)
    assert refused.value.reason == reason
    assert refused.value.detail.isprintable()


# --- untrusted text in the log (issue 6, hole 3) ------------------------------------------------

FORGED = "x\n2026-11-30 12:00:00 CRITICAL gateway: forged\r\x1b[31m\u202e\x07\u2028\x85"


def _forged_messages() -> list[tuple[str, str, bytes]]:
    topic = protocol.device_topic(DEV, "alert")
    def signed(text: str) -> bytes:
        raw = text.encode()
        return raw[:-1] + b',"sig":"' + protocol.compute_sig(KEY, topic, raw).encode() + b'"}'
    body = json.dumps(_alert(seq=10**6), separators=(",", ":"))
    return [
        ("member name", topic, signed(body[:-1] + "," + json.dumps(FORGED) + ":1}")),
        ("repeated member name", topic, signed(body[:-1] + f",{json.dumps(FORGED)}:1,{json.dumps(FORGED)}:2}}")),
        ("topic", f"panic/v1/dev/{FORGED}/alert", b"{}"),
        ("topic of an unknown device", "panic/v1/dev/" + FORGED + "/hb", b"{}"),
        ("raw bytes in the body", topic, signed(body[:-1] + ',"\x1b\x07":1}')),
    ]


@pytest.mark.parametrize(("field", "topic", "payload"), _forged_messages(), ids=[f for f, _, _ in _forged_messages()])
def test_untrusted_text_never_forges_a_log_line(core: Any, caplog: pytest.LogCaptureFixture,
                                                field: str, topic: str, payload: bytes) -> None:
    caplog.set_level(logging.INFO)
    outcome = core.ingest.device_message(topic, payload, datetime.now(UTC))
    assert outcome.verdict == "rejected"
    assert caplog.records, "the rejection is logged"
    for record in caplog.records:
        line = record.getMessage()
        assert line.isprintable(), f"{field}: raw control or bidi character in {line!r}"
        assert "\n" not in line and "\r" not in line
    text = caplog.text  # as the handler writes it: one line per record
    assert text.count("\n") == len(caplog.records)
    assert "CRITICAL" not in {record.levelname for record in caplog.records}
    assert outcome.detail.isprintable(), "the detail also goes to dispatch in the rejection event"
