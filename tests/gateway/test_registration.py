"""Hole 5: registration is atomic and retry-safe.

A registration interrupted at any step (broker account, database, the
answer on its way back) completes on retry, and the credentials of the
answer that arrives are the ones that work: the key verifies messages and
the broker holds the password. No key is ever stranded behind a 409.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, broker_password_is, make_api
from tests.gateway.broken_parts import fail_once

DEVICE = "pb-a1b2c3d4e5f6"


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker)


def registration(api: Api, owner: dict[str, Any], premises_index: int = 0) -> dict[str, str]:
    return {"device_id": DEVICE, "owner_id": owner["id"], "premises_id": owner["premises"][premises_index]["id"]}


def register(api: Api, body: dict[str, str]) -> Any:
    return api.client.post("/devices", json=body, headers=auth("tech-token"))


def assert_works(api: Api, issued: dict[str, Any], seq: int) -> None:
    """The issued key verifies a message and the broker account has the issued password."""
    assert api.send_alert(DEVICE, issued["device_key"], seq).verdict == "new"
    assert broker_password_is(api, DEVICE, issued["mqtt_password"])


@pytest.mark.parametrize("step", ["broker_unreachable", "broker_answer_lost", "database", "api_answer_lost"])
def test_an_interrupted_registration_completes_on_retry(api: Api,
                                                        step: str) -> None:
    body = registration(api, api.create_owner())
    if step == "broker_unreachable":
        api.accounts.fail_next("set", "before")
    elif step == "broker_answer_lost":
        api.accounts.fail_next("set", "after")
    elif step == "database":
        fail_once(api.store.registry, "register_device")
    first = register(api, body)
    if step == "api_answer_lost":
        assert first.status_code == 201  # ... and the technician never saw it
        lost = first.json()
    else:
        assert first.status_code == 503, first.text
        assert "retry" in first.json()["detail"]
        lost = None

    retry = register(api, body)
    assert retry.status_code == (200 if lost else 201), retry.text
    issued = retry.json()
    assert_works(api, issued, seq=1)
    if lost:  # the answer that never arrived is void: its key and password no longer work
        assert lost["device_key"] != issued["device_key"]
        assert api.send_alert(DEVICE, lost["device_key"], 2).reason == "bad_sig"
        assert not broker_password_is(api, DEVICE, lost["mqtt_password"])


def test_a_registration_refused_by_the_broker_leaves_nothing_behind(api: Api) -> None:
    api.accounts.fail_next("set", "before")
    assert register(api, registration(api, api.create_owner())).status_code == 503
    assert api.client.get(f"/devices/{DEVICE}", headers=auth("tech-token")).status_code == 404


def test_another_owner_or_premises_is_a_conflict_and_changes_nothing(api: Api) -> None:
    owner = api.create_owner()
    first = register(api, registration(api, owner)).json()
    extra = api.client.post(f"/owners/{owner['id']}/premises", headers=auth("tech-token"),
                            json={"kind": "home", "address": "Jl. Lain 2"}).json()
    other_owner = api.create_owner()
    for body in ({**registration(api, owner), "premises_id": extra["id"]}, registration(api, other_owner)):
        refused = register(api, body)
        assert refused.status_code == 409
        assert "registered to another owner or premises" in refused.json()["detail"]
    assert_works(api, first, seq=1)  # the first credentials still hold


def test_a_device_already_heard_from_must_be_rotated(api: Api) -> None:
    body = registration(api, api.create_owner())
    issued = register(api, body).json()
    assert api.send_alert(DEVICE, issued["device_key"], 1).verdict == "new"  # in use now
    refused = register(api, body)
    assert refused.status_code == 409
    assert f"POST /devices/{DEVICE}/rotate" in refused.json()["detail"]
    assert_works(api, issued, seq=2)  # nothing changed for the device in use


def test_a_revoked_device_id_is_not_registered_again(api: Api) -> None:
    body = registration(api, api.create_owner())
    register(api, body)
    assert api.client.delete(f"/devices/{DEVICE}", headers=auth("admin-token")).status_code == 200
    refused = register(api, body)
    assert refused.status_code == 409 and "revoked" in refused.json()["detail"]


def test_no_secret_in_an_error_or_the_log(api: Api,
                                          caplog: pytest.LogCaptureFixture) -> None:
    body = registration(api, api.create_owner())
    api.accounts.fail_next("set", "after")
    failed = register(api, body)
    issued = register(api, body).json()
    for secret in (issued["device_key"], issued["mqtt_password"]):
        assert secret not in failed.text and secret not in caplog.text
