"""Dispatch acts on an alert: one service for acknowledgements over MQTT and over HTTP.

    Acknowledgements.apply(ack) → the alert, as stored

The new state, its revision to dispatch and the state to the button are
committed in one transaction (the outbox), then handed to the publisher. A
retried acknowledgement changes nothing and publishes nothing new (the
revision it repeats is already staged or published) but tells the button
again. Errors are `StoreError`s: not_found, or conflict for a move back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway import pipeline
from gateway.logsafe import printable
from gateway.protocol import DispatchAck
from gateway.storage.common import utcnow
from gateway.storage.models import Alert
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Store

log = logging.getLogger("gateway.acknowledge")


class Acknowledgements:
    def __init__(self, store: Store, submit: Callable[[list[OutboxItem]], None]) -> None:
        self.store = store
        self.submit = submit  # hands committed publications to the publisher

    def apply(self, ack: DispatchAck) -> Alert:
        now = utcnow()
        revision = self.store.set_dispatch_state(
            ack.alert_id, ack.state, ack.by, ack.note, ack.false_alarm, now,
            plan=lambda alert, changed: pipeline.for_revision(alert, changed, ack.state),
        )
        self.submit(revision.staged)
        if revision.changed:
            log.info("alert %s %s by %s (rev %d)", ack.alert_id, ack.state, printable(ack.by, 100), revision.alert.rev)
        return revision.alert
