"""An alert's later states to a button that has only SMS: signed ack SMS, once per state, through the gateway's modem.

    police move an alert (gateway/acknowledge.py) ─→ pipeline.for_revision stages `sms_ack`
      ─→ gateway/storage/smsacks.py keeps it only for an alert with an SMS route (it came by SMS)
      ─→ this worker: claim due rows → sign (gateway/sms/format.py ack_text) → modem → sent | retried | given up

The rule (docs/sms.md, "States after received"): an alert that reached the
gateway by SMS, its first copy or a repeat, has its states the button shows
(lifecycle.SHOWN_TO_DEVICE, as the MQTT acks) texted to the number of its
latest SMS copy, besides the MQTT ack. The gateway cannot tell whether the
button's data link came back; a text too many costs one SMS and the button
takes it as the MQTT ack it already had, a text too few leaves a presser not
knowing police are coming.

Everything it has not finished is in the table: a restart carries on, and a
state already texted is never texted again (the row stays). A crash between
sending and recording may send that one SMS twice; nothing else can. The
worker runs in its own thread: a slow or broken modem delays these texts,
never the move police made (that is committed before the row is seen here).
Failures are logged and counted (`sms_state_ack_failures_total`), retried on the
notifier's back-off (notify_retry_s doubling to notify_retry_max_s), given
up after notify_max_attempts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.notify.worker import backoff_s
from gateway.periodic import Periodic
from gateway.settings import Settings
from gateway.sms import format as smsformat
from gateway.sms.modem import SmsSender
from gateway.storage.common import utcnow
from gateway.storage.smsacks import Outgoing
from gateway.storage.store import Store

log = logging.getLogger("gateway.sms.acks")


class SmsAckWorker:
    def __init__(self, settings: Settings, store: Store, sender: SmsSender, metrics: Metrics,
                 poll_s: float | None = None) -> None:
        self.settings = settings
        self.store = store
        self.sender = sender
        self.metrics = metrics
        self.loop = Periodic("gateway-sms-acks", poll_s if poll_s is not None else settings.outbox_poll_s,
                             lambda: self.run_once(utcnow()), metrics, "sms_state_ack_errors_total", log)
        # wake(): a move was committed (publisher.on_committed), look now rather than at the next poll
        self.start, self.stop, self.wake = self.loop.start, self.loop.stop, self.loop.wake

    def run_once(self, now: datetime) -> int:
        """Send the due state SMS; returns how many were taken."""
        due = self.store.claim_sms_acks(now)
        for item in due:
            self._send(item, now)
        return len(due)

    def _send(self, item: Outgoing, now: datetime) -> None:
        key = self.store.device_key(item.device_id)
        if key is None:  # the device is gone (or revoked): nobody to sign for
            self.store.sms_ack_failed(item, "no key for the device", None)
            self.metrics.inc("sms_state_ack_failures_total", state=item.state)
            log.warning("state SMS %s for alert %s not sent: the device has no key", item.state, item.alert_id)
            return
        text = smsformat.ack_text(key, item.device_id, item.ref, item.state, int(now.timestamp()))
        try:
            self.sender.send_sms(item.recipient, text)
        except Exception as exc:  # the modem's error, or no answer: retried from the table
            self.metrics.inc("sms_state_ack_failures_total", state=item.state)
            give_up = item.attempts >= self.settings.notify_max_attempts
            retry_at = None if give_up else now + timedelta(seconds=backoff_s(self.settings, item.attempts))
            self.store.sms_ack_failed(item, f"{type(exc).__name__}: {exc}", retry_at)
            log.warning("state SMS %s for alert %s to %s not sent: %s (attempt %d%s)", item.state, item.alert_id,
                        printable(item.recipient, 40), exc, item.attempts, "; given up" if give_up else "; will retry")
            return
        self.store.sms_ack_sent(item, utcnow())
        self.metrics.inc("sms_state_acks_total", state=item.state)
        log.info("state SMS %s for alert %s sent to %s", item.state, item.alert_id, printable(item.recipient, 40))
