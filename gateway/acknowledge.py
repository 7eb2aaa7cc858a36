"""Dispatch acts on an alert: one service for acknowledgements over MQTT and over HTTP.

    Acknowledgements.apply(ack) → the alert, as stored

The new state (gateway/lifecycle.py), its transition (actor, time, note),
its revision to dispatch, the state to the button and the people to notify
are committed in one transaction (the outbox), then handed to the
publisher. A retried acknowledgement (the state the alert already has)
changes nothing and publishes nothing new (the revision it repeats is
already staged or published) but tells the button again. Errors are
`StoreError`s: not_found, or conflict for a move that is not allowed or a
stale revision. Over HTTP the error is the answer; over MQTT `refuse` stages
it as an `ack_refused` event (gateway/ack_refusal.py), and nothing else.

The time from the press to the first answer and to officers on scene goes
to /metrics as histograms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway import lifecycle, pipeline
from gateway.ack_refusal import Refusal
from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.protocol import DispatchAck
from gateway.storage.common import as_utc, utcnow
from gateway.storage.models import Alert
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Store

log = logging.getLogger("gateway.acknowledge")

# The first answer to an alert: any of these, straight from `new` (or from escalation, still `new`).
_ANSWERS = frozenset({"acknowledged", "dispatched", "on_scene"})


# A device clock further behind the gateway's than this is not believed (never set, a flat RTC
# battery): one such button would otherwise put years into the histograms' sums. The console's
# timer draws the same line (gateway/console/static/app.js `since`).
PLAUSIBLE_DELAY = timedelta(days=1)


def pressed_at(alert: Alert) -> datetime:
    """When the button was pressed: its own clock when it had one and it is neither after the
    gateway received the alert nor more than PLAUSIBLE_DELAY before, else when the gateway received it."""
    received = as_utc(alert.received_at)
    ts = (alert.body or {}).get("ts")
    if isinstance(ts, int) and not isinstance(ts, bool):
        pressed = datetime.fromtimestamp(ts, UTC)
        if received - PLAUSIBLE_DELAY <= pressed <= received:
            return pressed
    return received


class Acknowledgements:
    def __init__(self, store: Store, submit: Callable[[list[OutboxItem]], None],
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.submit = submit  # hands committed publications to the publisher
        self.metrics = metrics if metrics is not None else Metrics()

    def apply(self, ack: DispatchAck) -> Alert:
        return self.transition(ack.alert_id, ack.state, ack.by, ack.note, rev=ack.rev)

    def transition(self, alert_id: str, state: str, by: str, note: str | None = None, *,
                   rev: int | None = None) -> Alert:
        """Move an alert to `state`: what dispatch's acknowledgements do, and what the button's
        cancel request does (`cancel_requested`, by the device)."""
        now = utcnow()
        revision = self.store.set_dispatch_state(
            alert_id, state, by, note, now, rev=rev,
            plan=lambda alert, changed: pipeline.for_revision(alert, changed, state),
        )
        self.submit(revision.staged)
        alert = revision.alert
        if revision.changed:
            log.info("alert %s %s -> %s by %s (rev %d)", alert_id, revision.previous, state, printable(by, 100),
                     alert.rev)
            self.metrics.inc("alert_transitions_total", state=state)
            self._time_it(alert, revision.previous, now)
        return alert

    def refuse(self, refusal: Refusal) -> None:
        """Tell dispatch why an acknowledgement over MQTT was refused: one event, committed and handed
        to the publisher. The alert is not touched."""
        now = utcnow()
        self.submit(self.store.stage_alone(pipeline.for_refused_ack(refusal, now), now))

    def _time_it(self, alert: Alert, previous: str, now: datetime) -> None:
        if not lifecycle.escalates(alert.type):
            return  # tests and technical reports are not answered by officers
        since_press = max(0.0, (now - pressed_at(alert)).total_seconds())
        if previous == "new" and alert.state in _ANSWERS:
            self.metrics.observe("alert_press_to_acknowledged_seconds", since_press)
        if alert.state == "on_scene":
            self.metrics.observe("alert_press_to_on_scene_seconds", since_press)
