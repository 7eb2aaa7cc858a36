"""The MQTT adapter itself: its connection, its rejection throttle."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway import bridge as bridge_module
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


def test_the_rejection_throttle_forgets_senders_it_no_longer_needs(broker: BrokerUnderTest, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Forged messages under ever new device ids must not grow the throttle without end."""
    monkeypatch.setattr(bridge_module, "THROTTLE_KEYS_MAX", 3)
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)

    def stranger(number: int) -> mqtt.MQTTMessage:
        message = mqtt.MQTTMessage(topic=f"panic/v1/dev/pb-{number:012x}/alert".encode())
        message.payload = b'{"v":1,"sig":"' + b"0" * 64 + b'"}'
        return message

    with running_bridge(broker, url, rejection_event_interval_s=0.3) as bridge:
        for number in range(4):
            bridge._device_messages([stranger(number)])
        assert len(bridge._last_event) == 4  # all reported within the interval: all still needed
        time.sleep(0.4)
        bridge._device_messages([stranger(99)])
        assert list(bridge._last_event) == [(f"pb-{99:012x}", "unknown_device")]
