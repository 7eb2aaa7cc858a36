"""The project's Mosquitto configuration, checked against a real broker."""

from __future__ import annotations

import queue
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from broker.credentials import PasswordFile, hash_password
from tests.conftest import BrokerUnderTest

DEV_A, DEV_B = "pb-aaaaaaaaaaaa", "pb-bbbbbbbbbbbb"
# paho reports MQTT 3.1.1 CONNACK codes as MQTT 5 reason names (return code 5 -> "Not authorized")
ACCEPTED, REFUSED = "Success", "Not authorized"


class Peer:
    def __init__(self, broker: BrokerUnderTest, user: str, password: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[str] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}")
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.getName())
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.rc = self.connack.get(timeout=10)

    def subscribe(self, topic: str) -> None:
        done: queue.Queue[bool] = queue.Queue()
        self.client.on_subscribe = lambda *_a: done.put(True)
        self.client.subscribe(topic, qos=1)
        done.get(timeout=10)

    def publish(self, topic: str, payload: bytes = b"x") -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connack_after_reload(broker: BrokerUnderTest, user: str, password: str, until: str) -> str:
    """Connect until the broker answers `until` (the reload is asynchronous) or 5 s pass."""
    deadline = time.monotonic() + 5
    while True:
        peer = Peer(broker, user, password)
        peer.close()
        if peer.rc == until or time.monotonic() > deadline:
            return peer.rc
        time.sleep(0.1)


def received(peer: Peer, wait: float = 0.7) -> list[str]:
    topics = []
    deadline = time.monotonic() + wait
    while True:
        try:
            topics.append(peer.messages.get(timeout=max(0.0, deadline - time.monotonic()))[0])
        except queue.Empty:
            return topics


def test_hash_matches_mosquitto_passwd_format() -> None:
    hashed = hash_password("secret", salt=bytes(12))
    assert hashed.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(hashed.split("$")[-1]) == 88


def test_anonymous_and_wrong_passwords_are_refused(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV_A, "right")
    assert Peer(broker, DEV_A, "wrong").rc == REFUSED
    assert Peer(broker, "", "").rc == REFUSED
    ok = Peer(broker, DEV_A, "right")
    assert ok.rc == ACCEPTED
    ok.close()


def test_a_device_publishes_only_under_its_own_id(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV_A, "a")
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.subscribe("panic/v1/dev/+/alert")
    device = Peer(broker, DEV_A, "a")
    device.publish(f"panic/v1/dev/{DEV_B}/alert")  # someone else's topic: dropped by the ACL
    device.publish("panic/v1/dispatch/alerts")  # straight to dispatch: dropped
    device.publish(f"panic/v1/dev/{DEV_A}/alert")
    assert received(gateway) == [f"panic/v1/dev/{DEV_A}/alert"]
    device.close()
    gateway.close()


def test_a_device_reads_only_its_own_ack(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV_A, "a")
    device = Peer(broker, DEV_A, "a")
    device.subscribe("panic/v1/dev/+/ack")  # asks for every device's acks
    device.subscribe("panic/v1/dispatch/#")
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.publish(f"panic/v1/dev/{DEV_B}/ack")
    gateway.publish("panic/v1/dispatch/alerts")
    gateway.publish(f"panic/v1/dev/{DEV_A}/ack")
    assert received(device) == [f"panic/v1/dev/{DEV_A}/ack"]
    device.close()
    gateway.close()


def test_dispatch_reads_alerts_and_sends_acks_but_cannot_impersonate_devices(broker: BrokerUnderTest) -> None:
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.subscribe("panic/v1/dev/+/alert")
    gateway.subscribe("panic/v1/dispatch/ack")
    dispatch = Peer(broker, "dispatch", broker.config.dispatch_password)
    dispatch.publish(f"panic/v1/dev/{DEV_A}/alert")
    dispatch.publish("panic/v1/dispatch/ack")
    assert received(gateway) == ["panic/v1/dispatch/ack"]
    dispatch.close()
    gateway.close()


def test_credentials_issued_while_running_take_effect_and_can_be_revoked(broker: BrokerUnderTest) -> None:
    passwords = PasswordFile(broker.config.password_file, broker.config.pid_file)
    assert Peer(broker, DEV_B, "new").rc == REFUSED
    passwords.set(DEV_B, "new")  # SIGHUP makes mosquitto re-read the file
    assert connack_after_reload(broker, DEV_B, "new", until=ACCEPTED) == ACCEPTED
    passwords.remove(DEV_B)
    assert connack_after_reload(broker, DEV_B, "new", until=REFUSED) == REFUSED
    assert "new" not in broker.config.password_file.read_text()


def test_usernames_that_would_corrupt_the_password_file_are_refused(broker: BrokerUnderTest) -> None:
    with pytest.raises(ValueError):
        broker.config.passwords().set("evil:user", "x")
    with pytest.raises(ValueError):
        broker.config.passwords().set("evil\nuser", "x")
