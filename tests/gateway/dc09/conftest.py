"""Fixtures for the DC-09 forwarder: pysiaalarm receivers and forwarders, cleaned up after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gateway.dc09 import Dc09Forwarder, ReceiverConfig
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
def forwarders(tmp_path: Path) -> Iterator[Callable[..., Dc09Forwarder]]:
    """Start forwarders on one queue file (tmp_path/dc09.sqlite3), as a gateway and its restarts would."""
    running: list[Dc09Forwarder] = []

    def start(configs: Sequence[ReceiverConfig], **kwargs: Any) -> Dc09Forwarder:
        forwarder = Dc09Forwarder(configs, tmp_path / "dc09.sqlite3", **kwargs)
        forwarder.start()
        running.append(forwarder)
        return forwarder

    yield start
    for forwarder in running:
        if forwarder.running:
            forwarder.stop()
