"""Heartbeats come on the gateway's heartbeat connection only, also after an upgrade from a
gateway whose persistent session still subscribes its main connection to them."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.settings import Settings
from gateway.storage.db import migrate
from tests.conftest import BrokerUnderTest
from tests.gateway.inprocess import Button, running_bridge
from tests.gateway.test_heartbeat_flood import heartbeat


def leave_an_old_session(broker: BrokerUnderTest) -> None:
    """What a gateway from before the heartbeat connection left at the broker: its persistent
    session, subscribed to heartbeats on the main client id."""
    old = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=Settings().mqtt_client_id, clean_session=False)
    old.username_pw_set("gateway", broker.config.gateway_password)
    subscribed = threading.Event()
    old.on_subscribe = lambda *_: subscribed.set()
    old.connect(broker.host, broker.port)
    old.loop_start()
    old.subscribe("panic/v1/dev/+/hb", 0)
    assert subscribed.wait(10)
    old.disconnect()
    old.loop_stop()


def test_heartbeats_are_judged_once_after_an_upgrade(broker: BrokerUnderTest, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    leave_an_old_session(broker)
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    with caplog.at_level(logging.WARNING, logger="gateway"), running_bridge(broker, url) as bridge:
        button = Button(broker, bridge)
        try:
            for seq in (1, 2, 3):
                button.mqtt.publish(*heartbeat(button, seq), qos=0)
            deadline = time.monotonic() + 10
            while bridge.metrics.get("heartbeats_total") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # anything else they caused has happened
        finally:
            button.close()
        assert bridge.metrics.get("heartbeats_total") == 3
        assert bridge.metrics.get("rejected_total", reason="replay") == 0, "no heartbeat was judged twice"
    assert not [r for r in caplog.records if "status" in r.getMessage()], "no heartbeat taken for a status"


def test_losing_the_heartbeat_connection_leaves_the_alert_connection_up(broker: BrokerUnderTest,
                                                                         tmp_path: Path) -> None:
    """The heartbeat connection dropping says nothing about the alert connection: /health and the
    publisher read `connected`, which must follow the alert connection only."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    with running_bridge(broker, url) as bridge:
        sock = bridge.heartbeat_client.socket()
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)  # the heartbeat connection is cut; paho reconnects it
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (bridge.heartbeat_client.socket() is sock
                                               or not bridge.heartbeat_client.is_connected()):
            time.sleep(0.05)
        assert bridge.heartbeat_client.is_connected(), "the heartbeat connection came back"
        assert bridge.client.is_connected()
        assert bridge.connected.is_set(), "the alert connection is still up: health and publisher must say so"
