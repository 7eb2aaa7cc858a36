"""Losing a broker node or a gateway loses no alert: a 3-node NATS cluster, and single-node Mosquitto.

Two gateway processes on one PostgreSQL database share the device topics (Mosquitto:
$share; NATS: JetStream durable consumers, gateway/nats_inbound.py). Every alert the
broker acknowledged to a device reaches dispatch, and dispatch sees each (alert_id, rev)
(it drops repeats by that key, docs/protocol.md "Receipts and redelivery").

"The node" on Mosquitto is its only process: killed (SIGKILL) and started again; on NATS
another node takes over at once and the killed one stays dead.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.nats import NatsCluster, NatsClusterConfig
from broker.run import Mosquitto
from simulator.button import SimulatedButton
from simulator.stack import BaseStack, GatewayProcess, MqttListener, make_stack
from tests.gateway.scripted import ScriptedDevice, new_device_id

# Fetched-but-unacked work of a dead gateway goes to the other after 3 s (NATS); a dispatch
# alert not receipted is published again after 2 s (both brokers).
SHARED = {"PANIC_MQTT_SHARED_GROUP": "gateway", "PANIC_NATS_ACK_WAIT_S": "3",
          "PANIC_DISPATCH_RECEIPT_RETRY_S": "2", "PANIC_DISPATCH_RECEIPT_RETRY_MAX_S": "2"}


class Pair:
    """The stack (first gateway) and a second gateway instance."""

    def __init__(self, stack: BaseStack, second: GatewayProcess) -> None:
        self.stack, self.second = stack, second

    def endpoint(self, index: int) -> tuple[str, int] | None:
        """MQTT endpoint of node `index` (NATS); Mosquitto has one."""
        config = self.stack.broker_config
        return config.endpoints[index] if hasattr(config, "endpoints") else None

    def kill_node(self, index: int) -> None:
        """SIGKILL node `index`; Mosquitto is started again on its state, NATS nodes stay dead."""
        broker = self.stack.broker
        if isinstance(broker, NatsCluster):
            broker.kill(self.stack.broker_config.nodes[index].name)  # type: ignore[union-attr]
            return
        assert isinstance(broker, Mosquitto) and broker.process is not None
        broker.process.send_signal(signal.SIGKILL)
        broker.process.wait()
        broker.process = None
        broker.start()


@pytest.fixture(params=["mosquitto", "nats"])
def pair(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str) -> Iterator[Pair]:
    stack = make_stack(request.param, tmp_path, database_url=postgres_url, gateway_env=SHARED)
    second = GatewayProcess(stack.broker_config, tmp_path / "gateway-2", database_url=postgres_url,
                            extra_env={**SHARED, "PANIC_MQTT_CLIENT_ID": "panic-gateway-2"})
    with stack:
        second.start()
        try:
            yield Pair(stack, second)
        finally:
            second.stop()


def dispatched(listener: MqttListener, expected: set[str], timeout: float = 60) -> set[str]:
    """alert_ids of the dispatch alerts received until all of `expected` came (or the timeout)."""
    seen: set[str] = set()
    while not expected <= seen:
        seen.add(json.loads(listener.next(timeout, "/dispatch/alerts")[1])["alert_id"])
    return seen


def send_alerts(devices: list[ScriptedDevice], rounds: int) -> set[str]:
    """Each device sends `rounds` alerts, QoS 1, each PUBACKed by the broker before the next.

    On a loaded machine a NATS node may give up storing one (4 s) and close the connection with
    no PUBACK; paho then reconnects and sends it again. Going on without the PUBACK (and closing
    the connection later) would drop an alert no button would have dropped."""
    sent = set()
    for _ in range(rounds):
        for device in devices:
            body = device.alert_body()
            device.send(body, puback_within=60)
            sent.add(f"{device.id}:{body['seq']}")
    return sent


def test_a_killed_gateway_loses_nothing(pair: Pair) -> None:
    dispatch = pair.stack.dispatch(endpoint=pair.endpoint(2))
    devices = [ScriptedDevice(pair.stack, new_device_id(), endpoint=pair.endpoint(1)) for _ in range(3)]
    try:
        sent = send_alerts(devices, 5)
        assert pair.stack.gateway.process is not None
        pair.stack.gateway.process.kill()  # mid-stream: whatever it held unacked must come again
        pair.stack.gateway.process.wait()
        sent |= send_alerts(devices, 5)
        if isinstance(pair.stack.broker, Mosquitto):
            # A $share member's unacked messages wait in its session: Mosquitto gives them
            # to no one else, so the instance must come back (with the same client id).
            pair.stack.gateway.start()
        assert dispatched(dispatch, sent) == sent
    finally:
        for device in devices:
            device.mqtt.close()
        dispatch.close()


def test_the_node_a_button_is_on_dies_with_alerts_in_flight(pair: Pair) -> None:
    dispatch = pair.stack.dispatch(endpoint=pair.endpoint(2))
    devices = [ScriptedDevice(pair.stack, new_device_id(), endpoint=pair.endpoint(1)) for _ in range(3)]
    try:
        sent = send_alerts(devices, 5)
        pair.kill_node(1)  # right after the PUBACKs: the gateways have not had them all yet
        for device in devices:  # the buttons' next endpoint (Mosquitto: the same one, back)
            device.mqtt.close()
            device.mqtt = device.connect(pair.endpoint(0))
        sent |= send_alerts(devices, 5)
        assert dispatched(dispatch, sent) == sent
        for device in devices:  # and the buttons are acknowledged on their new endpoint
            acked: set[int] = set()
            while not acked >= {6, 7, 8, 9, 10}:
                acked.add(device.next_ack(60)["ref"])
    finally:
        for device in devices:
            device.mqtt.close()
        dispatch.close()


def test_a_node_dies_while_dispatch_is_away(pair: Pair) -> None:
    dispatch = pair.stack.dispatch(endpoint=pair.endpoint(2))
    devices = [ScriptedDevice(pair.stack, new_device_id(), endpoint=pair.endpoint(0)) for _ in range(2)]
    try:
        sent = send_alerts(devices, 3)
        assert dispatched(dispatch, sent) == sent
        dispatch.close()  # dispatch goes away; alerts go on
        later = send_alerts(devices, 3)
        pair.kill_node(2)  # the node dispatch was on
        dispatch = pair.stack.dispatch(endpoint=pair.endpoint(1))
        got = dispatched(dispatch, later)  # redelivered until receipted
        assert got - later <= sent  # besides: earlier ones whose receipts the closed dispatch had not sent
    finally:
        for device in devices:
            device.mqtt.close()
        dispatch.close()


def test_real_buttons_move_to_their_next_endpoint_when_their_node_dies(pair: Pair, tmp_path: Path) -> None:
    """The firmware under MicroPython, given every endpoint (NATS: node 1 first); Mosquitto: one."""
    config = pair.stack.broker_config
    endpoints = [config.endpoints[i] for i in (1, 2, 0)] if isinstance(config, NatsClusterConfig) else None
    dispatch = pair.stack.dispatch(endpoint=pair.endpoint(0))
    hb = MqttListener(config, "gateway", config.gateway_password, ["panic/v1/dev/+/hb"], endpoint=pair.endpoint(0))
    buttons = []
    try:
        for n in range(2):
            device_id = f"pb-0000000fa11{n}"
            issued = pair.stack.register_button(device_id)
            SimulatedButton.provision(
                tmp_path / device_id, device_id=device_id, device_key_hex=issued["device_key"],
                mqtt_password=issued["mqtt_password"], broker_host=config.host, broker_port=config.port,
                brokers=endpoints, hold_ms=300, heartbeat_s=2, reconnect_min_ms=200, reconnect_max_ms=1000,
                retry_min_ms=500, retry_max_ms=2000, repeat_ms=0)  # two presses in a row: no coalescing
            buttons.append(SimulatedButton(tmp_path / device_id))
            buttons[-1].start()
        for button in buttons:
            button.wait_for_indicator("idle", timeout=60)
            button.press(400)
        for button in buttons:
            button.wait_for_indicator("received", timeout=30)
        for button in buttons:
            button.press(400)
        pair.kill_node(1)  # the buttons' node, their second alerts in flight
        for button in buttons:  # (NATS: subscriptions refused until a new metadata leader, 10-15 s idle)
            button.wait_for_indicator("received", timeout=120)
        # Both presses of each button reach dispatch (seq is shared with heartbeats: count them).
        per_button: dict[str, set[str]] = {}
        while sorted(len(ids) for ids in per_button.values()) != [2, 2]:
            alert_id = json.loads(dispatch.next(60, "/dispatch/alerts")[1])["alert_id"]
            if alert_id.startswith("pb-0000000fa11"):  # the buttons' own, nothing else
                per_button.setdefault(alert_id.split(":")[0], set()).add(alert_id)
            assert all(len(ids) <= 2 for ids in per_button.values()), per_button
        if endpoints:  # the heartbeats say they are on another endpoint, and it is the one they connected to
            ids = [f"pb-0000000fa11{n}" for n in range(2)]
            seen: dict[str, int] = {}
            deadline = time.monotonic() + 30
            while len(seen) < len(ids):
                beat = json.loads(hb.next(30, "/hb")[1])
                if beat["dev"] in ids and beat.get("ep", 0) != 0:  # 0: the dead node
                    seen[beat["dev"]] = beat["ep"]
                assert time.monotonic() < deadline, seen
            for device_id, ep in seen.items():
                buttons[ids.index(device_id)].wait_for_log(f"connected host=127.0.0.1 port={endpoints[ep][1]} ")
    finally:
        for button in buttons:
            button.stop()
        hb.close()
        dispatch.close()
