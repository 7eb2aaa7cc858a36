"""Gateway test fixtures: the running stack and a scripted device speaking MQTT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.stack import MqttListener, Stack
from tests.gateway.scripted import ScriptedDevice, new_device_id


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path) as running:
        yield running


@pytest.fixture
def dispatch(stack: Stack) -> Iterator[MqttListener]:
    listener = stack.dispatch()
    yield listener
    listener.close()


@pytest.fixture
def device(stack: Stack) -> Iterator[ScriptedDevice]:
    scripted = ScriptedDevice(stack, new_device_id())
    yield scripted
    scripted.mqtt.close()


def _postgres_admin_url() -> str | None:
    import os

    return os.environ.get("PANIC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: SQLite always, PostgreSQL where one is reachable."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from gateway.storage.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
        migrate(url)
        yield url
        return
    admin_url = _postgres_admin_url()
    name = f"panic_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except (OperationalError, ModuleNotFoundError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {type(exc).__name__}")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
