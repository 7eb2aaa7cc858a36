"""The MQTT adapter: device and dispatch topics in, the pipeline's decisions executed.

    receive (paho, persistent session, QoS 1, manual ack)
      → worker: Ingest (size → topic → sig envelope → registry → HMAC → JSON → fields → dev → replay window)
        → pipeline (pure: outcomes → publications) → one commit: outcomes + outbox rows
      → hand the staged rows to the publisher (gateway/publisher.py)
      → ack the broker's delivery

Resilience, next to the code that provides it:
- The broker's PUBACK to the device only says the broker has the alert. We
  ack the broker (paho manual ack) only after the alert is committed, so a
  gateway killed at any point gets the message again from its persistent
  session (clean_session=False, fixed client id) after restart.
- A message seen again is a duplicate (same seq, same bytes): the device is
  acked again and nothing new is dispatched.
- Everything published (dispatch alerts, device acks, events) is an outbox
  row committed with its cause; the publisher deletes it on confirmation.
- Heartbeats come on a connection of their own and are judged by a thread
  of their own, from a bounded queue: an alert never waits behind them,
  neither in paho's network thread and the socket nor in the worker. When
  that queue is full the heartbeat connection stops reading (back-pressure
  to the broker, memory stays flat) and `panic_heartbeat_backlog` and
  `panic_heartbeat_lag_seconds` say how far behind the heartbeats are.
- One worker thread does all other storage work of incoming messages
  (alerts, status, command results, dispatch acks and receipts) in arrival order, alerts
  first; paho's network thread only queues. Device messages already waiting
  are judged and committed as one batch (one transaction) and acked
  together after it. If storage or the network
  fails, the worker retries the same messages with back-off and never acks
  them meanwhile: nothing is lost, nothing skipped.
- A message that keeps failing for any other reason (a bug) is parked after
  a few tries: left unacked, so the broker redelivers it after a restart,
  while the alerts behind it flow (`panic_parked_total`, a CRITICAL log line).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from gateway import ack_refusal, pipeline, protocol
from gateway.acknowledge import Acknowledgements
from gateway.commands import Commands
from gateway.escalation import Escalator
from gateway.ingest import Ingest, OutcomePlan
from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.nats_inbound import Delivery, NatsInbound
from gateway.pipeline import Outcome
from gateway.protocol import DispatchAck
from gateway.publisher import Publisher
from gateway.receipts import DispatchReceipt
from gateway.settings import Settings
from gateway.storage.common import StoreError, utcnow
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import CasContention, Store
from gateway.storage.supervision import Flips, HealthPlan
from gateway.topics import DISPATCH_ACK, DISPATCH_RECEIPT

log = logging.getLogger("gateway.bridge")

_RETRY_MAX_S = 5.0
# The worker's kinds of work, most urgent first. Queued alerts are handled
# together, at most so many at once (one transaction each batch). The
# worker's queue needs no bound of its own: alerts, status messages and
# dispatch acks are QoS 1 and acked only after their commit, so the broker
# sends at most its max_inflight_messages of them unacked.
PRIORITY = {"alert": 0, "job": 1}
ALERT_BATCH_MAX = 100
# Heartbeats (QoS 0, no ack to hold them back) have their own connection,
# queue and thread. The queue holds at most so many; when it is full, the
# heartbeat connection's network thread waits, so it stops reading its socket
# and the broker holds what follows: memory stays flat however many arrive.
HEARTBEAT_QUEUE_MAX = 10_000
HEARTBEAT_BATCH_MAX = 500
# How long a thread holding the GIL may keep it while another waits (CPython's default is 5 ms).
# An alert crosses three threads (network, worker, publisher); with the heartbeat threads busy,
# each hand-over could cost a whole interval.
SWITCH_INTERVAL_S = 0.001
THROTTLE_KEYS_MAX = 10_000
HEARTBEATS = "panic/v1/dev/+/hb"
POISON_FAILURES = 3  # failures, for a reason other than storage or network trouble, before a message is parked


# What the worker threads judge: an MQTT message, or the same shape from NATS (gateway/nats_inbound.py).
Message = mqtt.MQTTMessage | Delivery


class Backpressure(RuntimeError):
    """A queue or a compare-and-set that will clear: retry."""


def _transient(exc: Exception) -> bool:
    """Trouble that goes away by itself: the database or the network. Worth retrying forever."""
    return isinstance(exc, (OperationalError, InterfaceError, OSError, TimeoutError, Backpressure, CasContention))


def _health_plan(at: datetime, detail: str, back_detail: str | None = None) -> HealthPlan:
    """The events of devices going offline (`detail`) or online (`back_detail`, else `detail`)."""
    return lambda device_id, online: pipeline.for_health(
        device_id, online, (back_detail or detail) if online else detail, at)


class Bridge:
    def __init__(self, settings: Settings, store: Store, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.ingest = Ingest(store, metrics, settings.max_payload_bytes)
        self.connected = threading.Event()
        # (priority, arrival, kind, item), kind being one of PRIORITY's:
        # "alert": a device message; "job": (callable, args), run one by one.
        self._work: queue.PriorityQueue[tuple[int, int, str, Any]] = queue.PriorityQueue()
        self._arrival = itertools.count()  # keeps FIFO order within a priority
        # (monotonic time received, message): heartbeats waiting for the heartbeat thread.
        self._heartbeats: queue.Queue[tuple[float, Message]] = queue.Queue(HEARTBEAT_QUEUE_MAX)
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._run_worker, name="gateway-worker", daemon=True)
        self._heartbeat_worker = threading.Thread(target=self._run_heartbeat_worker, name="gateway-heartbeats",
                                                  daemon=True)
        # When each (sender, reason) was last reported as a rejection event: a throttle, not a record.
        # Both workers report rejections, hence the lock.
        self._last_event: dict[tuple[str, str], float] = {}
        self._throttle_lock = threading.Lock()
        self.client = self._make_client(self.settings.mqtt_client_id, persistent=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.heartbeat_client = self._make_client(f"{self.settings.mqtt_client_id}-hb", persistent=False)
        self.heartbeat_client.on_connect = self._on_heartbeat_connect
        self.heartbeat_client.on_message = self._on_heartbeat
        self.heartbeat_client.on_disconnect = self._on_heartbeat_disconnect
        # The broker's MQTT endpoints, tried in turn when one fails (the nodes of a cluster).
        self._endpoints = [(settings.mqtt_host, settings.mqtt_port), *(
            (h, int(p)) for h, _, p in (e.strip().rpartition(":") for e in settings.mqtt_more_endpoints.split(","))
            if h)]
        for client in (self.client, self.heartbeat_client):
            client.on_connect_fail = self._next_endpoint
        # NATS has no $share: there the shared topics come through JetStream instead.
        self.nats = NatsInbound(settings, self._on_nats) if settings.broker_kind == "nats" else None
        metrics.gauge("heartbeat_backlog", self._heartbeats.qsize)
        metrics.gauge("heartbeat_lag_seconds", lambda: round(self.heartbeat_lag_s(), 3))
        self.publisher = Publisher(settings, store, metrics, self._send, self.connected)
        self.acknowledgements = Acknowledgements(store, self.publisher.submit, metrics)
        # Timers in the table (alerts.escalate_at); off with PANIC_ESCALATE_AFTER_S=0.
        self.escalator = Escalator(settings, store, self.publisher.stations, metrics, self.publisher.submit)
        self.commands = Commands(self.ingest, self.publisher.submit)

    # --- lifecycle -----------------------------------------------------------------

    def _make_client(self, client_id: str, *, persistent: bool) -> mqtt.Client:
        """The alert connection keeps a persistent session (QoS 1, acked after commit); the heartbeat
        connection needs none (QoS 0: a heartbeat missed while away is simply not there)."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.username_pw_set(self.settings.mqtt_username, self.settings.mqtt_password.get_secret_value())
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        return client

    def start(self) -> None:
        # Everything built so far (modules, settings, engine) lives as long as the process: out of
        # the collector's sight, so a full collection under load walks only what is young.
        gc.collect()
        gc.freeze()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._worker.start()
        self._heartbeat_worker.start()
        self.publisher.start()
        if self.settings.escalate_after_s > 0:
            self.escalator.start()
        if self.nats is not None:
            self.nats.start()
        for client in self._mqtt_clients():
            client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
            client.loop_start()

    def _mqtt_clients(self) -> tuple[mqtt.Client, ...]:
        # On NATS heartbeats come through the queue group: no heartbeat connection.
        return (self.client,) if self.nats is not None else (self.client, self.heartbeat_client)

    def _next_endpoint(self, client: mqtt.Client, _userdata: Any = None) -> None:
        """Point the next reconnect at the endpoint after the current one (paho's thread, socket closed)."""
        if len(self._endpoints) < 2:
            return
        at = (client.host, client.port)
        index = self._endpoints.index(at) if at in self._endpoints else -1
        # paho's host/port setters refuse while its state still says "connected" (it does until
        # the reconnect starts, after this callback); the reconnect reads these two fields.
        client._host, client._port = self._endpoints[(index + 1) % len(self._endpoints)]
        log.info("next broker endpoint %s:%s", client.host, client.port)

    def stop(self) -> None:
        self._stopping.set()
        self._put("job", (lambda: None, ()))
        self._worker.join(timeout=10)
        self._heartbeat_worker.join(timeout=10)
        if self.settings.escalate_after_s > 0:
            self.escalator.stop()
        self.publisher.stop()
        for client in reversed(self._mqtt_clients()):
            client.disconnect()
            client.loop_stop()
        if self.nats is not None:
            self.nats.stop()

    def _send(self, topic: str, payload: bytes, qos: int) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    # --- paho callbacks (network thread: queue work, never block) ----------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the gateway's connection: %s", reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # The worker (broker acks) and the publisher (alerts) write small packets
            # independently: with Nagle's algorithm an alert written right after an
            # ack waits for the broker's delayed ACK (~40 ms on Linux).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        share = self._share()
        if self.nats is not None:  # alerts and dispatch acks and receipts come through JetStream
            # No shared subscriptions on NATS: every instance gets each command result; the first one
            # stored wins (gateway/commands.py), so a result handled twice changes nothing.
            client.subscribe([("panic/v1/dev/+/status", 1), ("panic/v1/dev/+/result", 1)])
        else:
            client.subscribe([
                (f"{share}panic/v1/dev/+/alert", 1),
                ("panic/v1/dev/+/status", 1),
                (f"{share}panic/v1/dev/+/result", 1),
                (f"{share}{DISPATCH_ACK}", 1),
                (f"{share}{DISPATCH_RECEIPT}", 1),
            ])
        # A gateway from before the heartbeat connection subscribed this persistent session to
        # heartbeats, and the broker keeps a session's subscriptions: drop it.
        client.unsubscribe([f"{share}{HEARTBEATS}", HEARTBEATS])
        log.info("connected to broker %s:%s", client.host, client.port)
        self.connected.set()

    def _on_heartbeat_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the gateway's heartbeat connection: %s", reason)
            return
        client.subscribe(f"{self._share()}{HEARTBEATS}", 0)

    def _share(self) -> str:
        return f"$share/{self.settings.mqtt_shared_group}/" if self.settings.mqtt_shared_group else ""

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode,
                       _p: Properties | None) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("lost the broker (%s); reconnecting", reason)
            self._next_endpoint(client)

    def _on_heartbeat_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode,
                                 _p: Properties | None) -> None:
        # Only heartbeats stop: `connected` (health, the publisher) follows the alert connection.
        if not self._stopping.is_set():
            log.warning("lost the broker's heartbeat connection (%s); reconnecting", reason)
            self._next_endpoint(client)

    def _on_nats(self, kind: str, delivery: Delivery) -> None:
        """A shared message from NATS (its own thread): queued exactly as from MQTT, never waits."""
        if kind == "hb":
            try:
                self._heartbeats.put_nowait((time.monotonic(), delivery))
            except queue.Full:  # QoS 0: dropped here, as a broker would past its limits
                self.metrics.inc("heartbeat_backpressure_total")
        elif kind == "alert":
            self._put("alert", delivery)
        else:
            self._put("job", (self._handle, (delivery,)))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/alert"):
            self._put("alert", message)
        elif message.topic.endswith("/hb"):
            # Queued for the old subscription before it was dropped: judged with the others,
            # or, when the heartbeat queue is full, left (QoS 0): never wait on this thread.
            with contextlib.suppress(queue.Full):
                self._heartbeats.put_nowait((time.monotonic(), message))
        else:
            self._put("job", (self._handle, (message,)))

    def _on_heartbeat(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        item = (time.monotonic(), message)
        try:
            self._heartbeats.put_nowait(item)
            return
        except queue.Full:
            self.metrics.inc("heartbeat_backpressure_total")
        # Full: hold this network thread until there is room. It stops reading
        # its socket, the kernel's buffers fill and the broker keeps (or, past
        # its own limits, drops: heartbeats are QoS 0) what comes next, instead
        # of this process growing. Alerts have their own connection.
        while not self._stopping.is_set():
            try:
                self._heartbeats.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def heartbeat_backlog(self) -> int:
        """Heartbeats received and not yet judged (at most HEARTBEAT_QUEUE_MAX)."""
        return self._heartbeats.qsize()

    def heartbeat_lag_s(self) -> float:
        """How long the oldest heartbeat not yet judged has waited in this process (0: none waiting)."""
        try:
            oldest: float = self._heartbeats.queue[0][0]
        except IndexError:
            return 0.0
        return time.monotonic() - oldest

    # --- the worker threads --------------------------------------------------------------

    def _put(self, kind: str, item: Any) -> None:
        self._work.put((PRIORITY[kind], next(self._arrival), kind, item))

    def _run_worker(self) -> None:
        held: tuple[int, int, str, Any] | None = None
        while not self._stopping.is_set():
            _, _, kind, item = held or self._work.get()
            held = None
            if kind == "alert":
                # The alerts already queued are handled together: one transaction, one fsync, for the lot.
                batch = [item]
                while len(batch) < ALERT_BATCH_MAX:
                    try:
                        queued = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if queued[2] != kind:
                        held = queued
                        break
                    batch.append(queued[3])
                self._retrying(self._device_messages, batch)
            else:
                job, args = item
                self._retrying(job, *args)

    def _run_heartbeat_worker(self) -> None:
        # Heartbeat supervision (silence → offline) is heartbeat work too: it runs here, between
        # batches, so a fleet's worth of flips never holds up the alert worker.
        next_check = time.monotonic() + self.settings.supervision_interval_s
        while not self._stopping.is_set():
            if time.monotonic() >= next_check:
                self._retrying(self._supervise)
                next_check = time.monotonic() + self.settings.supervision_interval_s
            try:
                batch = [self._heartbeats.get(timeout=min(0.5, self.settings.supervision_interval_s))]
            except queue.Empty:
                continue
            while len(batch) < HEARTBEAT_BATCH_MAX:
                try:
                    batch.append(self._heartbeats.get_nowait())
                except queue.Empty:
                    break
            self._retrying(self._device_messages, [message for _received, message in batch])

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

    def _ack(self, message: Message) -> None:
        """Tell the broker it may forget `message` (after its commit)."""
        if isinstance(message, Delivery):
            message.ack()
        elif message.qos > 0:
            self.client.ack(message.mid, message.qos)

    def _handle(self, message: Message) -> None:
        topic, payload = message.topic, bytes(message.payload)
        if topic == DISPATCH_ACK:
            self._dispatch_ack(payload)
        elif topic == DISPATCH_RECEIPT:
            self._dispatch_receipt(payload)
        elif topic.endswith("/result"):
            self.commands.on_result(topic, payload)
        else:
            self._device_status(topic, payload)
        self._ack(message)

    def _device_messages(self, messages: list[Message]) -> None:
        now = utcnow()
        self.commit_judged(lambda plan: self.ingest.judge([(m.topic, bytes(m.payload)) for m in messages], now, plan),
                           now)
        for message in messages:  # only now may the broker forget them
            self._ack(message)

    def commit_judged(self, judge: Callable[[OutcomePlan], tuple[list[Outcome], list[OutboxItem]]], now: datetime,
                      extra: OutcomePlan | None = None) -> list[Outcome]:
        """Run `judge` with the pipeline's plan (and `extra`'s publications), hand what it staged to the
        publisher and note the rejection events sent: for MQTT messages and SMS alerts (gateway/sms/) alike."""
        clock = time.monotonic()

        def quiet(key: tuple[str, str]) -> bool:
            return clock - self._last_event.get(key, -1e18) < self.settings.rejection_event_interval_s

        outcomes, staged = judge(
            lambda judged: pipeline.for_device_messages(judged, now, quiet) + (extra(judged) if extra else []))
        self.publisher.submit(staged)
        with self._throttle_lock:
            for outcome in outcomes:
                if outcome.verdict == "rejected" and not quiet(outcome.throttle_key):
                    self._last_event[outcome.throttle_key] = clock
            if len(self._last_event) > THROTTLE_KEYS_MAX:  # forged sender ids must not grow it without end
                interval = self.settings.rejection_event_interval_s
                self._last_event = {k: t for k, t in self._last_event.items() if clock - t < interval}
        return outcomes

    # --- status, supervision, dispatch acknowledgements and receipts ---------------------------

    def _device_status(self, topic: str, payload: bytes) -> None:
        device_id = topic.split("/")[3]
        try:
            status = protocol.parse_status(payload)
        except protocol.Rejected as rejected:
            # Unsigned and anyone's to write: its text is never logged or stored raw.
            log.warning("ignored status from %s: %s", printable(device_id, 20), rejected)
            return
        online = status.state == "online"
        detail = "connected (birth message)" if online else "connection lost (MQTT will)"
        now = utcnow()
        self._announce(self.store.set_online(device_id, online, status.fw, now, plan=_health_plan(now, detail)))

    def _supervise(self) -> None:
        """Heartbeat supervision: silent too long → offline; heard again → online."""
        limit = self.settings.offline_after_s
        now = utcnow()
        self._announce(self.store.supervise(now, limit, plan=_health_plan(
            now, f"nothing heard for {limit:g} s (missed heartbeats)", "heard from again")))

    def _announce(self, flips: Flips) -> None:
        self.publisher.submit(flips.staged)
        for device_id in flips.silent:
            log.info("device %s is offline", device_id)
        for device_id in flips.back:
            log.info("device %s is online", device_id)

    def _parse(self, model: type[BaseModel], payload: bytes, what: str) -> Any:
        """`payload` as `model`; if it does not fit, the ValidationError (counted and logged)."""
        try:
            return model.model_validate_json(payload)
        except ValidationError as exc:
            self.metrics.inc(f"{what}s_rejected_total")
            log.warning("rejected %s: %s", what.replace("_", " "), printable(ack_refusal.first_error(exc), 300))
            return exc

    def _dispatch_ack(self, payload: bytes) -> None:
        """Apply an acknowledgement, or answer its sender why not (an `ack_refused` event, the API's reason)."""
        ack = self._parse(DispatchAck, payload, "dispatch_ack")
        if isinstance(ack, ValidationError):
            self.acknowledgements.refuse(ack_refusal.malformed(payload, ack))
            return
        try:
            self.acknowledgements.apply(ack)
        except StoreError as exc:
            self.metrics.inc("dispatch_acks_rejected_total")
            log.warning("rejected dispatch ack for %r: %s", ack.alert_id, exc)
            self.acknowledgements.refuse(ack_refusal.refused(ack, exc))

    def _dispatch_receipt(self, payload: bytes) -> None:
        receipt = self._parse(DispatchReceipt, payload, "dispatch_receipt")
        if isinstance(receipt, ValidationError):
            return
        closed = self.store.receipt(receipt.alert_id, receipt.rev)
        self.metrics.inc("dispatch_receipts_total")
        log.debug("receipt for %s rev %d by %s (%d publications closed)", receipt.alert_id, receipt.rev,
                  receipt.by, closed)
