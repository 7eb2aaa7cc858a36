"""A dispatch acknowledgement over MQTT that the gateway refuses is answered on panic/v1/dispatch/events
(`ack_refused`) with the reason and text POST /alerts/{id}/ack gives for the same acknowledgement; the
alert stays as it was and the next valid acknowledgement moves it. The bridge runs in this process on
a real broker and SQLite; the HTTP answer comes from the API on the same database."""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from gateway.acknowledge import Acknowledgements
from gateway.api.app import create_app
from gateway.bridge import Bridge
from gateway.metrics import Metrics
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.storage.db import migrate
from simulator.stack import MqttListener
from tests.conftest import BrokerUnderTest
from tests.contract import assert_valid
from tests.gateway.inprocess import Button, dispatch_listener, running_bridge

ACK = "panic/v1/dispatch/ack"
EVENTS = "panic/v1/dispatch/events"


@dataclass(frozen=True)
class Case:
    setup: tuple[str, ...]  # valid moves made first
    ack: Callable[[str], dict[str, Any] | bytes]  # the refused acknowledgement, given the alert's id
    reason: str
    status: int
    then: str | None  # the valid move afterwards (None: the alert is at an end; a new alert is acknowledged)
    http: bool = True  # POST /alerts/{id}/ack can say the same (the body, not the path, is at fault)
    expect: dict[str, Any] = field(default_factory=dict)  # members of the event besides the common ones


def _ack(alert_id: str, state: str, **more: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "state": state, "by": "desk 2", **more}


CASES = {
    "unknown_alert": Case((), lambda a: _ack(a.split(":")[0] + ":999", "acknowledged"), "not_found", 404,
                          "acknowledged"),
    "stale_rev": Case(("dispatched",), lambda a: _ack(a, "on_scene", rev=1), "conflict", 409, "on_scene"),
    "backwards": Case(("on_scene",), lambda a: _ack(a, "acknowledged"), "conflict", 409, "resolved"),
    "out_of_an_end": Case(("resolved",), lambda a: _ack(a, "acknowledged", rev=2), "conflict", 409, None),
    "back_to_new": Case(("resolved",), lambda a: _ack(a, "new"), "malformed", 422, None),
    "flag_on_an_open_state": Case((), lambda a: _ack(a, "on_scene", false_alarm=True), "malformed", 422,
                                  "acknowledged"),
    "not_json": Case((), lambda a: b'{"alert_id": "' + a.encode() + b'", "state": ', "malformed", 422,
                     "acknowledged", http=False,
                     expect={"alert_id": None, "device": None, "state": None, "rev": None, "by": None}),
    # the sender's text comes back escaped, as in any rejection's detail
    "bad_alert_id": Case((), lambda a: {"alert_id": "pb-nonsense", "state": "dispatched", "rev": 7,
                                        "by": "desk\u202e 2"}, "malformed", 422, "dispatched", http=False,
                         expect={"alert_id": None, "device": None, "state": "dispatched", "rev": 7,
                                 "by": "desk\\u202e 2"}),
}


def next_revision(dispatch: MqttListener, after: int, alert_id: str | None = None) -> dict[str, Any]:
    """The next revision after `after` (of `alert_id`, or of any alert): redeliveries of older ones skipped."""
    while True:
        record: dict[str, Any] = json.loads(dispatch.next(15, "/dispatch/alerts")[1])
        assert_valid("dispatch-alert.json", record)
        if record["rev"] > after and alert_id in (None, record["alert_id"]):
            return record


def refusals(events: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The ack_refused events among `events` (others, e.g. an unrouted alert's, are not the test's)."""
    found = [json.loads(payload) for _topic, payload in events]
    return [event for event in found if event["event"] == "ack_refused"]


def next_refusal(police: MqttListener) -> dict[str, Any]:
    while True:
        found = refusals([police.next(15, "/events")])
        if found:
            assert_valid("dispatch-event.json", found[0])
            return found[0]


def http_answer(bridge: Bridge, alert_id: str, ack: dict[str, Any]) -> tuple[int, str]:
    """What the API answers the same acknowledgement (status, detail as the MQTT event words it)."""
    app = create_app(Settings(api_tokens={"ops": "operator"}), bridge.store, Registry(bridge.store.registry, None, 0),
                     Metrics(), acknowledge=Acknowledgements(bridge.store, lambda _staged: None).apply)
    body = {k: v for k, v in ack.items() if k != "alert_id"}
    answer = TestClient(app).post(f"/alerts/{alert_id}/ack", json=body, headers={"Authorization": "Bearer ops"})
    detail = answer.json()["detail"]
    if isinstance(detail, list):  # FastAPI's 422: where (under body) and what, of the first error
        detail = f"{'.'.join(map(str, detail[0]['loc'][1:])) or 'body'}: {detail[0]['msg']}"
    return answer.status_code, detail


@pytest.mark.parametrize("name", CASES)
def test_a_refused_ack_is_answered_on_the_events_topic(name: str, tmp_path: Path, broker: BrokerUnderTest) -> None:
    case = CASES[name]
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    create_engine(url).dispose()
    with running_bridge(broker, url, escalate_after_s=0) as bridge:
        dispatch = dispatch_listener(broker)
        police = MqttListener(broker.config, "dispatch", broker.config.dispatch_password, [EVENTS])
        button = Button(broker, bridge)
        try:
            button.alert()
            alert_id = next_revision(dispatch, 0)["alert_id"]
            rev = 1
            for state in case.setup:
                police.publish(ACK, json.dumps(_ack(alert_id, state, rev=rev)).encode())
                rev = next_revision(dispatch, rev)["rev"]
            before = bridge.store.timeline(alert_id)

            refused = case.ack(alert_id)
            police.publish(ACK, refused if isinstance(refused, bytes) else json.dumps(refused).encode())
            event = next_refusal(police)
            sent = refused if isinstance(refused, dict) else {}
            expected = {"event": "ack_refused", "device": button.id, "reason": case.reason, "status": case.status,
                        "alert_id": sent.get("alert_id"), "state": sent.get("state"), "rev": sent.get("rev"),
                        "by": "desk 2", **case.expect}
            assert {k: event[k] for k in expected} == expected
            assert event["owner"] is not None or expected["device"] is None  # a registered button: whose it is
            assert event["detail"]
            if case.http:
                assert sent["alert_id"] is not None
                assert http_answer(bridge, sent["alert_id"], sent) == (case.status, event["detail"])

            # nothing else happened: the alert is as it was, no revision went out, no other refusal
            after = bridge.store.timeline(alert_id)
            assert (after[0].state, after[0].rev, after[1]) == (before[0].state, before[0].rev, before[1])
            with pytest.raises(queue.Empty):
                dispatch.next(0.5, "/dispatch/alerts")
            assert refusals(police.drain(0.3)) == []
            assert bridge.metrics.get("dispatch_acks_rejected_total") == 1

            # the next valid acknowledgement still works
            if case.then is None:
                alert_id, rev = f"{button.id}:{button.alert()}", 1
                next_revision(dispatch, 0, alert_id)
            police.publish(ACK, json.dumps(_ack(alert_id, case.then or "acknowledged", rev=rev)).encode())
            moved = next_revision(dispatch, rev, alert_id)
            assert (moved["alert_id"], moved["rev"], moved["state"]) == (alert_id, rev + 1,
                                                                        case.then or "acknowledged")
            assert bridge.metrics.get("dispatch_acks_rejected_total") == 1
        finally:
            for client in (dispatch, police, button.mqtt):
                client.close()
