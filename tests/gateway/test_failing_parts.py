"""Failing parts swapped in, in process: the gateway loses nothing and keeps going."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy.exc import OperationalError

from gateway.protocol import DispatchAck
from gateway.storage.alerts import AlertContext
from gateway.storage.db import migrate
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Acceptance, Candidate, Store
from gateway.storage.window import Plan
from gateway.topics import DISPATCH_ALERTS
from tests.conftest import BrokerUnderTest
from tests.gateway.inprocess import Button, dispatch_listener, running_bridge


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    return url


def test_a_revision_committed_while_publishing_fails_is_published_when_the_broker_is_back(
    broker: BrokerUnderTest, sqlite_url: str
) -> None:
    """Hole 4: the acknowledgement commits, publishing fails; the retry changes nothing and must not lose it."""
    with running_bridge(broker, sqlite_url) as bridge:
        dispatch = dispatch_listener(broker)
        button = Button(broker, bridge)
        try:
            seq = button.alert()
            assert json.loads(dispatch.next(10, "/alerts")[1])["rev"] == 1
            real, down = bridge.publisher.send, threading.Event()

            def send(topic: str, payload: bytes, qos: int) -> mqtt.MQTTMessageInfo:
                if down.is_set() and topic == DISPATCH_ALERTS:
                    raise OSError("the broker link is down")
                return real(topic, payload, qos)

            bridge.publisher.send = send
            down.set()
            ack = DispatchAck(alert_id=f"{button.id}:{seq}", state="acknowledged", by="desk 2")
            assert bridge.acknowledgements.apply(ack).rev == 2  # the operator's request
            assert bridge.acknowledgements.apply(ack).rev == 2  # and the retry: nothing changes
            with pytest.raises(queue.Empty):
                dispatch.next(1.5, "/alerts")
            down.clear()  # the broker is back
            record = json.loads(dispatch.next(10, "/alerts")[1])
            assert (record["alert_id"], record["rev"], record["state"]) == (ack.alert_id, 2, "acknowledged")
            assert record["redelivery"] is True  # it may have gone out before the failure was seen
        finally:
            button.close()
            dispatch.close()


class FailsOnTestAlerts(Store):
    """A stand-in for a bug that breaks judging some messages (and nothing else)."""

    def accept_and_stage(self, candidates: Sequence[Candidate], now: datetime,
                         plan: Plan) -> tuple[list[Acceptance], list[OutboxItem]]:
        if any(c.body and c.body["type"] == "test" for c in candidates):
            raise ValueError("a bug that only test alerts trigger")
        return super().accept_and_stage(candidates, now, plan)


def test_a_message_that_keeps_failing_is_parked_and_the_rest_flows(broker: BrokerUnderTest,
                                                                     sqlite_url: str) -> None:
    """One bad message must not stall every alert behind it, and must not be lost either."""
    dispatch = dispatch_listener(broker)
    try:
        with running_bridge(broker, sqlite_url, store_type=FailsOnTestAlerts) as bridge:
            button = Button(broker, bridge)
            button.alert(type="test")  # judging will fail for this one
            button.alert()  # an SOS right behind it
            record = json.loads(dispatch.next(30, "/alerts")[1])
            assert (record["alert_id"], record["type"]) == (f"{button.id}:2", "sos")
            assert bridge.metrics.get("parked_total") == 1
        # fixed and restarted, the gateway gets the parked alert again from its session
        with running_bridge(broker, sqlite_url):
            record = json.loads(dispatch.next(15, "/alerts")[1])
            assert (record["alert_id"], record["type"]) == (f"{button.id}:1", "test")
            assert [t for t, _ in dispatch.drain(1.5) if t.endswith("/alerts")] == [], "dispatched once"
        button.close()
    finally:
        dispatch.close()


class EnrichmentFailsForTestAlerts(Store):
    """A stand-in for a bug in enrichment that only some alerts trigger."""

    def contexts(self, alert_ids: Sequence[str]) -> dict[str, AlertContext]:
        found = super().contexts(alert_ids)
        if any(context.alert.type == "test" for context in found.values()):
            raise KeyError("a bug that only test alerts trigger")
        return found


def test_an_alert_that_cannot_be_rendered_waits_in_the_outbox_and_the_rest_flows(
    broker: BrokerUnderTest, sqlite_url: str
) -> None:
    dispatch = dispatch_listener(broker)
    try:
        with running_bridge(broker, sqlite_url, store_type=EnrichmentFailsForTestAlerts) as bridge:
            button = Button(broker, bridge)
            button.alert(type="test")
            button.alert()
            record = json.loads(dispatch.next(10, "/alerts")[1])
            assert (record["alert_id"], record["type"]) == (f"{button.id}:2", "sos")
            deadline = time.monotonic() + 15
            while bridge.metrics.get("publish_failures_total", kind="dispatch_alert") < 2:  # tried again
                assert time.monotonic() < deadline, "the failed publication was not tried again"
                time.sleep(0.1)
            assert [t for t, _ in dispatch.drain(0.5) if t.endswith("/alerts")] == []
            assert bridge.store.outbox_backlog() == 1  # committed, waiting: the button got its ack
        with running_bridge(broker, sqlite_url):  # fixed and restarted
            record = json.loads(dispatch.next(10, "/alerts")[1])
            assert (record["alert_id"], record["type"]) == (f"{button.id}:1", "test")
        button.close()
    finally:
        dispatch.close()


class DatabaseAwayAtFirst(Store):
    """Claiming due rows fails for the first few polls, as with a database restarting."""

    failures = 3

    def claim_due(self, now: datetime, limit: int) -> list[OutboxItem]:
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE outbox …", {}, Exception("the database is restarting"))
        return super().claim_due(now, limit)


def test_the_publisher_outlives_a_database_outage(broker: BrokerUnderTest, sqlite_url: str) -> None:
    dispatch = dispatch_listener(broker)
    try:
        with running_bridge(broker, sqlite_url, store_type=DatabaseAwayAtFirst, outbox_poll_s=0.1) as bridge:
            deadline = time.monotonic() + 10
            while bridge.metrics.get("publisher_errors_total") < 3:
                assert time.monotonic() < deadline, "the polls did not fail as arranged"
                time.sleep(0.05)
            button = Button(broker, bridge)
            button.alert()
            assert json.loads(dispatch.next(10, "/alerts")[1])["alert_id"] == f"{button.id}:1"
            button.close()
    finally:
        dispatch.close()
