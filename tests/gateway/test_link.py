"""The gateway's MQTT connection."""

from __future__ import annotations

import socket
from pathlib import Path

from gateway.storage.db import migrate
from tests.conftest import BrokerUnderTest
from tests.gateway.inprocess import running_bridge


def test_small_packets_are_not_held_back_by_nagle(broker: BrokerUnderTest, tmp_path: Path) -> None:
    """Broker acks (worker) and alerts (publisher) are written by two threads; an alert written
    right after an ack must not wait for the broker's delayed TCP ACK (bench/end_to_end.py: ~45 ms)."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    with running_bridge(broker, url) as bridge:
        sock = bridge.client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
