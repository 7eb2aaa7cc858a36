"""The notifier loop: staged events → one message per recipient → sent, retried with back-off, logged.

    every notify poll: notify_events due → recipients (gateway/notify/recipients.py) → notifications rows
                       notifications due → the channel's notifier → sent | due again after a back-off | failed

Everything it has not finished is in the tables: a restart (or another
instance, once a lease ends) carries on, and a message already sent is
never sent again. A crash between sending and recording it may send that
one message twice; nothing else can.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from gateway import enrich
from gateway.metrics import Metrics
from gateway.notify import recipients
from gateway.notify.channels import Notifier, NotifyError, WebhookNotifier
from gateway.periodic import Periodic
from gateway.settings import Settings
from gateway.stations.alerts import route_alert
from gateway.stations.directory import StationDirectory
from gateway.storage.common import utcnow
from gateway.storage.notifications import EventItem, Outgoing
from gateway.storage.store import Store

log = logging.getLogger("gateway.notify")


class NotifyWorker:
    def __init__(self, settings: Settings, store: Store, stations: StationDirectory, metrics: Metrics,
                 notifiers: Sequence[Notifier], poll_s: float | None = None) -> None:
        """`notifiers`: the channels this instance can send on (a webhook notifier, an SMS notifier with
        the modem); messages for a channel it lacks are not created."""
        self.settings = settings
        self.store = store
        self.stations = stations
        self.metrics = metrics
        self.notifiers = {n.channel: n for n in notifiers}
        self.loop = Periodic("gateway-notify", poll_s if poll_s is not None else settings.outbox_poll_s,
                             lambda: self.run_once(utcnow()), metrics, "notify_errors_total", log)
        # wake(): something was staged, look now rather than at the next poll
        self.start, self.stop, self.wake = self.loop.start, self.loop.stop, self.loop.wake

    def run_once(self, now: datetime) -> int:
        """Expand the due events, send the due messages; returns how much was done."""
        events = self.store.claim_notify_events(now)
        for event in events:
            self._expand(event, now)
        outgoing = self.store.claim_notifications(now, list(self.notifiers)) if self.notifiers else []
        for item in outgoing:
            self._send(item, now)
        return len(events) + len(outgoing)

    def _expand(self, event: EventItem, now: datetime) -> None:
        context = self.store.contexts([event.alert_id]).get(event.alert_id)
        found = []
        if context is not None:  # else its device is gone: nobody to tell about it
            where = enrich.alert_location(context, self.settings.location_fix_max_age_s)
            routing = route_alert(self.stations, where, self.settings.dispatch_candidates)
            webhook = self.notifiers.get("webhook")
            found = recipients.messages(
                event, context, where, routing, self.stations.router(), sms="sms" in self.notifiers,
                webhooks=webhook.recipients if isinstance(webhook, WebhookNotifier) else [],
                station_lang=self.settings.notify_station_lang)
        added = self.store.expand(event, found, now)
        log.info("alert %s %s: %d notifications", event.alert_id, event.event, added)

    def _send(self, item: Outgoing, now: datetime) -> None:
        try:
            self.notifiers[item.channel].send(item.recipient, item.text)
        except NotifyError as exc:
            self.metrics.inc("notify_failures_total", channel=item.channel)
            give_up = exc.final or item.attempts >= self.settings.notify_max_attempts
            retry_at = None if give_up else now + timedelta(seconds=self._backoff(item.attempts))
            self.store.notification_failed(item, str(exc), retry_at)
            log.warning("alert %s %s by %s: %s (attempt %d%s)", item.alert_id, item.event, item.channel, exc,
                        item.attempts, "; given up" if give_up else "; will retry")
            return
        self.store.notification_sent(item, now)
        self.metrics.inc("notifications_sent_total", channel=item.channel)

    def _backoff(self, attempts: int) -> float:
        return backoff_s(self.settings, attempts)


def backoff_s(settings: Settings, attempts: int) -> float:
    """How long after a failed send (the `attempts`-th) it is tried again: notify_retry_s, doubling to the maximum.
    The SMS state acks (gateway/sms/acks.py) retry on the same schedule."""
    return float(min(settings.notify_retry_s * 2 ** (attempts - 1), settings.notify_retry_max_s))
