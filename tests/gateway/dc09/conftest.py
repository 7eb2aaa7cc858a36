"""Fixtures for the DC-09 forwarder: pysiaalarm receivers and forwarders, cleaned up after each test.

The forwarders keep their messages in a gateway database (migrated like the
gateway's, tmp_path/gateway.db): one database for a gateway and its restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from gateway.dc09 import Dc09Forwarder, ReceiverConfig
from gateway.dc09.queue import Dc09Queue
from gateway.storage.db import migrate, session_factory
from tests.gateway.dc09.harness import PysiaReceiver


@pytest.fixture
def receivers() -> Iterator[Callable[..., PysiaReceiver]]:
    started: list[PysiaReceiver] = []

    def start(accounts: list[str], **kwargs: Any) -> PysiaReceiver:
        receiver = PysiaReceiver(accounts, **kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.kill()


@pytest.fixture
def gateway_db(tmp_path: Path) -> str:
    """A migrated SQLite gateway database (tmp_path/gateway.db) the forwarders share."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    return url


@pytest.fixture
def forwarders(gateway_db: str) -> Iterator[Callable[..., Dc09Forwarder]]:
    """Start forwarders on one gateway database, as a gateway and its restarts would (same instance name)."""
    running: list[Dc09Forwarder] = []
    sessions = session_factory(create_engine(gateway_db))

    def start(configs: Sequence[ReceiverConfig], instance: str = "panic-gateway-1", **kwargs: Any) -> Dc09Forwarder:
        forwarder = Dc09Forwarder(configs, Dc09Queue(sessions, instance, lease_s=30.0), poll_s=0.2, **kwargs)
        forwarder.start()
        running.append(forwarder)
        return forwarder

    yield start
    for forwarder in running:
        if forwarder.running:
            forwarder.stop()
