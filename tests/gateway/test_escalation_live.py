"""Escalation end to end: two gateway processes on one PostgreSQL, the sample stations, a restart while an
alert waits for its escalation, and an alert acknowledged in time beside it.

The deadlines here are short (PANIC_ESCALATE_AFTER_S); tests/gateway/test_escalation.py checks each
moment exactly in this process.
"""

from __future__ import annotations

import json
import queue
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.stack import GatewayProcess, MqttListener, Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice, new_device_id
from tests.gateway.test_routing import SAMPLE, import_stations, listener

AFTER_S = 4.0
ENV = {"PANIC_ESCALATE_AFTER_S": str(AFTER_S), "PANIC_ESCALATE_MAX_LEVEL": "2", "PANIC_ESCALATE_CHECK_S": "0.2",
       "PANIC_MQTT_SHARED_GROUP": "gateway",
       # receipts are sent; a re-publication for lack of one would come only after 120 s
       "PANIC_DISPATCH_RECEIPT_RETRY_S": "120"}
ALL = "panic/v1/dispatch/alerts"


def station(topic: str) -> str:
    return topic.split("/")[4]


def until(dispatch: MqttListener, seen: list[tuple[str, dict[str, Any]]], alert_id: str, rev: int,
          copies: int, timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
    """Read (collecting everything into `seen`) until revision `rev` of the alert arrived on `copies` topics."""
    deadline = time.monotonic() + timeout
    while True:
        found = [(t, r) for t, r in seen if r["alert_id"] == alert_id and r["rev"] == rev]
        if len(found) >= copies:
            return found
        try:
            topic, payload = dispatch.messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"rev {rev} of {alert_id} reached {len(found)} of {copies} topics") from None
        if topic != "panic/v1/dispatch/events":
            record = json.loads(payload)
            assert_valid("dispatch-alert.json", record)
            seen.append((topic, record))


def test_two_instances_escalate_once_per_level_across_a_restart(tmp_path: Path, postgres_url: str) -> None:
    stack = Stack(tmp_path, database_url=postgres_url, gateway_env=ENV)
    second = GatewayProcess(stack.broker_config, tmp_path / "gateway-2", database_url=postgres_url,
                            extra_env={**ENV, "PANIC_MQTT_CLIENT_ID": "panic-gateway-2"})
    with stack:
        import_stations(stack, SAMPLE)  # before any alert: each instance's router is first built with them
        second.start()
        dispatch = listener(stack)
        waiting, answered = (ScriptedDevice(stack, new_device_id()) for _ in range(2))
        seen: list[tuple[str, dict[str, Any]]] = []
        try:
            waiting.send(waiting.alert_body())
            answered.send(answered.alert_body())
            alert_id, other_id = f"{waiting.id}:1", f"{answered.id}:1"
            [(_, first)] = [c for c in until(dispatch, seen, alert_id, 1, 2) if c[0] == ALL]
            assert first["station"]["id"] == "polresta-bandar-lampung" and first["escalation"] is None
            candidates = [c["id"] for c in first["candidates"]]
            until(dispatch, seen, other_id, 1, 2)
            done = stack.gateway.request("POST", f"/alerts/{other_id}/ack",
                                         {"state": "acknowledged", "by": "desk 1", "rev": 1})
            assert (done["state"], done["rev"], done["escalation_level"]) == ("acknowledged", 2, 0)

            # Both instances stop while the alert waits, and stay down past its deadline.
            stack.gateway.stop()
            second.stop()
            due = datetime.fromisoformat(first["received_at"]).timestamp() + AFTER_S
            time.sleep(max(0.0, due - time.time()) + 0.5)
            stack.gateway.start()
            second.start()

            level_1 = until(dispatch, seen, alert_id, 2, 4)
            escalation = level_1[0][1]["escalation"]
            assert (escalation["level"], escalation["stations"]) == (1, [candidates[0], "polda-lampung"])
            assert {station(t) for t, _ in level_1 if t != ALL} == {"polresta-bandar-lampung", candidates[0],
                                                                    "polda-lampung"}
            level_2 = until(dispatch, seen, alert_id, 3, 5)
            assert level_2[0][1]["escalation"]["stations"] == [candidates[0], "polda-lampung", candidates[1]]
            assert level_2[0][1]["state"] == "new"

            # Level 2 is the top: nothing more, and each level went out once (one instance escalated it).
            for topic, payload in dispatch.drain(2 * AFTER_S):
                if topic != "panic/v1/dispatch/events":
                    seen.append((topic, json.loads(payload)))
            on_all = [(r["rev"], r["redelivery"]) for t, r in seen if t == ALL and r["alert_id"] == alert_id
                      and r["rev"] > 1]
            assert on_all == [(2, False), (3, False)]
            assert [r["rev"] for t, r in seen if t == ALL and r["alert_id"] == other_id and r["rev"] > 1] == [2], \
                "the acknowledged alert never escalated"
            alert = stack.gateway.request("GET", f"/alerts/{alert_id}")
            assert [(s["state"], s["rev"], s["escalation"]) for s in alert["timeline"]] == [
                ("new", 1, None), ("new", 2, 1), ("new", 3, 2)]
            assert alert["escalation_level"] == 2
            logs = stack.gateway.log() + second.log()
            assert logs.count(f"alert {alert_id} escalated to level 1") == 1
            assert logs.count(f"alert {alert_id} escalated to level 2") == 1
        finally:
            for device in (waiting, answered):
                device.mqtt.close()
            dispatch.close()
            second.stop()
