"""Gateway test fixtures: the running stack and a scripted device speaking MQTT."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from gateway.storage.db import migrate
from simulator.scratch_db import scratch_postgres
from simulator.stack import Stack
from tests.gateway.scripted import ScriptedDevice, new_device_id


@pytest.fixture
def device(stack: Stack) -> Iterator[ScriptedDevice]:
    scripted = ScriptedDevice(stack, new_device_id())
    yield scripted
    scripted.mqtt.close()


POSTGRES_ADMIN_URL = os.environ.get("PANIC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards); skips the test if none is reachable."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_postgres(POSTGRES_ADMIN_URL, "panic_test"))
        except OperationalError as exc:
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: SQLite always, PostgreSQL where one is reachable."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
        migrate(url)
        yield url
        return
    for url in fresh_postgres():
        migrate(url)
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (the gateway migrates it itself)."""
    yield from fresh_postgres()
