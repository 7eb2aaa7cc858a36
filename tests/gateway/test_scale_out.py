"""Two gateway instances on one PostgreSQL database sharing the device topics (Mosquitto: $share;
NATS: the JetStream durable consumers and queue group of gateway/nats_inbound.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.stack import BROKER_KINDS, GatewayProcess, make_stack
from tests.gateway.scripted import ScriptedDevice, new_device_id

# Receipts are awaited (the listener sends them), but a re-publication for lack of one
# would come only after 120 s: any redelivery seen here is one instance taking another's rows.
SHARED = {"PANIC_MQTT_SHARED_GROUP": "gateway", "PANIC_DISPATCH_RECEIPT_RETRY_S": "120"}


@pytest.mark.parametrize("kind", BROKER_KINDS)
def test_two_instances_share_the_work_and_dispatch_each_alert_once(kind: str, tmp_path: Path,
                                                                    postgres_url: str) -> None:
    stack = make_stack(kind, tmp_path, database_url=postgres_url, gateway_env=SHARED)
    second = GatewayProcess(stack.broker_config, tmp_path / "gateway-2", database_url=postgres_url,
                            extra_env={**SHARED, "PANIC_MQTT_CLIENT_ID": "panic-gateway-2"})
    with stack:
        second.start()
        listener = stack.dispatch()
        devices = [ScriptedDevice(stack, new_device_id()) for _ in range(4)]
        try:
            sent = set()
            for _ in range(10):
                for device in devices:
                    body = device.alert_body()
                    device.send(body)
                    sent.add(f"{device.id}:{body['seq']}")
            got: list[dict[str, Any]] = []
            while len(got) < len(sent):
                got.append(json.loads(listener.next(20, "/dispatch/alerts")[1]))
            got += [json.loads(p) for t, p in listener.drain(1.5) if t.endswith("/alerts")]
            assert sorted(r["alert_id"] for r in got) == sorted(sent), "every alert dispatched exactly once"
            assert not any(r["redelivery"] for r in got), "no instance published another's rows"
            for device in devices:
                assert sorted(device.next_ack()["ref"] for _ in range(10)) == list(range(1, 11))
            # both instances took part
            assert "published to dispatch" in stack.gateway.log()
            assert "published to dispatch" in second.log()
        finally:
            for device in devices:
                device.mqtt.close()
            listener.close()
            second.stop()
