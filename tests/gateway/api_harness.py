"""The registry API in-process (FastAPI TestClient) on a real SQLite database and a real
broker (its dynamic-security accounts), with the gateway's own ingest beside it to check
that issued keys verify messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from broker.credentials import verifies
from gateway.acknowledge import Acknowledgements
from gateway.api.app import create_app
from gateway.ingest import Ingest, Outcome
from gateway.metrics import Metrics
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.storage.db import migrate, session_factory
from gateway.storage.store import Store, utcnow
from tests.conftest import BrokerUnderTest
from tests.gateway.broken_parts import FailingAccounts
from tests.gateway.scripted import sign

TOKENS = {"tech-token": "technician", "ops-token": "operator", "admin-token": "admin"}
OWNER: dict[str, Any] = {
    "name": "Warung Bu Sari", "phone": "+62 812 1111 2222",
    "emergency_contacts": [{"name": "Pak Joko", "phone": "+62 812 3333 4444"}],
    "premises": [{"kind": "shop", "address": "Jl. Kartini 5, Bandar Lampung", "lat": -5.4178901, "lon": 105.2545678}],
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    client: TestClient
    store: Store
    metrics: Metrics
    ingest: Ingest
    accounts: FailingAccounts  # the broker's accounts (dynamic security); told to fail when a test wants
    broker: BrokerUnderTest
    acknowledgements: Acknowledgements

    def create_owner(self) -> dict[str, Any]:
        response = self.client.post("/owners", json=OWNER, headers=auth("tech-token"))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def send_alert(self, device_id: str, key_hex: str, seq: int, now: datetime | None = None) -> Outcome:
        """A signed sos alert, judged by the gateway's ingest as if it arrived over MQTT."""
        topic = f"panic/v1/dev/{device_id}/alert"
        body = {"v": 1, "dev": device_id, "seq": seq, "type": "sos", "ts": 1795800000, "up": 1000 + seq,
                "loc": None, "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}
        return self.ingest.device_message(topic, sign(bytes.fromhex(key_hex), topic, body), now or utcnow())


def make_api(tmp_path: Path, broker: BrokerUnderTest, **settings: Any) -> Api:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    accounts = FailingAccounts(broker.config.accounts())
    migrate(url)
    store = Store(session_factory(create_engine(url)))
    config = Settings(api_tokens=TOKENS, **settings)
    metrics = Metrics()

    # The gateway's acknowledgement service; what it stages stays in the outbox (no publisher here).
    acknowledgements = Acknowledgements(store, lambda _staged: None, metrics)
    app = create_app(config, store, Registry(store.registry, accounts, config.key_grace_s), metrics,
                     acknowledge=acknowledgements.apply)
    return Api(TestClient(app, raise_server_exceptions=False), store, metrics,
               Ingest(store, metrics, max_payload_bytes=2048), accounts, broker, acknowledgements)


def broker_clients(api: Api) -> dict[str, dict[str, Any]]:
    """The broker's client accounts as its dynamic-security plugin stores them."""
    config = json.loads(api.broker.config.dynsec_file.read_text())
    return {client["username"]: client for client in config.get("clients", [])}


def broker_password_is(api: Api, user: str, password: str) -> bool:
    """Whether the broker's stored hash for `user` is the hash of `password`."""
    client = broker_clients(api).get(user)
    return client is not None and verifies(password, client)
