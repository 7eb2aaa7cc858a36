"""The MQTT pipeline: device topics in, dispatch topics and device acks out.

    receive (paho, persistent session, QoS 1, manual ack)
      → Ingest: size → topic → sig envelope → registry → HMAC → JSON → fields → dev → replay window
      → commit (Store.accept) → enrich → publish to dispatch → signed ack to device
      → ack the broker's delivery

Resilience, next to the code that provides it:
- The broker's PUBACK to the device only says the broker has the alert. We
  ack the broker (paho manual ack) only after the alert is committed, so a
  gateway killed at any point gets the message again from its persistent
  session (clean_session=False, fixed client id) after restart.
- A message seen again is a duplicate (same seq, same bytes): the device is
  acked again and nothing new is dispatched.
- Dispatch publications are tracked until the broker's PUBACK; an alert whose
  newest revision is committed but not yet confirmed published is published
  again whenever the bridge (re)connects.
- One worker thread does all storage work in arrival order; paho's network
  thread only queues. Device messages already waiting are judged and
  committed as one batch (one transaction) and acked together after it. If
  storage or the network fails, the worker retries the same messages with
  back-off and never acks them meanwhile: nothing is lost, nothing skipped.
- A message that keeps failing for any other reason (a bug) is parked after
  a few tries: left unacked, so the broker redelivers it after a restart,
  while the alerts behind it flow (`panic_parked_total`, a CRITICAL log line).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from gateway import enrich, protocol
from gateway.ingest import Ingest, Outcome
from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.protocol import DispatchAck
from gateway.settings import Settings
from gateway.storage.models import Alert
from gateway.storage.store import CasContention, Store, StoreError, utcnow

log = logging.getLogger("gateway.bridge")

DISPATCH_ALERTS = "panic/v1/dispatch/alerts"
DISPATCH_EVENTS = "panic/v1/dispatch/events"
DISPATCH_ACK = "panic/v1/dispatch/ack"
_RETRY_MAX_S = 5.0
# Work kinds, most urgent first: an alert never waits behind a heap of
# heartbeats. Each kind's queued items are handled together, at most so many
# at once (one transaction each batch); heartbeat batches stay small so an
# alert arriving meanwhile waits only a few milliseconds.
PRIORITY = {"alert": 0, "job": 1, "published": 1, "hb": 2}
BATCH_MAX = {"alert": 100, "published": 500, "hb": 200}
POISON_FAILURES = 3  # failures, for a reason other than storage or network trouble, before a message is parked


class Backpressure(RuntimeError):
    """A queue or a compare-and-set that will clear: retry."""


def _transient(exc: Exception) -> bool:
    """Trouble that goes away by itself: the database or the network. Worth retrying forever."""
    return isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError, Backpressure, CasContention))


def station_topic(station_id: str) -> str:
    return f"panic/v1/dispatch/stations/{station_id}/alerts"


class Bridge:
    def __init__(self, settings: Settings, store: Store, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.ingest = Ingest(store, metrics, settings.max_payload_bytes)
        self.connected = threading.Event()
        # (priority, arrival, kind, item), kind being one of PRIORITY's:
        # "alert"/"hb": a device message; "published": (alert_id, rev) of a
        # dispatch PUBACK; "job": (callable, args), run one by one.
        self._work: queue.PriorityQueue[tuple[int, int, str, Any]] = queue.PriorityQueue()
        self._arrival = itertools.count()  # keeps FIFO order within a priority
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._run_worker, name="gateway-worker", daemon=True)
        # mid -> (alert_id, rev) of dispatch publications awaiting the broker's PUBACK,
        # and alert ids whose PUBACK came but whose published_rev is not stored yet:
        # together, the alerts that must not be published again meanwhile.
        self._pending: dict[int, tuple[str, int]] = {}
        self._confirming: set[str] = set()
        self._early_acks: set[int] = set()
        self._pending_lock = threading.Lock()
        self._last_event: dict[tuple[str, str], float] = {}
        self.client = self._make_client()

    # --- lifecycle -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.mqtt_client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.username_pw_set(self.settings.mqtt_username, self.settings.mqtt_password.get_secret_value())
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        self._worker.start()
        threading.Thread(target=self._run_supervision_timer, name="gateway-supervision", daemon=True).start()
        self.client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping.set()
        self._put("job", (lambda: None, ()))
        self._worker.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho callbacks (network thread: queue work, never block) ----------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the gateway's connection: %s", reason)
            return
        share = f"$share/{self.settings.mqtt_shared_group}/" if self.settings.mqtt_shared_group else ""
        client.subscribe([
            (f"{share}panic/v1/dev/+/alert", 1),
            (f"{share}panic/v1/dev/+/hb", 0),
            ("panic/v1/dev/+/status", 1),
            (f"{share}{DISPATCH_ACK}", 1),
        ])
        log.info("connected to broker %s:%s", self.settings.mqtt_host, self.settings.mqtt_port)
        self.connected.set()
        self._put("job", (self._republish_pending, ()))

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Properties | None) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("lost the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/alert"):
            self._put("alert", message)
        elif message.topic.endswith("/hb"):
            self._put("hb", message)
        else:
            self._put("job", (self._handle, (message,)))

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: ReasonCode, _props: Properties
    ) -> None:
        with self._pending_lock:
            item = self._pending.pop(mid, None)
            if item is None:
                self._early_acks.add(mid)
            else:
                self._confirming.add(item[0])
        if item is not None:
            self._put("published", item)

    # --- the worker thread ---------------------------------------------------------------

    def _put(self, kind: str, item: Any) -> None:
        self._work.put((PRIORITY[kind], next(self._arrival), kind, item))

    def _run_worker(self) -> None:
        batch_handlers: dict[str, Callable[[list[Any]], None]] = {
            "alert": self._device_messages,
            "hb": self._device_messages,
            "published": self._mark_published_many,
        }
        held: tuple[int, int, str, Any] | None = None
        while not self._stopping.is_set():
            _, _, kind, item = held or self._work.get()
            held = None
            if kind in batch_handlers:
                # Whatever of the same kind is already queued is handled together:
                # one transaction, one fsync, for the lot.
                batch = [item]
                while len(batch) < BATCH_MAX[kind]:
                    try:
                        queued = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if queued[2] != kind:
                        held = queued
                        break
                    batch.append(queued[3])
                self._retrying(batch_handlers[kind], batch)
            else:
                job, args = item
                self._retrying(job, *args)

    def _retrying(self, job: Callable[..., None], *args: Any) -> None:
        delay = 0.1
        failures = 0
        while not self._stopping.is_set():
            try:
                job(*args)
                return
            except Exception as exc:
                # Storage or broker trouble: keep the messages (no broker ack), retry.
                # Judging again is safe: a committed message comes back as a duplicate.
                failures += 1
                self.metrics.inc("worker_errors_total")
                if failures >= POISON_FAILURES and not _transient(exc):
                    self._park(job, args, exc)
                    return
                log.exception("processing failed; retrying in %.1fs", delay)
                time.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)

    def _park(self, job: Callable[..., None], args: tuple[Any, ...], exc: Exception) -> None:
        """Step around a message that fails for a reason retrying will not cure.

        One bad message must not stall every alert behind it. A batch is
        retried message by message, so only the culprit is parked; a parked
        device message is never acked, so the broker keeps it in the
        gateway's session and delivers it again after a restart (with the
        fix): it is set aside, not lost.
        """
        if job == self._device_messages and len(args[0]) > 1:
            log.error("a batch of %d failed (%r); retrying its messages one by one", len(args[0]), exc)
            for message in args[0]:
                self._retrying(job, [message])
            return
        self.metrics.inc("parked_total")
        what = args[0][0].topic if job == self._device_messages else getattr(job, "__name__", "job")
        log.critical("parked %s after %d failures (%r): left unacknowledged for redelivery after a "
                     "restart; the worker goes on", what, POISON_FAILURES, exc)

    def _handle(self, message: mqtt.MQTTMessage) -> None:
        topic, payload = message.topic, bytes(message.payload)
        if topic == DISPATCH_ACK:
            self._dispatch_ack(payload)
        else:
            self._device_status(topic, payload)
        if message.qos > 0:
            self.client.ack(message.mid, message.qos)

    def _device_messages(self, messages: list[mqtt.MQTTMessage]) -> None:
        outcomes = self.ingest.device_batch([(m.topic, bytes(m.payload)) for m in messages], utcnow())
        if any(o.verdict == "new" and o.alert for o in outcomes):
            self._fault_point("after_commit")
        for outcome in outcomes:
            self._after_commit(outcome)
        for message in messages:  # only now may the broker forget them
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def _after_commit(self, outcome: Outcome) -> None:
        if outcome.verdict == "rejected":
            self._rejection_event(outcome)
            return
        if outcome.alert is None:
            return  # a heartbeat: the window update was all there was to do
        alert = outcome.alert
        if outcome.verdict == "new" or alert.published_rev < alert.rev:
            # new, or committed earlier but its dispatch publication not confirmed
            self.publish_alert(alert.id, skip_if_in_flight=outcome.verdict != "new", alert=alert)
        self._ack_device(alert.device_id, alert.seq, "received")
        if outcome.verdict == "duplicate" and alert.state != "new":
            self._ack_device(alert.device_id, alert.seq, alert.state)

    # --- publishing --------------------------------------------------------------------

    def publish_alert(self, alert_id: str, skip_if_in_flight: bool = False, alert: Alert | None = None) -> None:
        """Publish the alert's newest revision to dispatch (and its station's topic)."""
        if skip_if_in_flight and alert_id in self._in_flight():
            return
        context = self.store.context(alert_id, alert)
        if self.settings.fault_point == "enrich_test_alerts" and context.alert.type == "test":
            raise ValueError("fault point enrich_test_alerts")  # a stand-in for an enrichment bug
        record = enrich.dispatch_alert(context)
        payload = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        topics = [DISPATCH_ALERTS]
        if record["station"]:
            topics.append(station_topic(record["station"]["id"]))
        for index, topic in enumerate(topics):
            info = self.client.publish(topic, payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                raise Backpressure("paho's outgoing queue is full")
            if index == 0:  # the common topic's PUBACK marks the revision published
                self._track(info.mid, alert_id, record["rev"])
        self.metrics.inc("dispatch_published_total")
        log.info("alert %s rev %d published to dispatch", alert_id, record["rev"])

    def _in_flight(self) -> set[str]:
        with self._pending_lock:
            return {alert_id for alert_id, _ in self._pending.values()} | self._confirming

    def _track(self, mid: int, alert_id: str, rev: int) -> None:
        with self._pending_lock:
            early = mid in self._early_acks
            if early:
                self._early_acks.discard(mid)
                self._confirming.add(alert_id)
            else:
                self._pending[mid] = (alert_id, rev)
        if early:
            self._mark_published_many([(alert_id, rev)])

    def _mark_published_many(self, items: list[tuple[str, int]]) -> None:
        self.store.mark_published_many(items)
        with self._pending_lock:
            self._confirming.difference_update(alert_id for alert_id, _ in items)

    def _republish_pending(self) -> None:
        for alert_id in self.store.unpublished():
            if alert_id not in self._in_flight():
                log.info("re-publishing %s, committed but not confirmed on dispatch", alert_id)
                self.publish_alert(alert_id)

    def _ack_device(self, device_id: str, seq: int, state: str) -> None:
        key = self.store.device_key(device_id)
        if key is None:
            return
        topic = protocol.device_topic(device_id, "ack")
        body = {"v": 1, "dev": device_id, "ref": seq, "state": state, "ts": int(time.time())}
        self.client.publish(topic, protocol.sign(key, topic, body), qos=1)
        self.metrics.inc("device_acks_total", state=state)

    def _event(self, event: str, device_id: str | None, **extra: Any) -> None:
        record: dict[str, Any] = {"event": event, "at": enrich.rfc3339(utcnow()), "device": device_id,
                                  "owner": None, "premises": None, "reason": None, "detail": None}
        record.update(extra)
        self.client.publish(DISPATCH_EVENTS, json.dumps(record, separators=(",", ":")).encode(), qos=1)
        self.metrics.inc("events_total", event=event)

    def _rejection_event(self, outcome: Outcome) -> None:
        # At most one event per sender and reason per interval: a flood of
        # forged messages must not become a flood on the dispatch desk.
        key = (outcome.device_id or "-", outcome.reason or "-")
        now = time.monotonic()
        if now - self._last_event.get(key, -1e9) < self.settings.rejection_event_interval_s:
            return
        self._last_event[key] = now
        kind = "unregistered" if outcome.reason == "unknown_device" else "rejected"
        self._event(kind, outcome.device_id, reason=outcome.reason, detail=outcome.detail[:200] or None)

    # --- status and dispatch acknowledgements ------------------------------------------------

    def _device_status(self, topic: str, payload: bytes) -> None:
        device_id = topic.split("/")[3]
        try:
            status = protocol.parse_status(payload)
        except protocol.Rejected as rejected:
            # Unsigned and anyone's to write: its text is never logged or stored raw.
            log.warning("ignored status from %s: %s", printable(device_id, 20), rejected)
            return
        online = status.state == "online"
        if not self.store.set_online(device_id, online, status.fw, utcnow()):
            return  # unchanged, or not a registered device
        detail = "connected (birth message)" if online else "connection lost (MQTT will)"
        self._health_event(device_id, online, detail)

    def _supervise(self) -> None:
        """Heartbeat supervision: silent too long → offline; heard again → online."""
        limit = self.settings.offline_after_s
        silent, back = self.store.supervise(utcnow(), limit)
        for device_id in silent:
            self._health_event(device_id, False, f"nothing heard for {limit:g} s (missed heartbeats)")
        for device_id in back:
            self._health_event(device_id, True, "heard from again")

    def _health_event(self, device_id: str, online: bool, detail: str) -> None:
        device = self.store.get_device(device_id)
        owner, places = self.store.get_owner(device.owner_id)
        place = next((p for p in places if p.id == device.premises_id), None)
        self._event("device_online" if online else "device_offline", device_id, owner=enrich.owner_record(owner),
                    premises=enrich.premises_record(place) if place else None, detail=detail)
        log.info("device %s is %s: %s", device_id, "online" if online else "offline", detail)

    def _run_supervision_timer(self) -> None:
        # Supervision runs on the worker like everything that touches storage.
        while not self._stopping.wait(self.settings.supervision_interval_s):
            self._put("job", (self._supervise, ()))

    def _dispatch_ack(self, payload: bytes) -> None:
        try:
            ack = DispatchAck.model_validate_json(payload)
        except ValidationError as exc:
            self.metrics.inc("dispatch_acks_rejected_total")
            first = exc.errors()[0]
            log.warning("rejected dispatch ack: %s: %s", ".".join(map(str, first["loc"])) or "body", first["msg"])
            return
        try:
            self.apply_dispatch_ack(ack)
        except StoreError as exc:
            self.metrics.inc("dispatch_acks_rejected_total")
            log.warning("rejected dispatch ack for %r: %s", ack.alert_id, exc)

    def apply_dispatch_ack(self, ack: DispatchAck) -> None:
        """Dispatch acted on an alert: store it, tell dispatch (rev+1) and the device."""
        alert, changed = self.store.set_dispatch_state(
            ack.alert_id, ack.state, ack.by, ack.note, ack.false_alarm, utcnow()
        )
        if changed:
            self.publish_alert(alert.id, alert=alert)
        self._ack_device(alert.device_id, alert.seq, ack.state)
        log.info("alert %s %s by %s", alert.id, ack.state, ack.by)

    # --- testing aid ---------------------------------------------------------------------------

    def _fault_point(self, name: str) -> None:
        if self.settings.fault_point == name:
            log.critical("fault point %s reached: killing the gateway (PANIC_FAULT_POINT)", name)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
