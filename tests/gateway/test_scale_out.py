"""Two gateway instances on one PostgreSQL database sharing the device topics."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.stack import GatewayProcess, Stack
from tests.gateway.scripted import ScriptedDevice, new_device_id

# Receipts are awaited (the listener sends them), but a re-publication for lack of one
# would come only after 120 s: any redelivery seen here is one instance taking another's rows.
SHARED = {"PANIC_MQTT_SHARED_GROUP": "gateway", "PANIC_DISPATCH_RECEIPT_RETRY_S": "120"}


def test_two_instances_share_the_work_and_dispatch_each_alert_once(tmp_path: Path, postgres_url: str) -> None:
    stack = Stack(tmp_path, database_url=postgres_url, gateway_env=SHARED)
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
            got = []
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
