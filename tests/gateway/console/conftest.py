"""The console's API on the registry API harness (real SQLite, real broker accounts), and the same app
served by a real uvicorn for what needs a live connection (the server-sent events)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

from broker.run import free_port
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, make_api

SAMPLE = Path(__file__).parents[3] / "gateway" / "stations" / "sample_bandar_lampung.csv"


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker)


def register(api: Api, device_id: str = "pb-c0c0c0c0c0c1") -> dict[str, Any]:
    """An owner with premises and a device; returns the issued device (with its key)."""
    owner = api.create_owner()
    response = api.client.post("/devices", headers=auth("tech-token"), json={
        "device_id": device_id, "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]})
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


def import_sample_stations(api: Api) -> None:
    response = api.client.post("/stations/import", content=SAMPLE.read_text(),
                               headers={**auth("admin-token"), "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` on a real uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
