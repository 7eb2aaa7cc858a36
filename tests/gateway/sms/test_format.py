"""The gateway's SMS format and checks against protocol/vectors/sms.json, and the PDU codec against
known PDUs (3GPP TS 23.040 examples), on a real store (SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine

from gateway.protocol import Rejected
from gateway.sms import format as smsformat
from gateway.sms import pdu
from gateway.sms.ingress import verify
from gateway.storage.sms import SmsStore
from gateway.storage.store import Candidate
from tests.conftest import PROTOCOL
from tests.contract import assert_valid
from tests.gateway.harness import Core, make_core, register

VECTORS: dict[str, Any] = json.loads((PROTOCOL / "vectors" / "sms.json").read_text())
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SIM = "+6281200000002"


@pytest.fixture
def core(database_url: str) -> Core:
    """A migrated database (SQLite, and PostgreSQL where reachable) with devices A and B registered."""
    core = make_core(create_engine(database_url))
    register(core.store, VECTORS["device"]["id"], VECTORS["device"]["key_hex"])
    register(core.store, VECTORS["other_device"]["id"], VECTORS["other_device"]["key_hex"])
    core.store.registry.set_sim_number(VECTORS["device"]["id"], SIM)  # the vectors' texts come from its SIM
    return core


def judge(core: Core, text: str, sender: str = SIM) -> tuple[str, str | None, dict[str, Any] | None]:
    """(verdict, reason, stored body) of one SMS text, through the gateway's checks and commit path."""
    try:
        verified: Candidate | Rejected = verify(pdu.Delivered(sender, text, "gsm7", False, ""), core.ingest,
                                                SmsStore(core.store.sessions), NOW)
    except Rejected as rejected:
        verified = rejected
    outcomes, _ = core.ingest.judge_verified([verified], ["test"], NOW, lambda _o: [])
    outcome = outcomes[0]
    return outcome.verdict, outcome.reason, outcome.alert.body if outcome.alert else None


def test_valid_alerts_are_accepted_as_the_body_they_stand_for(core: Core) -> None:
    for v in VECTORS["alerts"]:
        assert len(v["text"]) <= 160
        verdict, reason, body = judge(core, v["text"])
        assert (verdict, reason) == ("new", None), v["name"]
        assert body == v["body"], v["name"]
        assert_valid("device-alert.json", {**v["body"], "sig": "0" * 64})  # what an MQTT alert could carry


def test_rejected_alerts_fail_with_their_reason_in_order(core: Core) -> None:
    for v in VECTORS["alerts"]:
        judge(core, v["text"])  # the valid ones first, as the file's seqs assume
    for v in VECTORS["rejected_alerts"]:
        assert judge(core, v["text"])[:2] == ("rejected", v["reason"]), (v["name"], v["note"])
    assert judge(core, VECTORS["alerts"][0]["text"])[:2] == ("duplicate", None), "the next valid one still works"


def test_gateway_writes_the_ack_vectors() -> None:
    key = bytes.fromhex(VECTORS["device"]["key_hex"])
    for v in VECTORS["acks"]:
        a = v["args"]
        assert smsformat.ack_text(key, a["dev"], a["ref"], a["state"], a["ts"]) == v["text"], v["name"]


def test_operator_text_from_an_unknown_number_is_unknown_number_and_from_the_sim_bad_sms(core: Core) -> None:
    assert judge(core, "Sisa pulsa Anda Rp 1.000", "+628999")[:2] == ("rejected", "unknown_number")
    assert judge(core, "Sisa pulsa Anda Rp 1.000", SIM)[:2] == ("rejected", "bad_sms")


def test_known_pdus_decode_and_encode() -> None:
    # The SMS-DELIVER and SMS-SUBMIT "hellohello" examples used by GSM 03.40 tutorials.
    delivered = pdu.decode_deliver("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
    assert (delivered.sender, delivered.text, delivered.alphabet, delivered.multipart) == (
        "27838890001", "hellohello", "gsm7", False)
    assert pdu.encode_submit("+46708251358", "hellohello") == ("0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 23)


@pytest.mark.parametrize("text", ["PB1 A [x] € ^{}", "a" * 160, ""])
def test_pdu_round_trips(text: str) -> None:
    assert pdu.decode_submit(pdu.encode_submit("+6281", text)[0]) == pdu.Submitted("+6281", text, "gsm7")
    delivered = pdu.decode_deliver(pdu.encode_deliver("+6281", text, concat=(1, 2, 1)))
    assert (delivered.text, delivered.multipart) == (text, True)


def test_pdu_garbage_is_a_clear_error() -> None:
    for garbage in ("", "zz", "0004", "00040B91261802"):
        with pytest.raises(pdu.PduError):
            pdu.decode_deliver(garbage)
    with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
        pdu.encode_submit("+6281", "\u4f60")
    with pytest.raises(ValueError, match="more than one SMS"):
        pdu.encode_submit("+6281", "a" * 161)


def test_raw_sms_is_kept_once_until_done(core: Core) -> None:
    """The inbox: the same PDU read twice (slot not yet deleted) is one row; pending until marked done."""
    inbox = SmsStore(core.store.sessions)
    hex_pdu = pdu.encode_deliver(SIM, VECTORS["alerts"][0]["text"])
    first = inbox.keep(hex_pdu, NOW)
    assert inbox.keep(hex_pdu.lower(), NOW) == first and not first.done
    assert inbox.pending() == [first]
    inbox.done(first.id, SIM, "new", NOW)
    assert inbox.keep(hex_pdu, NOW).done and inbox.pending() == []
    assert inbox.outcomes() == [("done", SIM, "new")]
