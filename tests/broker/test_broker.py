"""The project's Mosquitto configuration and access rules, checked against a real broker."""

from __future__ import annotations

from tests.broker.peers import ACCEPTED, REFUSED, SUBACK_REFUSED, Peer, connack, received
from tests.conftest import BrokerUnderTest

DEV_A, DEV_B = "pb-aaaaaaaaaaaa", "pb-bbbbbbbbbbbb"


def test_anonymous_and_wrong_passwords_are_refused(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV_A, "right")
    assert connack(broker, DEV_A, "wrong") == REFUSED
    assert connack(broker, "", "") == REFUSED
    assert connack(broker, DEV_A, "right") == ACCEPTED


def test_a_device_publishes_only_under_its_own_id(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV_A, "a")
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.subscribe("panic/v1/dev/+/alert")
    device = Peer(broker, DEV_A, "a")
    device.publish(f"panic/v1/dev/{DEV_B}/alert")  # someone else's topic: dropped
    device.publish("panic/v1/dispatch/alerts")  # straight to dispatch: dropped
    device.publish(f"panic/v1/dev/{DEV_A}/alert")
    assert received(gateway) == [f"panic/v1/dev/{DEV_A}/alert"]
    device.close()
    gateway.close()


def test_a_device_reads_only_its_own_ack(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV_A, "a")
    device = Peer(broker, DEV_A, "a")
    assert device.subscribe("panic/v1/dev/+/ack") == SUBACK_REFUSED  # every device's acks
    assert device.subscribe("panic/v1/dispatch/#") == SUBACK_REFUSED
    assert device.subscribe(f"panic/v1/dev/{DEV_A}/ack") == 1
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.publish(f"panic/v1/dev/{DEV_B}/ack")
    gateway.publish("panic/v1/dispatch/alerts")
    gateway.publish(f"panic/v1/dev/{DEV_A}/ack")
    assert received(device) == [f"panic/v1/dev/{DEV_A}/ack"]
    device.close()
    gateway.close()


def test_a_device_cannot_join_the_gateways_shared_subscriptions(broker: BrokerUnderTest) -> None:
    """Issue 6, hole 1: a granted `$share` subscription the ACL cannot read swallowed alerts and acks."""
    broker.add_device(DEV_A, "a")
    broker.add_device(DEV_B, "b")
    shared = ["$share/gateway/panic/v1/dev/+/alert", "$share/gateway/panic/v1/dispatch/ack"]
    gateways = [Peer(broker, "gateway", broker.config.gateway_password) for _ in range(2)]
    for gateway in gateways:
        assert [gateway.subscribe(topic) for topic in shared] == [1, 1]
    thieves = [Peer(broker, DEV_A, "a") for _ in range(3)]  # one more turn each in the round-robin
    for thief in thieves:
        assert [thief.subscribe(topic) for topic in shared] == [SUBACK_REFUSED, SUBACK_REFUSED]

    victim = Peer(broker, DEV_B, "b")
    dispatch = Peer(broker, "dispatch", broker.config.dispatch_password)
    for n in range(12):
        victim.publish(f"panic/v1/dev/{DEV_B}/alert", b"alert %d" % n)
    for n in range(8):
        dispatch.publish("panic/v1/dispatch/ack", b"ack %d" % n)

    at_gateways = [topic for gateway in gateways for topic in received(gateway)]
    assert sorted(at_gateways) == sorted([f"panic/v1/dev/{DEV_B}/alert"] * 12 + ["panic/v1/dispatch/ack"] * 8)
    assert [received(thief, wait=0.1) for thief in thieves] == [[], [], []]
    for peer in [*gateways, *thieves, victim, dispatch]:
        peer.close()
