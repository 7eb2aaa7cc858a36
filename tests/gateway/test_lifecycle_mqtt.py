"""The lifecycle over MQTT (panic/v1/dispatch/ack): the same moves and refusals as over HTTP, the button
told each state it shows. The bridge runs in this process on a real broker and SQLite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from gateway.storage.db import migrate
from simulator.stack import MqttListener
from tests.conftest import BrokerUnderTest
from tests.contract import assert_valid
from tests.gateway.inprocess import Button, dispatch_listener, running_bridge

ACK = "panic/v1/dispatch/ack"


def revision(dispatch: MqttListener, rev: int) -> dict[str, Any]:
    while True:
        record: dict[str, Any] = json.loads(dispatch.next(15, "/dispatch/alerts")[1])
        assert_valid("dispatch-alert.json", record)
        if record["rev"] == rev:
            return record


def button_state(button: Button) -> str:
    ack: dict[str, Any] = json.loads(button.mqtt.next(15, "/ack")[1])
    assert_valid("device-ack.json", ack)
    return str(ack["state"])


def test_acks_over_mqtt_move_the_alert_and_the_button_follows(tmp_path: Path, broker: BrokerUnderTest) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    create_engine(url).dispose()
    with running_bridge(broker, url, escalate_after_s=0) as bridge:
        dispatch = dispatch_listener(broker)
        police = MqttListener(broker.config, "dispatch", broker.config.dispatch_password, [])
        button = Button(broker, bridge)
        try:
            button.alert()
            alert_id = revision(dispatch, 1)["alert_id"]
            assert button_state(button) == "received"

            def send(state: str, **more: Any) -> None:
                police.publish(ACK, json.dumps({"alert_id": alert_id, "state": state, "by": "desk 2",
                                                **more}).encode())

            send("dispatched", rev=1)
            assert revision(dispatch, 2)["state"] == "dispatched" and button_state(button) == "dispatched"
            send("on_scene", rev=1)  # stale: another desk moved it meanwhile
            send("acknowledged")  # backwards
            send("on_scene", false_alarm=True)  # the v1 flag only closes an alert
            send("on_scene", rev=2)
            assert revision(dispatch, 3)["state"] == "on_scene" and button_state(button) == "on_scene"
            assert bridge.metrics.get("dispatch_acks_rejected_total") == 3  # stale, backwards, the flag
            send("resolved", false_alarm=True)
            closed = revision(dispatch, 4)
            assert closed["state"] == "false_alarm" and button_state(button) == "false_alarm"
            steps = bridge.store.timeline(alert_id)[1]
            assert [(s.state, s.rev) for s in steps] == [("new", 1), ("dispatched", 2), ("on_scene", 3),
                                                         ("false_alarm", 4)]
        finally:
            for client in (dispatch, police, button.mqtt):
                client.close()
