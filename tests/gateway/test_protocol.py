"""The gateway runs the shared protocol vectors (the firmware runs the same files)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
