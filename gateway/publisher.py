"""The outbox publisher: publish what is staged, forget it on the broker's confirmation.

One thread, a straight line per batch:

    take items  (committed just now by this process, or claimed from the table when due)
    → render each (enrich and route to a station, sign); an alert's first revision
      rendered without a station stages an `unrouted` event, once per alert
    → publish all (QoS 1) → wait for every PUBACK
    → one transaction: confirmed rows deleted, dispatch alerts kept as `sent`
      until dispatch's receipt; unconfirmed rows due again

Nothing about "what is not yet published" lives in memory: a row leaves the
table only once confirmed, so a crash anywhere re-publishes from the table
(attempts > 1: flagged as a redelivery). Items handed over in memory are
already claimed in the table, the queue only saves a round trip.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import paho.mqtt.client as mqtt

from gateway import pipeline
from gateway.metrics import Metrics
from gateway.render import AlertRouting, Unrouted, render
from gateway.settings import Settings
from gateway.stations.alerts import route_alert
from gateway.stations.directory import StationDirectory
from gateway.storage import unrouted
from gateway.storage.alerts import AlertContext
from gateway.storage.common import utcnow
from gateway.storage.outbox import OutboxItem
from gateway.storage.stations import StationStore
from gateway.storage.store import Store

log = logging.getLogger("gateway.publisher")

BATCH_MAX = 200
RETRY_S = 2.0  # a publication that failed (render or broker) is due again after this long

# topic, payload, qos -> paho's handle on the message (its PUBACK)
Send = Callable[[str, bytes, int], mqtt.MQTTMessageInfo]


class Publisher:
    def __init__(self, settings: Settings, store: Store, metrics: Metrics, send: Send,
                 connected: threading.Event, stations: StationDirectory | None = None) -> None:
        """`stations`: the process's station directory (the API shares it); None: one is made here."""
        self.settings = settings
        self.stations = (stations if stations is not None
                         else StationDirectory(StationStore(store.sessions), check_s=settings.stations_check_s))
        self.routing = AlertRouting(lambda location: route_alert(self.stations, location,
                                                                 settings.dispatch_candidates),
                                    settings.location_fix_max_age_s)
        self.store = store
        self.metrics = metrics
        self.send = send
        self.connected = connected
        self._handed: queue.Queue[OutboxItem] = queue.Queue()
        # Called after each hand-over of committed rows: what else was staged with them (the DC-09
        # forwarder's rows, gateway/dc09/) is committed now too.
        self.on_committed: list[Callable[[], None]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-publisher", daemon=True)

    def start(self) -> None:
        # Claims this instance held when it stopped (or crashed) are due at once.
        released = self.store.release_mine(utcnow())
        if released:
            log.info("%d publications left by the previous run are due again", released)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def submit(self, items: list[OutboxItem]) -> None:
        """Publish these staged items soon (they are committed and claimed by this instance)."""
        for item in items:
            self._handed.put(item)
        if items:
            for listener in self.on_committed:
                listener()

    # --- the loop ------------------------------------------------------------------

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stopping.is_set():
            if not self.connected.wait(0.2):
                continue
            items = self._take(timeout=max(0.0, min(0.2, next_poll - time.monotonic())))
            try:
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.settings.outbox_poll_s
                    items += self._due()
                if items:
                    self.publish(items)
            except Exception:
                # Storage trouble: the rows stay in the table and fall due again when their lease ends.
                self.metrics.inc("publisher_errors_total")
                log.exception("publishing a batch of %d failed; it stays staged", len(items))
                self._stopping.wait(RETRY_S)

    def _take(self, timeout: float) -> list[OutboxItem]:
        items = []
        try:
            items.append(self._handed.get(timeout=timeout))
            while len(items) < BATCH_MAX:
                items.append(self._handed.get_nowait())
        except queue.Empty:
            pass
        return items

    def _due(self) -> list[OutboxItem]:
        """Rows due from the table: failed earlier, awaiting a receipt, or left by a crashed instance."""
        now = utcnow()
        if self.settings.dispatch_receipt_retry_s > 0:
            late, staged = self.store.report_unreceipted(
                now, self.settings.dispatch_unreceipted_after_s,
                lambda found: pipeline.for_unreceipted(found, self.settings.dispatch_unreceipted_after_s, now))
            for item in late:
                self.metrics.inc("dispatch_unreceipted_total")
                log.warning("alert %s rev %d: no dispatch consumer has receipted it within %g s",
                            item.alert_id, item.rev, self.settings.dispatch_unreceipted_after_s)
            self.submit(staged)
        return self.store.claim_due(now, BATCH_MAX)

    # --- one batch, a straight line -------------------------------------------------

    def publish(self, items: list[OutboxItem]) -> None:
        sent: list[tuple[OutboxItem, list[mqtt.MQTTMessageInfo]]] = []
        gone: list[int] = []
        failed: list[int] = []
        contexts, broken = self._contexts([i.alert_id for i in items if i.kind == "dispatch_alert" and i.alert_id])
        for item in items:
            try:
                if item.alert_id in broken:
                    raise broken[item.alert_id]
                unrouted_now: list[Unrouted] = []
                messages = render(item, self.store, contexts, self.routing, unrouted_now)
                if messages is None:
                    gone.append(item.id)
                    continue
                self._report_unrouted(unrouted_now)
                sent.append((item, [self.send(topic, payload, item.qos) for topic, payload in messages]))
            except Exception as exc:
                # The broker link, or a bug in rendering this one row: it stays staged
                # and due again later, and the rows beside it go out.
                failed.append(item.id)
                self.metrics.inc("publish_failures_total", kind=item.kind)
                log.warning("could not publish %s %s: %r; due again in %g s", item.kind,
                            item.alert_id or item.device_id or item.topic, exc, RETRY_S)
        deadline = time.monotonic() + self.store.lease_s / 2
        confirmed = []
        for item, infos in sent:
            if all(self._confirmed(info, deadline) for info in infos):
                confirmed.append(item)
            else:
                failed.append(item.id)
        now = utcnow()
        self.store.confirm(confirmed, now, self._receipt_backoff if self.settings.dispatch_receipt_retry_s > 0
                           else None)
        self.store.forget(gone)
        self.store.release(failed, now + timedelta(seconds=RETRY_S))
        for item in confirmed:
            self._count(item)

    def _report_unrouted(self, found: list[Unrouted]) -> None:
        """Stage the `unrouted` event of an alert's first revision, before it is published
        (once published, a receipt may close its row, and with it the mark that says it was reported)."""
        for entry in found:
            item = entry.item
            if item.rev != 1 or item.alert_id is None or item.device_id is None:
                continue
            if (item.body or {}).get(unrouted.MARK):
                continue  # a re-publication of a row already reported (claimed rows carry the mark)
            at = utcnow()
            staged = unrouted.stage_once(self.store, item.id,
                                         pipeline.for_unrouted(item.alert_id, item.device_id, entry.why, at), at)
            if staged:
                self.metrics.inc("dispatch_unrouted_total")
                log.warning("alert %s: %s", item.alert_id, entry.why)
            self.submit(staged)

    def _contexts(self, alert_ids: list[str]) -> tuple[dict[str, AlertContext], dict[str, Exception]]:
        """Enrichment data for the batch's alerts in one go; if that fails, alert by alert,
        so that one alert that cannot be enriched (a bug) does not hold the others back."""
        try:
            return self.store.contexts(alert_ids), {}
        except Exception:
            log.exception("enriching a batch of %d alerts failed; trying them one by one", len(alert_ids))
        contexts: dict[str, AlertContext] = {}
        broken: dict[str, Exception] = {}
        for alert_id in alert_ids:
            try:
                contexts.update(self.store.contexts([alert_id]))
            except Exception as exc:
                broken[alert_id] = exc
        return contexts, broken

    def _confirmed(self, info: mqtt.MQTTMessageInfo, deadline: float) -> bool:
        """Wait for the broker's PUBACK while the link is up (paho resends after a reconnect)."""
        try:
            while not info.is_published():
                if self._stopping.is_set() or not self.connected.is_set() or time.monotonic() > deadline:
                    return False
                info.wait_for_publish(0.1)
        except (RuntimeError, ValueError):
            return False  # paho refused the message (no connection, queue full)
        return True

    def _receipt_backoff(self, item: OutboxItem) -> float:
        first = self.settings.dispatch_receipt_retry_s
        return float(min(first * 2 ** (item.attempts - 1), self.settings.dispatch_receipt_retry_max_s))

    def _count(self, item: OutboxItem) -> None:
        if item.kind == "dispatch_alert":
            self.metrics.inc("dispatch_published_total")
            if item.redelivery:
                self.metrics.inc("dispatch_redelivered_total")
            log.info("alert %s rev %d published to dispatch%s", item.alert_id, item.rev,
                     " (redelivery)" if item.redelivery else "")
        elif item.kind == "device_ack":
            assert item.body is not None
            self.metrics.inc("device_acks_total", state=str(item.body["state"]))
        elif item.kind == "device_cmd":
            assert item.body is not None
            self.metrics.inc("commands_sent_total", cmd=str(item.body["cmd"]["cmd"]))
            log.info("command %d (%s cseq %d) sent to %s", item.body["id"], item.body["cmd"]["cmd"],
                     item.body["cmd"]["cseq"], item.device_id)
        else:
            assert item.body is not None
            self.metrics.inc("events_total", event=str(item.body["event"]))
