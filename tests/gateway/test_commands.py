"""Remote commands in the gateway: the API (in-process, real SQLite, real broker accounts), the outbox row
each command is staged as, its signed rendering, and the device results (protocol/vectors/commands.json).
End to end with the real firmware: tests/simulator/test_commands.py."""

from __future__ import annotations

import ast
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from gateway import protocol
from gateway.commands import Commands
from gateway.ingest import Ingest
from gateway.render import render
from gateway.storage.common import utcnow
from gateway.storage.models import OutboxEntry
from gateway.storage.outbox import OutboxItem
from tests.conftest import FIRMWARE, PROTOCOL, BrokerUnderTest
from tests.contract import assert_valid
from tests.gateway.api_harness import Api, auth, make_api
from tests.gateway.harness import make_core
from tests.gateway.harness import register as harness_register

VECTORS = json.loads((PROTOCOL / "vectors" / "commands.json").read_text())
TECH = auth("tech-token")


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker)


def register(api: Api, device_id: str = "pb-c0ffee000001", key_hex: str | None = None) -> str:
    """A registered device; returns its key (hex). `key_hex`: stored as is (for the vectors' device)."""
    owner = api.create_owner()
    if key_hex is not None:
        api.store.register_device(device_id, owner["id"], owner["premises"][0]["id"], key_hex)
        return key_hex
    response = api.client.post("/devices", headers=TECH, json={
        "device_id": device_id, "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]})
    assert response.status_code == 201, response.text
    key: str = response.json()["device_key"]
    return key


def staged(api: Api) -> list[OutboxItem]:
    with api.store.sessions() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "device_cmd")
                               .order_by(OutboxEntry.id)).all()
        return [OutboxItem(r.id, r.kind, r.topic, r.qos, r.body, r.alert_id, r.rev, r.device_id, r.attempts)
                for r in rows]


def post(api: Api, body: dict[str, Any], device_id: str = "pb-c0ffee000001", token: str = "tech-token") -> Any:
    return api.client.post(f"/devices/{device_id}/commands", headers=auth(token), json=body)


def signed_result(key_hex: str, device_id: str, **body: Any) -> tuple[str, bytes]:
    topic = f"panic/v1/dev/{device_id}/result"
    full = {"v": 1, "dev": device_id, "cseq": None, "cmd": None, "status": "ok", "reason": None, "ts": None,
            "up": 1000, **body}
    return topic, protocol.sign(bytes.fromhex(key_hex), topic, full)


@pytest.mark.parametrize("cmd", ["locate", "test", "identify", "reboot"])
def test_a_command_is_stored_staged_and_signed_with_the_device_key(api: Api, cmd: str) -> None:
    key = register(api)
    response = post(api, {"cmd": cmd})
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["cmd"], created["cseq"], created["status"], created["args"]) == (cmd, 1, "pending", {})
    assert created["requested_by"] == "technician" and created["result"] is None
    [item] = staged(api)
    [(topic, payload)] = render(item, api.store, {}) or []
    assert topic == "panic/v1/dev/pb-c0ffee000001/cmd"
    signed, sig = protocol.split_signed(payload)
    assert sig == protocol.compute_sig(bytes.fromhex(key), topic, signed)
    body = json.loads(payload)
    assert list(body) == ["v", "dev", "cseq", "cmd", "args", "ts", "exp", "sig"]  # the vectors' member order
    assert_valid("device-cmd.json", body)
    assert (body["cseq"], body["cmd"], body["args"]) == (1, cmd, {})
    assert body["exp"] - body["ts"] in range(295, 301)  # 300 s by default


def test_config_and_cseqs_increase_per_device(api: Api) -> None:
    register(api)
    register(api, "pb-c0ffee000002")
    seqs = [post(api, {"cmd": "config", "args": {"heartbeat_s": 60, "hold_ms": 1500}}).json()["cseq"]
            for _ in range(3)]
    other = post(api, {"cmd": "locate"}, "pb-c0ffee000002").json()["cseq"]
    assert seqs == [1, 2, 3] and other == 1
    listed = api.client.get("/devices/pb-c0ffee000001/commands", headers=TECH).json()
    assert [c["cseq"] for c in listed] == [3, 2, 1]
    assert listed[0]["args"] == {"heartbeat_s": 60, "hold_ms": 1500}
    assert len(staged(api)) == 4


@pytest.mark.parametrize(("body", "says"), [
    ({"cmd": "selfdestruct"}, "cmd"),
    ({"cmd": "LOCATE"}, "cmd"),
    ({"cmd": "locate", "args": {"now": 1}}, "locate takes no args"),
    ({"cmd": "config"}, "config needs at least one of heartbeat_s, hold_ms"),
    ({"cmd": "config", "args": {"wdt_ms": 5000}}, "config cannot change wdt_ms"),
    ({"cmd": "config", "args": {"heartbeat_s": 0}}, "heartbeat_s 0 is outside 1 to 86400"),
    ({"cmd": "config", "args": {"heartbeat_s": 86401}}, "heartbeat_s 86401 is outside 1 to 86400"),
    ({"cmd": "config", "args": {"hold_ms": 99}}, "hold_ms 99 is outside 100 to 30000"),
    ({"cmd": "config", "args": {"cancel_ms": 2999}}, "cancel_ms 2999 is outside 3000 to 60000"),
    ({"cmd": "config", "args": {"taps_ms": 10001}}, "taps_ms 10001 is outside 500 to 10000"),
    ({"cmd": "config", "args": {"cancel_window_s": -1}}, "cancel_window_s -1 is outside 0 to 3600"),
    ({"cmd": "config", "args": {"hold_ms": 5000, "cancel_ms": 5000}}, "cancel_ms 5000 must be above hold_ms 5000"),
    ({"cmd": "config", "args": {"heartbeat_s": 60.0}}, "args.heartbeat_s"),
    ({"cmd": "config", "args": {"heartbeat_s": True}}, "args.heartbeat_s"),
    ({"cmd": "config", "args": {"heartbeat_s": "60"}}, "args.heartbeat_s"),
    ({"cmd": "locate", "ttl_s": 5}, "ttl_s"),
    ({"cmd": "locate", "why": "x"}, "why"),
    ({}, "cmd"),
])
def test_bad_commands_are_refused_clearly_and_nothing_is_stored(api: Api, body: dict[str, Any], says: str) -> None:
    register(api)
    response = post(api, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(says in (e["msg"] + " " + ".".join(map(str, e["loc"]))) for e in detail), detail
    assert api.client.get("/devices/pb-c0ffee000001/commands", headers=TECH).json() == []
    assert staged(api) == []


def test_unknown_and_revoked_devices_and_roles(api: Api) -> None:
    register(api)
    assert post(api, {"cmd": "locate"}, "pb-0000000000ff").status_code == 404
    assert api.client.get("/devices/pb-0000000000ff/commands", headers=TECH).status_code == 404
    assert post(api, {"cmd": "locate"}, token="ops-token").status_code == 403
    assert api.client.post("/devices/pb-c0ffee000001/commands", json={"cmd": "locate"}).status_code == 401
    assert post(api, {"cmd": "locate"}, token="admin-token").status_code == 201
    assert api.client.delete("/devices/pb-c0ffee000001", headers=auth("admin-token")).status_code == 200
    response = post(api, {"cmd": "locate"})
    assert response.status_code == 409 and "revoked" in response.json()["detail"]
    assert len(staged(api)) == 1
    # the command staged before the revocation is not published: nobody to sign for
    assert render(staged(api)[0], api.store, {}) is None


def test_one_command_read_back_and_another_devices_is_404(api: Api) -> None:
    register(api)
    register(api, "pb-c0ffee000002")
    created = post(api, {"cmd": "identify"}).json()
    got = api.client.get(f"/devices/pb-c0ffee000001/commands/{created['id']}", headers=TECH)
    assert got.status_code == 200 and got.json() == created
    assert api.client.get(f"/devices/pb-c0ffee000002/commands/{created['id']}", headers=TECH).status_code == 404
    assert api.client.get("/devices/pb-c0ffee000001/commands/999", headers=TECH).status_code == 404


def test_confirmed_command_is_sent_then_answered_and_the_first_result_wins(api: Api) -> None:
    key = register(api)
    created = post(api, {"cmd": "locate"}).json()
    api.store.confirm(staged(api), utcnow(), None)  # the broker's PUBACK
    assert staged(api) == []
    assert api.store.command("pb-c0ffee000001", created["id"], utcnow()).status == "sent"
    commands = Commands(api.ingest, lambda _items: None)
    loc = {"lat": -5.4291234, "lon": 105.2612345, "acc": 6, "src": "gps", "age": 1}
    commands.on_result(*signed_result(key, "pb-c0ffee000001", cseq=1, cmd="locate", loc=loc))
    # the same command published again after a crash: the device answers replay; that changes nothing
    commands.on_result(*signed_result(key, "pb-c0ffee000001", cseq=1, cmd="locate", status="rejected",
                                      reason="replay"))
    done = api.client.get(f"/devices/pb-c0ffee000001/commands/{created['id']}", headers=TECH).json()
    assert (done["status"], done["reason"], done["result"]["loc"]) == ("ok", None, loc)
    assert done["answered_at"] is not None and done["sent_at"] is not None
    assert api.metrics.get("command_results_total", status="ok") == 1
    assert api.metrics.get("command_results_total", status="unmatched") == 1


def test_an_answer_before_the_pubacks_confirmation_stays_and_sent_at_is_recorded(api: Api) -> None:
    """The device can answer before the publisher's confirming transaction: that one must not undo it."""
    key = register(api)
    created = post(api, {"cmd": "identify"}).json()
    Commands(api.ingest, lambda _items: None).on_result(*signed_result(key, "pb-c0ffee000001", cseq=1,
                                                                       cmd="identify"))
    api.store.confirm(staged(api), utcnow(), None)
    done = api.store.command("pb-c0ffee000001", created["id"], utcnow())
    assert done.status == "ok" and done.sent_at is not None


def test_a_rejection_is_stored_with_its_reason(api: Api) -> None:
    key = register(api)
    created = post(api, {"cmd": "config", "args": {"heartbeat_s": 60}}).json()
    Commands(api.ingest, lambda _items: None).on_result(*signed_result(
        key, "pb-c0ffee000001", cseq=1, cmd="config", status="rejected", reason="failed"))
    done = api.store.command("pb-c0ffee000001", created["id"], utcnow())
    assert (done.status, done.reason) == ("rejected", "failed")


@pytest.mark.parametrize(("change", "reason"), [
    ({"sign_with": "00" * 32}, "bad_sig"),
    ({"topic": "panic/v1/dev/pb-c0ffee000002/result"}, "bad_sig"),  # the other device's topic
    ({"body": {"status": "ok", "reason": "replay"}}, "bad_field"),
    ({"body": {"status": "done"}}, "bad_field"),
    ({"body": {"extra": 1}}, "bad_field"),
    ({"body": {"cseq": 0}}, "out_of_range"),
    ({"body": {"seq": 5}}, "bad_field"),  # only a test result carries seq
    ({"body": {"dev": "pb-c0ffee000002"}}, "dev_mismatch"),
    ({"topic": "panic/v1/dev/pb-c0ffee000001/results"}, "bad_topic"),
    ({"unsigned": True}, "no_sig"),
])
def test_forged_or_malformed_results_change_nothing(api: Api, change: dict[str, Any], reason: str) -> None:
    key = register(api)
    register(api, "pb-c0ffee000002")
    created = post(api, {"cmd": "locate"}).json()
    topic, payload = signed_result(change.get("sign_with", key), "pb-c0ffee000001",
                                   **{"cseq": 1, "cmd": "locate", **change.get("body", {})})
    if change.get("unsigned"):
        payload = protocol.split_signed(payload)[0]
    Commands(api.ingest, lambda _items: None).on_result(change.get("topic", topic), payload)
    assert api.metrics.get("command_results_rejected_total", reason=reason) == 1
    assert api.store.command("pb-c0ffee000001", created["id"], utcnow()).status == "pending"


def test_a_command_nobody_answers_expires(api: Api) -> None:
    register(api)
    created = post(api, {"cmd": "reboot", "ttl_s": 10}).json()
    later = utcnow() + timedelta(seconds=11)
    assert api.store.command("pb-c0ffee000001", created["id"], utcnow()).status == "pending"
    assert api.store.command("pb-c0ffee000001", created["id"], later).status == "expired"


@pytest.mark.parametrize("vector", VECTORS["results"], ids=lambda v: v["name"])
def test_the_gateway_accepts_every_result_vector(api: Api, vector: dict[str, Any]) -> None:
    register(api, VECTORS["device"]["id"], VECTORS["device"]["key_hex"])
    envelope = protocol.open_result(vector["topic"], vector["payload"].encode(), 2048)
    Ingest(api.store, api.metrics, 2048).check_signature(
        envelope.device_id, lambda key: protocol.verify(envelope, vector["topic"], key), utcnow())
    body = protocol.parse_result(envelope.signed, envelope.device_id)
    assert body["cseq"] == vector["args"][0] and body["reason"] == vector["args"][2]


@pytest.mark.parametrize("vector", [v for v in VECTORS["vectors"] if v["reason"] is None], ids=lambda v: v["name"])
def test_valid_command_vectors_are_what_the_gateway_would_sign(vector: dict[str, Any]) -> None:
    """Same members, same order, same signature: the gateway's protocol.sign of the vector's body."""
    body = json.loads(vector["payload"])
    del body["sig"]
    key = bytes.fromhex(VECTORS["device"]["key_hex"])
    if body["dev"] == VECTORS["device"]["id"]:
        assert protocol.sign(key, vector["topic"], body).decode() == vector["payload"]


def test_config_bounds_are_the_firmwares() -> None:
    """What the API allows a config command to change equals firmware/panic/bounds.py's bounds."""
    tree = ast.parse((FIRMWARE / "panic" / "bounds.py").read_text())
    ints = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "_INTS")
    bounds = {row[0]: (row[2], row[3]) for row in ast.literal_eval(ints)}
    assert {name: bounds[name] for name in protocol.CONFIG_BOUNDS} == protocol.CONFIG_BOUNDS
    schema = json.loads((PROTOCOL / "schemas" / "device-cmd.json").read_text())
    config = schema["allOf"][0]["then"]["properties"]["args"]["properties"]
    assert {k: (v["minimum"], v["maximum"]) for k, v in config.items()} == protocol.CONFIG_BOUNDS


def test_two_instances_number_a_devices_commands_without_gaps_or_repeats(database_url: str) -> None:
    """Commands created at once through two gateway instances (separate engines) each get their own cseq."""
    first, second = make_core(create_engine(database_url)), make_core(create_engine(database_url))
    harness_register(first.store, "pb-c0ffee000003", "22" * 32)
    made: list[int] = []
    barrier = threading.Barrier(2)

    def run(core: Any) -> None:
        barrier.wait()
        for _ in range(15):
            made.append(core.store.create_command("pb-c0ffee000003", "locate", {}, "technician", utcnow(), 300)[0].cseq)

    threads = [threading.Thread(target=run, args=(core,)) for core in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made) == list(range(1, 31))
    assert [c.cseq for c in first.store.commands("pb-c0ffee000003", utcnow(), 100)] == list(range(30, 0, -1))
