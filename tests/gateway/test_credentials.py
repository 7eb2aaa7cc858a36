"""Hole 6: rotating and revoking a device's credentials.

Rotation issues a new key and broker password once; the old key keeps
verifying for PANIC_KEY_GRACE_S so what the button signed before it was
re-provisioned is not lost. Revocation refuses the device's messages with
reason `revoked` at once on this instance and removes its broker account.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from gateway.ingest import Ingest
from gateway.metrics import Metrics
from gateway.storage.db import session_factory
from gateway.storage.registry import RegistryStore
from gateway.storage.store import Store, utcnow
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, broker_clients, broker_password_is, make_api
from tests.gateway.broken_parts import fail_once

DEVICE = "pb-0a1b2c3d4e5f"
GRACE_S = 3600.0


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker, key_grace_s=GRACE_S)


@pytest.fixture
def issued(api: Api) -> dict[str, Any]:
    owner = api.create_owner()
    response = api.client.post("/devices", headers=auth("tech-token"), json={
        "device_id": DEVICE, "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def rotate(api: Api, token: str = "tech-token") -> Any:
    return api.client.post(f"/devices/{DEVICE}/rotate", headers=auth(token))


def revoke(api: Api, token: str = "admin-token") -> Any:
    return api.client.delete(f"/devices/{DEVICE}", headers=auth(token))


def test_rotation_issues_new_credentials_and_the_old_key_verifies_through_the_grace_period(
        api: Api, issued: dict[str, Any]) -> None:
    assert api.send_alert(DEVICE, issued["device_key"], 1).verdict == "new"  # cached as the current key
    response = rotate(api)
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["device_key"] != issued["device_key"] and rotated["key_fingerprint"] != issued["key_fingerprint"]
    assert broker_password_is(api, DEVICE, rotated["mqtt_password"])
    assert not broker_password_is(api, DEVICE, issued["mqtt_password"])

    # the new key verifies at once (this instance's key cache was cleared) ...
    assert api.send_alert(DEVICE, rotated["device_key"], 2).verdict == "new"
    # ... and what the button signed before it was re-provisioned still does
    assert api.send_alert(DEVICE, issued["device_key"], 3).verdict == "new"
    assert api.metrics.get("verified_total", key="previous") == 1
    assert api.metrics.get("verified_total", key="current") == 2

    read_back = api.client.get(f"/devices/{DEVICE}", headers=auth("ops-token")).json()
    assert read_back["key_fingerprint"] == rotated["key_fingerprint"] and read_back["previous_key_until"]
    assert rotated["device_key"] not in str(read_back) and rotated["mqtt_password"] not in str(read_back)

    after_grace = utcnow() + timedelta(seconds=GRACE_S + 1)
    assert api.send_alert(DEVICE, issued["device_key"], 4, after_grace).reason == "bad_sig"
    assert api.send_alert(DEVICE, rotated["device_key"], 5, after_grace).verdict == "new"


def test_rotation_needs_a_technician_and_a_device_that_is_active(api: Api, issued: dict[str, Any]) -> None:
    assert rotate(api, "ops-token").status_code == 403
    assert api.client.post("/devices/pb-ffffffffffff/rotate", headers=auth("tech-token")).status_code == 404
    assert revoke(api).status_code == 200
    refused = rotate(api)
    assert refused.status_code == 409 and "revoked" in refused.json()["detail"]


@pytest.mark.parametrize("step", ["broker_unreachable", "broker_answer_lost", "database"])
def test_an_interrupted_rotation_completes_on_retry(api: Api,
                                                    issued: dict[str, Any], step: str) -> None:
    if step == "database":
        fail_once(api.store.registry, "rotate_key")
    else:
        api.accounts.fail_next("set", "before" if step == "broker_unreachable" else "after")
    failed = rotate(api)
    assert failed.status_code == 503 and "retry" in failed.json()["detail"]
    # nothing changed in the database: the issued key is still the current one
    assert api.send_alert(DEVICE, issued["device_key"], 1).verdict == "new"
    assert api.metrics.get("verified_total", key="current") == 1

    rotated = rotate(api).json()
    assert api.send_alert(DEVICE, rotated["device_key"], 2).verdict == "new"
    assert broker_password_is(api, DEVICE, rotated["mqtt_password"])


def test_revocation_refuses_the_device_at_once_and_removes_its_broker_account(
        api: Api, issued: dict[str, Any]) -> None:
    assert api.send_alert(DEVICE, issued["device_key"], 1).verdict == "new"  # its key is cached now
    assert revoke(api, "tech-token").status_code == 403
    response = revoke(api)
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert DEVICE not in broker_clients(api)
    refused = api.send_alert(DEVICE, issued["device_key"], 2)
    assert (refused.verdict, refused.reason) == ("rejected", "revoked")
    assert api.metrics.get("rejected_total", reason="revoked") == 1
    assert revoke(api).status_code == 200  # idempotent
    assert api.client.delete("/devices/pb-ffffffffffff", headers=auth("admin-token")).status_code == 404


def test_revocation_also_ends_the_grace_of_a_rotated_key(api: Api, issued: dict[str, Any]) -> None:
    rotated = rotate(api).json()
    revoke(api)
    for key in (issued["device_key"], rotated["device_key"]):
        assert api.send_alert(DEVICE, key, 1).reason == "revoked"


def test_a_revocation_the_broker_missed_completes_on_retry(api: Api,
                                                           issued: dict[str, Any]) -> None:
    api.accounts.fail_next("remove", "before")
    failed = revoke(api)
    assert failed.status_code == 503 and "retry" in failed.json()["detail"]
    assert api.send_alert(DEVICE, issued["device_key"], 1).reason == "revoked"  # refused already
    assert DEVICE in broker_clients(api)
    assert revoke(api).status_code == 200
    assert DEVICE not in broker_clients(api)


def test_another_instance_stops_verifying_within_the_key_cache_time(tmp_path: Path, api: Api,
                                                                   issued: dict[str, Any]) -> None:
    """Revoked through this instance; another gateway on the same database has the key cached."""
    clock = [1000.0]
    other = Store(session_factory(create_engine(f"sqlite:///{tmp_path / 'api.db'}")))
    other.registry = RegistryStore(other.sessions, clock=lambda: clock[0])
    metrics = Metrics()
    other_api = replace(api, store=other, metrics=metrics, ingest=Ingest(other, metrics, max_payload_bytes=2048))
    assert other_api.send_alert(DEVICE, issued["device_key"], 1).verdict == "new"
    revoke(api)
    clock[0] += other.registry.key_cache_s - 1
    assert other_api.send_alert(DEVICE, issued["device_key"], 2).verdict == "new"  # still cached: the bound
    clock[0] += 1
    assert other_api.send_alert(DEVICE, issued["device_key"], 3).reason == "revoked"


def test_console_proof_is_the_hmac_a_unit_wants_and_only_for_technicians_and_active_devices(
        api: Api, issued: dict[str, Any]) -> None:
    """protocol/console.md: auth = HMAC(current key, "console\\n<id> <nonce> <op>"); the key never leaves."""
    import hashlib
    import hmac
    import json

    vector = json.loads((Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "console.json")
                        .read_text())["auth"]
    nonce = vector["nonce"]
    body = {"nonce": nonce, "op": "set_secrets"}
    answer = api.client.post(f"/devices/{DEVICE}/console-proof", json=body, headers=auth("tech-token"))
    assert answer.status_code == 200 and set(answer.json()) == {"auth"}
    want = hmac.new(bytes.fromhex(issued["device_key"]), f"console\n{DEVICE} {nonce} set_secrets".encode(),
                    hashlib.sha256).hexdigest()
    assert answer.json()["auth"] == want
    assert api.client.post(f"/devices/{DEVICE}/console-proof", json={**body, "op": "alert"},
                           headers=auth("tech-token")).status_code == 422
    assert api.client.post(f"/devices/{DEVICE}/console-proof", json={**body, "nonce": "xyz"},
                           headers=auth("tech-token")).status_code == 422
    assert api.client.post(f"/devices/{DEVICE}/console-proof", json=body, headers=auth("ops-token")).status_code == 403
    assert api.client.post("/devices/pb-ffffffffffff/console-proof", json=body,
                           headers=auth("tech-token")).status_code == 404
    assert revoke(api).status_code == 200
    assert api.client.post(f"/devices/{DEVICE}/console-proof", json=body,
                           headers=auth("tech-token")).status_code == 409


def _proof(key_hex: str, nonce: str) -> str:
    import hashlib
    import hmac

    message = f"console\n{DEVICE} {nonce} set_secrets".encode()
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha256).hexdigest()


def console_rekey(api: Api, fingerprint: str, nonce: str = "ab" * 16, token: str = "tech-token") -> Any:
    return api.client.post(f"/devices/{DEVICE}/console-rekey", headers=auth(token),
                           json={"nonce": nonce, "key_fingerprint": fingerprint})


def test_console_rekey_issues_new_credentials_with_the_proof_of_the_key_the_unit_holds(
        api: Api, issued: dict[str, Any]) -> None:
    answer = console_rekey(api, issued["key_fingerprint"])
    assert answer.status_code == 200, answer.text
    rekeyed = answer.json()
    assert rekeyed["device_key"] != issued["device_key"] and rekeyed["key_fingerprint"] != issued["key_fingerprint"]
    assert rekeyed["auth"] == _proof(issued["device_key"], "ab" * 16)  # the unit checks it with the key it holds
    assert broker_password_is(api, DEVICE, rekeyed["mqtt_password"])
    assert api.send_alert(DEVICE, rekeyed["device_key"], 1).verdict == "new"
    assert api.send_alert(DEVICE, issued["device_key"], 2).verdict == "new"  # its outbox, signed before: grace
    ended = api.client.delete(f"/devices/{DEVICE}/previous-key", headers=auth("tech-token"))
    assert ended.status_code == 200, ended.text
    assert api.send_alert(DEVICE, issued["device_key"], 3).reason == "bad_sig"  # the old key: no longer accepted
    assert api.send_alert(DEVICE, rekeyed["device_key"], 4).verdict == "new"
    assert api.client.delete(f"/devices/{DEVICE}/previous-key", headers=auth("tech-token")).status_code == 200


def test_a_console_rekey_cut_before_the_unit_stored_the_key_completes_when_run_again(
        api: Api, issued: dict[str, Any]) -> None:
    lost = console_rekey(api, issued["key_fingerprint"]).json()  # the answer was lost with the cable
    # the unit still holds the registered key: running it again proves with that key and issues anew
    again = console_rekey(api, issued["key_fingerprint"], nonce="cd" * 16)
    assert again.status_code == 200, again.text
    rekeyed = again.json()
    assert rekeyed["auth"] == _proof(issued["device_key"], "cd" * 16)
    assert rekeyed["device_key"] not in (lost["device_key"], issued["device_key"])
    assert broker_password_is(api, DEVICE, rekeyed["mqtt_password"])
    assert api.send_alert(DEVICE, rekeyed["device_key"], 1).verdict == "new"
    assert api.send_alert(DEVICE, issued["device_key"], 2).verdict == "new"  # still the previous key (grace)
    assert api.send_alert(DEVICE, lost["device_key"], 3).reason == "bad_sig"  # never stored anywhere: void


def test_console_rekey_refuses_a_key_it_did_not_issue_and_needs_a_technician(
        api: Api, issued: dict[str, Any]) -> None:
    elsewhere = console_rekey(api, "00000000")
    assert elsewhere.status_code == 409 and "registered elsewhere" in elsewhere.json()["detail"]
    assert console_rekey(api, issued["key_fingerprint"], token="ops-token").status_code == 403
    assert console_rekey(api, issued["key_fingerprint"], nonce="xyz").status_code == 422
    assert api.send_alert(DEVICE, issued["device_key"], 1).verdict == "new"  # nothing changed
    assert api.client.delete(f"/devices/{DEVICE}/previous-key", headers=auth("ops-token")).status_code == 403
    assert revoke(api).status_code == 200
    assert console_rekey(api, issued["key_fingerprint"]).status_code == 409
