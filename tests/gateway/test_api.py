"""The registry API in-process (FastAPI TestClient) on a real SQLite database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.credentials import verifies
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import OWNER, auth, make_api


@pytest.fixture
def client(tmp_path: Path, broker: BrokerUnderTest) -> TestClient:
    return make_api(tmp_path, broker).client


def create_owner(client: TestClient) -> dict[str, Any]:
    response = client.post("/owners", json=OWNER, headers=auth("tech-token"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_health_needs_no_token(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["database"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/alerts"), ("get", "/metrics"), ("post", "/owners"), ("post", "/devices"),
     ("post", "/devices/pb-000000000000/rotate"), ("delete", "/devices/pb-000000000000"), ("get", "/openapi.json")],
)
def test_every_other_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, headers=auth("wrong")).status_code == 401


def test_roles_are_enforced(client: TestClient) -> None:
    assert client.post("/owners", json=OWNER, headers=auth("ops-token")).status_code == 403
    assert client.get("/alerts", headers=auth("tech-token")).status_code == 403
    assert client.get("/alerts", headers=auth("admin-token")).status_code == 200


def test_register_device_returns_secrets_once(client: TestClient, broker: BrokerUnderTest) -> None:
    owner = create_owner(client)
    assert owner["premises"][0]["lat"] == -5.4178901  # exact through integer storage
    response = client.post("/devices", headers=auth("tech-token"), json={
        "device_id": "pb-a1b2c3d4e5f6", "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]})
    assert response.status_code == 201, response.text
    issued = response.json()
    assert len(issued["device_key"]) == 64 and issued["mqtt_username"] == "pb-a1b2c3d4e5f6"
    # the broker account exists, hashed; the plain password is nowhere on disk
    accounts = {c["username"]: c for c in json.loads(broker.config.dynsec_file.read_text())["clients"]}
    assert verifies(issued["mqtt_password"], accounts["pb-a1b2c3d4e5f6"])
    assert issued["mqtt_password"] not in broker.config.dynsec_file.read_text()
    read_back = client.get("/devices/pb-a1b2c3d4e5f6", headers=auth("tech-token")).json()
    assert issued["device_key"] not in str(read_back) and issued["mqtt_password"] not in str(read_back)
    assert read_back["key_fingerprint"] == issued["key_fingerprint"] and len(read_back["key_fingerprint"]) == 8
    again = client.post("/devices", headers=auth("tech-token"), json={
        "device_id": "pb-a1b2c3d4e5f6", "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]})
    # never heard from: a retry re-issues (tests/gateway/test_registration.py has the rules)
    assert again.status_code == 200 and again.json()["device_key"] != issued["device_key"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"device_id": "pb-XYZ"}, "device_id"),
        ({"device_id": "pb-A1B2C3D4E5F6"}, "device_id"),
        ({"premises_id": "nope"}, None),
    ],
)
def test_bad_device_registrations_are_refused_clearly(client: TestClient, change: dict[str, str],
                                                      field: str | None) -> None:
    owner = create_owner(client)
    body = {"device_id": "pb-0000000000aa", "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]}
    response = client.post("/devices", headers=auth("tech-token"), json={**body, **change})
    if field:  # fails the request schema
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == field
    else:  # well-formed, but not how the registry is
        assert response.status_code == 400
        assert "does not belong to owner" in response.json()["detail"]
    assert client.get("/devices/pb-0000000000aa", headers=auth("tech-token")).status_code == 404


@pytest.mark.parametrize(
    "premises",
    [
        {"kind": "castle", "address": "Jl. X 1"},
        {"kind": "shop", "address": "Jl. X 1", "lat": 91},
        {"kind": "shop", "address": "Jl. X 1", "lat": "-5.123456789"},  # more than 7 decimals
    ],
)
def test_bad_owner_requests_are_refused(client: TestClient, premises: dict[str, Any]) -> None:
    response = client.post("/owners", json={**OWNER, "premises": [premises]}, headers=auth("tech-token"))
    assert response.status_code == 422


def test_unknown_alert_is_404(client: TestClient) -> None:
    assert client.get("/alerts/pb-000000000000:1", headers=auth("ops-token")).status_code == 404
