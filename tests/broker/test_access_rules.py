"""Every account gets exactly its topics (issue 6, hole 7): the rest is refused by the real broker.

Before, `pattern write panic/v1/dev/%u/#` in the ACL file applied to every
user, so `dispatch` could publish `panic/v1/dev/dispatch/alert` and `gateway`
`panic/v1/dev/gateway/status`, delivered and retained.
"""

from __future__ import annotations

import json

import pytest

from broker import policy
from tests.broker.peers import ACCEPTED, REFUSED, SUBACK_REFUSED, Peer, connack, received
from tests.conftest import BrokerUnderTest

DEV, OTHER = "pb-dddddddddddd", "pb-000000000000"


def dev(device: str, leaf: str) -> str:
    return f"panic/v1/dev/{device}/{leaf}"


FORBIDDEN_PUBLISH = {
    "gateway": ["panic/v1/dev/gateway/status", "panic/v1/dev/gateway/alert", dev(DEV, "alert"), dev(DEV, "hb"),
                dev(DEV, "status"), dev(DEV, "result"), "panic/v1/dispatch/ack", "panic/v1/dispatch/receipt"],
    "dispatch": ["panic/v1/dev/dispatch/alert", "panic/v1/dev/dispatch/status", dev(DEV, "alert"),
                 dev(DEV, "ack"), dev(DEV, "cmd"), dev(DEV, "result"), "panic/v1/dispatch/alerts",
                 "panic/v1/dispatch/events",
                 "panic/v1/dispatch/stations/s-1/alerts"],
    DEV: [dev(OTHER, "alert"), dev(OTHER, "status"), dev(OTHER, "result"), dev(DEV, "ack"), dev(DEV, "cmd"),
          "panic/v1/dispatch/alerts",
          "panic/v1/dispatch/events", "panic/v1/dispatch/ack", "panic/v1/dispatch/receipt"],
    "admin": [dev(DEV, "alert"), dev(DEV, "ack"), "panic/v1/dispatch/alerts", "panic/v1/dispatch/ack"],
}
# An allowed publish sent after the forbidden ones: seen at an observer, it
# shows the forbidden ones (same connection, earlier) would have arrived.
MARKER = {"gateway": "panic/v1/dispatch/events", "dispatch": "panic/v1/dispatch/receipt", DEV: dev(DEV, "hb")}

FORBIDDEN_SUBSCRIBE = {
    "gateway": [dev("+", "ack"), dev("+", "cmd"), "panic/v1/dev/+/#", "panic/v1/#", "#", "panic/v1/dispatch/alerts",
                "panic/v1/dispatch/events", "$share/gateway/panic/v1/dispatch/alerts", policy.CONTROL_RESPONSE_TOPIC,
                "$SYS/#"],
    "dispatch": [dev("+", "alert"), "$share/dispatch/panic/v1/dev/+/alert", "panic/v1/dispatch/ack",
                 "panic/v1/dispatch/receipt", "panic/v1/dispatch/#", "#", policy.CONTROL_RESPONSE_TOPIC],
    DEV: [dev(OTHER, "ack"), dev("+", "ack"), dev(DEV, "alert"), dev(DEV, "status"), dev(DEV, "result"),
          f"$share/g/{dev(DEV, 'ack')}",
          "panic/v1/dispatch/alerts", "#", policy.CONTROL_RESPONSE_TOPIC],
    "admin": [dev("+", "alert"), "panic/v1/dispatch/alerts", "#"],
}
ALLOWED_SUBSCRIBE = {
    "gateway": [*policy.GATEWAY_READS, *(f"$share/any-group/{t}" for t in policy.GATEWAY_READS)],
    "dispatch": [*policy.DISPATCH_READS, "panic/v1/dispatch/stations/s-1/alerts"],
    DEV: [dev(DEV, "ack"), dev(DEV, "cmd")],
    "admin": [policy.CONTROL_RESPONSE_TOPIC],
}


def password(broker: BrokerUnderTest, account: str) -> str:
    service = {"gateway": broker.config.gateway_password, "dispatch": broker.config.dispatch_password,
               "admin": broker.config.admin_password}
    return service.get(account, "device-pw")


def observers(broker: BrokerUnderTest) -> list[Peer]:
    """One legitimate reader of every topic in the tables above."""
    readers = [(a, ALLOWED_SUBSCRIBE[a][:len(policy.GATEWAY_READS)] if a == "gateway" else ALLOWED_SUBSCRIBE[a])
               for a in ("gateway", "dispatch", DEV)]
    peers = []
    for account, topics in readers:
        peer = Peer(broker, account, password(broker, account))
        assert all(peer.subscribe(t) == 1 for t in topics)
        peers.append(peer)
    return peers


@pytest.mark.parametrize("account", list(FORBIDDEN_PUBLISH))
def test_forbidden_publishes_are_neither_delivered_nor_retained(broker: BrokerUnderTest, account: str) -> None:
    broker.add_device(DEV, "device-pw")
    watching = observers(broker)
    offender = Peer(broker, account, password(broker, account))
    for topic in FORBIDDEN_PUBLISH[account]:
        offender.publish(topic, b"forged", retain=True)
    expected = [MARKER[account]] if account in MARKER else []
    for topic in expected:
        offender.publish(topic)
    assert [t for peer in watching for t in received(peer)] == expected
    late = observers(broker)  # retained messages come with a new subscription
    assert [t for peer in late for t in received(peer, wait=0.3)] == []
    for peer in [*watching, *late, offender]:
        peer.close()


@pytest.mark.parametrize("account", list(FORBIDDEN_SUBSCRIBE))
def test_each_account_subscribes_to_its_topics_and_nothing_else(broker: BrokerUnderTest, account: str) -> None:
    broker.add_device(DEV, "device-pw")
    peer = Peer(broker, account, password(broker, account))
    assert {t: peer.subscribe(t) for t in FORBIDDEN_SUBSCRIBE[account]} == dict.fromkeys(
        FORBIDDEN_SUBSCRIBE[account], SUBACK_REFUSED)
    assert {t: peer.subscribe(t) for t in ALLOWED_SUBSCRIBE[account]} == dict.fromkeys(ALLOWED_SUBSCRIBE[account], 1)
    peer.close()


def test_a_device_answers_commands_on_its_own_result_topic(broker: BrokerUnderTest) -> None:
    """The result topic (protocol/README.md, "Commands"): the device writes it, the gateway (shared) reads it."""
    broker.add_device(DEV, "device-pw")
    gateway = Peer(broker, "gateway", password(broker, "gateway"))
    assert gateway.subscribe(f"$share/g/{dev('+', 'result')}") == 1
    device = Peer(broker, DEV, "device-pw")
    device.publish(dev(DEV, "result"))
    assert received(gateway) == [dev(DEV, "result")]
    for peer in (gateway, device):
        peer.close()


@pytest.mark.parametrize("account", ["gateway", "dispatch", DEV])
def test_only_admin_manages_accounts(broker: BrokerUnderTest, account: str) -> None:
    broker.add_device(DEV, "device-pw")
    intruder = "pb-eeeeeeeeeeee"
    command = {"command": "createClient", "username": intruder, "password": "mine"}
    peer = Peer(broker, account, password(broker, account))
    peer.publish(policy.CONTROL_TOPIC, json.dumps({"commands": [command]}).encode())
    peer.close()
    assert connack(broker, intruder, "mine") == REFUSED
    broker.add_device(intruder, "mine")  # the same command through the admin account works
    assert connack(broker, intruder, "mine") == ACCEPTED
