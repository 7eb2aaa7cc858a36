"""The NATS cluster option (broker/nats.py): access rules and device accounts on a real 3-node cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from broker import policy
from broker.nats import NatsCluster, NatsClusterConfig, prepare_cluster
from tests.broker.peers import ACCEPTED, REFUSED, SUBACK_REFUSED, Peer, connack, received
from tests.broker.test_access_rules import FORBIDDEN_PUBLISH, FORBIDDEN_SUBSCRIBE, MARKER, dev

DEV, OTHER = "pb-dddddddddddd", "pb-000000000000"


class Node:
    """One node's MQTT listener, shaped as the broker fixture Peer expects."""

    def __init__(self, config: NatsClusterConfig, index: int) -> None:
        self.config = config
        self.host, self.port = config.endpoints[index]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    running = NatsCluster(prepare_cluster(tmp_path_factory.mktemp("nats")))
    with running:
        running.config.accounts().set(DEV, "device-pw")
        # The account's MQTT streams ($MQTT_msgs, ...) are made at its first MQTT connection.
        connected_device(running, 0).close()
        yield running


def node(cluster: NatsCluster, index: int = 0) -> Node:
    return Node(cluster.config, index)


def stored_topics(config: NatsClusterConfig, name: str, until: str | None = None) -> list[str]:
    """Topics of the QoS 1 messages the cluster stored since the consumer `name` was made (as the gateway):
    the first call makes it (deliver policy "new": from here on) and returns []; later calls wait for
    `until` (up to 60 s) and return it with whatever else comes within a second."""

    async def fetch() -> list[str]:
        nc = await nats.connect(config.nats_urls.split(","), user="gateway", password=config.gateway_password)
        try:
            js = nc.jetstream(timeout=20)  # a loaded cluster answers its API slowly
            if until is None:
                await js.add_consumer(policy.NATS_MQTT_STREAM, ConsumerConfig(
                    durable_name=name, filter_subject="$MQTT.msgs.panic.v1.>", deliver_policy=DeliverPolicy.NEW))
                return []
            # Bound, not asked for again: no API round trip through a cluster still settling after a stall.
            sub = await js.pull_subscribe_bind(durable=name, stream=policy.NATS_MQTT_STREAM)
            topics: list[str] = []
            deadline = time.monotonic() + 60
            while True:
                try:
                    for msg in await sub.fetch(50, timeout=1):
                        topics.append(msg.subject.removeprefix("$MQTT.msgs.").replace(".", "/"))
                        await msg.ack()
                # nats-py's own TimeoutError, or (when the server's "no messages" comes after the
                # fetch's whole second, under load) the builtin one, which the former derives from.
                except TimeoutError:
                    if until in topics or time.monotonic() > deadline:
                        return topics
        finally:
            await nc.close()

    return asyncio.run(fetch())


def connected_device(cluster: NatsCluster, index: int) -> Peer:
    """DEV on node `index`, connected: a loaded cluster may answer a CONNECT "server unavailable"
    (the session lives in JetStream); paho tries again by itself, as a button does."""
    device = Peer(node(cluster, index), DEV, "device-pw")  # type: ignore[arg-type]
    device.client.reconnect_delay_set(1, 2)
    while device.rc != ACCEPTED:
        device.rc = device.connack.get(timeout=60)
    return device


def published(device: Peer, topic: str, payload: bytes) -> None:
    """Publish at QoS 1 until the broker PUBACKs it. nats-server stores the message in JetStream first and
    gives up after 4 s (mqttJSAPITimeout): it closes the connection with no PUBACK, the message stored or
    not. paho reconnects and sends it again (DUP), as a button resends an alert; it may be stored twice."""
    info = device.client.publish(topic, payload, qos=1)
    info.wait_for_publish(timeout=90)
    assert info.is_published(), f"no PUBACK for {topic}"


def granted(peer: Peer, topic: str) -> int:
    """SUBACK code of a subscription the account may make. nats-server refuses one (0x80) also when it
    cannot create the session's JetStream consumer in 4 s, on a loaded machine: asked up to three times,
    as a button does after a refused SUBSCRIBE. (A refusal by permission comes every time.)"""
    for _ in range(2):
        if (code := peer.subscribe(topic)) != SUBACK_REFUSED:
            return code
    return peer.subscribe(topic)


def test_subscriptions_outside_an_account_are_refused_when_made(cluster: NatsCluster) -> None:
    config = cluster.config
    refused = {
        DEV: FORBIDDEN_SUBSCRIBE[DEV] + ["$MQTT/sub/#", "$MQTT/msgs/#", "$MQTT/sess/#", "$JS/API/#", "+/sub/#",
                                         dev(DEV, "#"), dev(DEV, "+")],
        "dispatch": FORBIDDEN_SUBSCRIBE["dispatch"] + ["$MQTT/sub/#"],
        # On NATS gateways read alerts and dispatch acks through JetStream, not MQTT.
        "gateway": FORBIDDEN_SUBSCRIBE["gateway"] + [dev("+", "alert"), "panic/v1/dispatch/ack"],
    }
    allowed = {DEV: [dev(DEV, "ack"), dev(DEV, "cmd")], "dispatch": list(policy.DISPATCH_READS),
               "gateway": [dev("+", "status"), dev("+", "hb")]}
    passwords = {DEV: "device-pw", "dispatch": config.dispatch_password, "gateway": config.gateway_password}
    for account, topics in refused.items():
        peer = Peer(node(cluster, 1), account, passwords[account])  # type: ignore[arg-type]
        assert {t: peer.subscribe(t) for t in topics} == dict.fromkeys(topics, SUBACK_REFUSED)
        assert {t: granted(peer, t) for t in allowed[account]} == dict.fromkeys(allowed[account], 1)
        peer.close()


@contextlib.contextmanager
def stalled(cluster: NatsCluster, indexes: list[int], seconds: float) -> Iterator[None]:
    """Nodes `indexes` frozen (SIGSTOP) for `seconds` from entry, as a machine too loaded to answer."""
    pids = [cluster.processes[cluster.config.nodes[i].name].pid for i in indexes]

    def signal_all(sig: signal.Signals) -> None:
        for pid in pids:
            os.kill(pid, sig)

    resume = threading.Timer(seconds, signal_all, (signal.SIGCONT,))
    signal_all(signal.SIGSTOP)
    resume.start()
    try:
        yield
    finally:
        resume.cancel()
        signal_all(signal.SIGCONT)


@pytest.mark.parametrize("stall", [0, 6], ids=["steady", "stalled"])
def test_a_device_publishes_only_its_own_topics(cluster: NatsCluster, stall: float) -> None:
    """Forged publishes are acknowledged but never stored. `stalled`: two nodes freeze while the device's
    own alert is being stored (what a heavily loaded machine does now and then): the device sends it
    again, as a button would, and still nothing of the forged ones appears."""
    observer = f"test-observer-{stall}"
    stored_topics(cluster.config, observer)  # start observing from here
    device = connected_device(cluster, 2)
    for topic in [dev(OTHER, "alert"), dev(OTHER, "status"), dev(DEV, "ack"), "panic/v1/dispatch/alerts",
                  "panic/v1/dispatch/ack", "$MQTT/msgs/" + dev(OTHER, "alert")]:
        published(device, topic, b"forged?")
    with stalled(cluster, [0, 1], stall):
        published(device, dev(DEV, "alert"), b"own")  # after the forged ones, on the same connection
    device.close()
    # The own alert shows the observer would have seen the forged ones; a resend may store it twice.
    assert set(stored_topics(cluster.config, observer, until=dev(DEV, "alert"))) == {dev(DEV, "alert")}


@pytest.mark.parametrize("account", ["gateway", "dispatch"])
def test_service_accounts_publish_only_their_own_topics(cluster: NatsCluster, account: str) -> None:
    """The table of tests/broker/test_access_rules.py (Mosquitto), on NATS: forged publishes of the
    service accounts are not stored; an allowed one sent after them on the same connection is."""
    config = cluster.config
    observer = f"test-observer-{account}"
    stored_topics(config, observer)
    password = config.gateway_password if account == "gateway" else config.dispatch_password
    peer = Peer(node(cluster, 1), account, password)  # type: ignore[arg-type]
    for topic in FORBIDDEN_PUBLISH[account]:
        published(peer, topic, b"forged?")
    published(peer, MARKER[account], b"{}")
    peer.close()
    assert set(stored_topics(config, observer, until=MARKER[account])) == {MARKER[account]}


def test_another_devices_session_gives_nothing_of_it(cluster: NatsCluster) -> None:
    """MQTT lets any client take over a session by its client id. A device that connects with another's
    client id (and keeps the session) is still held to its own permissions: none of the other's acks."""
    config, victim = cluster.config, "pb-eeeeeeeeeeee"
    config.accounts().set(victim, "victim-pw")
    own = Peer(node(cluster, 0), victim, "victim-pw", client_id=victim, clean_session=False)  # type: ignore[arg-type]
    assert granted(own, dev(victim, "ack")) == 1
    own.close()
    thief = Peer(node(cluster, 0), DEV, "device-pw", client_id=victim, clean_session=False)  # type: ignore[arg-type]
    assert thief.rc == ACCEPTED
    assert thief.subscribe(dev(victim, "ack")) == SUBACK_REFUSED
    gateway = Peer(node(cluster, 1), "gateway", config.gateway_password)  # type: ignore[arg-type]
    published(gateway, dev(victim, "ack"), b"for the victim only")
    gateway.close()
    assert received(thief, 3) == []
    thief.close()
    # and the victim's own session, taken back, still gets it (nothing was consumed by the thief)
    own = Peer(node(cluster, 0), victim, "victim-pw", client_id=victim, clean_session=False)  # type: ignore[arg-type]
    assert granted(own, dev(victim, "ack")) == 1
    assert own.messages.get(timeout=30) == (dev(victim, "ack"), b"for the victim only")
    own.close()


def test_the_mqtt_streams_are_replicated_on_every_node(cluster: NatsCluster) -> None:
    """Sessions, QoS 1 messages and retained messages survive a node: R3 (broker/nats.py, stream_replicas)."""
    url = f"http://{cluster.config.nodes[0].host}:{cluster.config.nodes[0].monitor_port}"
    with urllib.request.urlopen(f"{url}/jsz?accounts=true&streams=true&config=true", timeout=10) as r:
        streams = {s["name"]: s for a in json.load(r)["account_details"] for s in a.get("stream_detail", [])}
    for name in ("$MQTT_msgs", "$MQTT_sess", "$MQTT_rmsgs"):
        assert streams[name]["config"]["num_replicas"] == 3, name
        assert len(streams[name]["cluster"].get("replicas", [])) == 2, name  # besides the leader


def core_nats_login(config: NatsClusterConfig, user: str, password: str) -> str:
    """Log in over the NATS protocol (not MQTT) and try to read every QoS 1 MQTT delivery: what the
    server said ("connected" when it let the client in and granted the subscription)."""

    async def attempt() -> str:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        try:
            nc = await nats.connect(config.nodes[0].url, user=user, password=password, error_cb=on_error,
                                    allow_reconnect=False, connect_timeout=10)
        except Exception as exc:  # nats-py raises after the server's -ERR; the reason went to error_cb
            return " ".join(errors) or repr(exc)
        try:
            await nc.subscribe(policy.NATS_MQTT_DELIVERY)
            await nc.flush(timeout=10)
            await asyncio.sleep(0.5)  # a refused subscription comes back as an asynchronous -ERR
            return " ".join(errors) or "connected"
        finally:
            await nc.close()

    return asyncio.run(attempt())


def test_devices_and_dispatch_speak_only_mqtt(cluster: NatsCluster) -> None:
    """Over the NATS protocol `$MQTT.sub.>` (which an MQTT session's QoS 1 deliveries need) would
    read every account's deliveries: other devices' acks and commands, dispatch alerts."""
    config = cluster.config
    for user, password in ((DEV, "device-pw"), ("dispatch", config.dispatch_password)):
        assert "authorization violation" in core_nats_login(config, user, password).lower(), user
    # The gateway reads the MQTT stream over NATS (gateway/nats_inbound.py): it must still get in.
    assert core_nats_login(config, "gateway", config.gateway_password) == "connected"


def test_issue_rotate_and_remove_a_device_account(cluster: NatsCluster) -> None:
    accounts, user = cluster.config.accounts(), "pb-aaaaaaaaaaaa"
    at = node(cluster, 1)
    assert connack(at, user, "one") == REFUSED  # type: ignore[arg-type]
    accounts.remove(user)  # nothing there: fine
    accounts.set(user, "one")
    assert connack(at, user, "one") == ACCEPTED  # type: ignore[arg-type]
    watcher = Peer(node(cluster, 0), "gateway", cluster.config.gateway_password)  # type: ignore[arg-type]
    assert granted(watcher, dev("+", "status")) == 1
    live = Peer(at, user, "one")  # type: ignore[arg-type]
    live.publish(dev(user, "status"), b'{"state":"online"}', retain=True)
    assert watcher.messages.get(timeout=30)[0] == dev(user, "status")
    watcher.close()
    accounts.set(user, "two")  # rotation: the live session is closed, the old password refused
    assert live.disconnected.wait(10)
    live.close()
    assert connack(at, user, "one") == REFUSED  # type: ignore[arg-type]
    live = Peer(at, user, "two")  # type: ignore[arg-type]
    # Removal with a retained message of the user's: nats-server 2.9.10 would crash on a reload
    # that drops the user (hence the lock-out); every node must still answer after it.
    accounts.remove(user)
    accounts.remove(user)
    assert live.disconnected.wait(10)
    live.close()
    for index in range(3):
        assert connack(node(cluster, index), user, "two") == REFUSED  # type: ignore[arg-type]
        assert connack(node(cluster, index), DEV, "device-pw") == ACCEPTED  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["pb-a.b", "", "a/b", "a+", "a#", "gateway", "dispatch", "*", ">", "pb-*"])
def test_names_that_would_widen_permissions_are_refused(cluster: NatsCluster, name: str) -> None:
    before = (cluster.config.state_dir / "users.conf").read_text()
    with pytest.raises(ValueError):
        cluster.config.accounts().set(name, "pw")
    assert (cluster.config.state_dir / "users.conf").read_text() == before


def test_account_files_are_private_and_hold_no_password(cluster: NatsCluster) -> None:
    cluster.config.accounts().set("pb-bbbbbbbbbbbb", "clear-text-pw")
    for name in ("users.conf", "devices.json", "accounts.json"):
        path: Path = cluster.config.state_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    for name in ("users.conf", "devices.json"):
        text = (cluster.config.state_dir / name).read_text()
        assert "clear-text-pw" not in text and cluster.config.gateway_password not in text
