"""More heartbeats than the gateway can judge: memory stays bounded and alerts still flow."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from gateway import bridge as bridge_module
from gateway.storage.db import migrate
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Acceptance, Candidate, Store
from gateway.storage.window import Plan
from tests.conftest import BrokerUnderTest
from tests.gateway.inprocess import Button, dispatch_listener, running_bridge

QUEUE_MAX = 40
HEARTBEATS = 1500


class SlowHeartbeatStore(Store):
    """Judges a batch of heartbeats slowly (as a saturated database would); alerts at full speed."""

    def accept_and_stage(self, candidates: Sequence[Candidate], now: datetime,
                         plan: Plan) -> tuple[list[Acceptance], list[OutboxItem]]:
        if candidates and all(c.body is None for c in candidates):
            time.sleep(0.2)
        return super().accept_and_stage(candidates, now, plan)


def heartbeat(button: Button, seq: int) -> tuple[str, bytes]:
    topic = f"panic/v1/dev/{button.id}/hb"
    body = {"v": 1, "dev": button.id, "seq": seq, "ts": None, "up": seq, "bat": 90, "pwr": "mains",
            "net": "wifi", "rssi": -60}
    signed = json.dumps(body, separators=(",", ":")).encode()
    sig = hmac.new(button.key, topic.encode() + b"\n" + signed, hashlib.sha256).hexdigest()
    return topic, signed[:-1] + f',"sig":"{sig}"}}'.encode()


def test_a_heartbeat_flood_is_held_at_the_broker_and_alerts_pass_it(
        broker: BrokerUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_module, "HEARTBEAT_QUEUE_MAX", QUEUE_MAX)
    monkeypatch.setattr(bridge_module, "HEARTBEAT_BATCH_MAX", 10)
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    with running_bridge(broker, url, store_type=SlowHeartbeatStore) as bridge:
        flooder, presser = Button(broker, bridge), Button(broker, bridge)
        listener = dispatch_listener(broker)
        backlog: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                backlog.append(bridge.heartbeat_backlog())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            # Heartbeats from this device take seq numbers after the alerts' (a button counts both alike).
            for seq in range(100, 100 + HEARTBEATS):
                flooder.mqtt.publish(*heartbeat(flooder, seq), qos=0)
            while bridge.metrics.get("heartbeat_backpressure_total") == 0:
                time.sleep(0.05)  # the queue is full: the flood is now waiting outside the process
            refs = [presser.alert() for _ in range(3)]
            acked = sorted(json.loads(presser.mqtt.next(15, "/ack")[1])["ref"] for _ in refs)
            dispatched = {json.loads(listener.next(15, "/alerts")[1])["alert_id"] for _ in refs}
            still_waiting = bridge.heartbeat_backlog()
            judged = bridge.metrics.get("heartbeats_total")
            rendered = bridge.metrics.render()
        finally:
            sampling.set()
            sampler.join()
            flooder.close()
            presser.close()
            listener.close()
    assert acked == refs, "every alert was acked to its button during the flood"
    assert dispatched == {f"{presser.id}:{ref}" for ref in refs}
    assert still_waiting > 0 and judged < HEARTBEATS, "the alerts did not wait for the heartbeats to drain"
    assert max(backlog) <= QUEUE_MAX, "the heartbeats held in memory never exceed the queue's bound"
    lag = re.search(r"^panic_heartbeat_lag_seconds ([0-9.]+)$", rendered, re.M)
    assert re.search(r"^panic_heartbeat_backlog \d+$", rendered, re.M) and lag, "the lag is in /metrics"
    assert float(lag.group(1)) > 0, "heartbeats judged late say so"
