"""How gateways share the device topics on the NATS broker (PANIC_BROKER_KIND=nats).

nats-server 2.9 has no MQTT shared subscriptions (`$share/...`), but it
stores every QoS 1 MQTT message in the JetStream stream `$MQTT_msgs` under
`$MQTT.msgs.<subject>`, replicated like the rest of its MQTT state. So:

- alerts, dispatch acks and dispatch receipts: one durable pull consumer
  per kind, the same for every gateway of the group (PANIC_MQTT_SHARED_GROUP,
  or "gateway"); each instance fetches from it, so they split the load, and a
  message is acked only after the bridge has committed it. What a dead
  instance had fetched and not acked comes again to the others after
  `nats_ack_wait_s`. The durable lives in the cluster (replicated), so it
  also outlives any one node;
- heartbeats (QoS 0, never stored): a core NATS queue group, each heartbeat
  to one instance of the group.

Everything else (device status, publishing acks and dispatch alerts) stays on
the bridge's MQTT connection, exactly as with Mosquitto. The bridge sees
`Delivery` objects with the topic, payload and QoS of an MQTT message, and
acks them through `ack()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from broker.policy import NATS_MQTT_STREAM, nats_subject
from gateway.settings import Settings
from gateway.topics import DISPATCH_ACK, DISPATCH_RECEIPT

log = logging.getLogger("gateway.nats")

MQTT_STORED = "$MQTT.msgs."
FETCH_BATCH = 100
ALERTS = "panic/v1/dev/+/alert"
HEARTBEATS = "panic/v1/dev/+/hb"


def mqtt_topic(subject: str) -> str:
    return subject.removeprefix(MQTT_STORED).replace(".", "/")


@dataclass
class Delivery:
    """A message from NATS, shaped as the bridge's MQTT messages are (topic, payload, qos)."""

    topic: str
    payload: bytes
    qos: int
    _ack: Callable[[], None] = field(repr=False, default=lambda: None)

    def ack(self) -> None:
        self._ack()


class NatsInbound:
    """The JetStream consumers and the heartbeat queue group, on a thread with its own event loop.

    `on_message(kind, delivery)` is called on that thread with kind "alert", "job" (dispatch
    ack or receipt) or "hb"; it must not block.
    """

    def __init__(self, settings: Settings, on_message: Callable[[str, Delivery], None]) -> None:
        self.settings = settings
        self.on_message = on_message
        self.group = settings.mqtt_shared_group or "gateway"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway-nats", daemon=True)
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Any = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._nc = await nats.connect(
            servers=[u.strip() for u in self.settings.nats_urls.split(",") if u.strip()],
            user=self.settings.mqtt_username, password=self.settings.mqtt_password.get_secret_value(),
            name=f"{self.settings.mqtt_client_id}-nats", max_reconnect_attempts=-1, reconnect_time_wait=0.5,
            connect_timeout=5, allow_reconnect=True,
            error_cb=self._error, disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
        )
        for topic, kind, name in ((ALERTS, "alert", "alerts"), (DISPATCH_ACK, "job", "dispatch-acks"),
                                  (DISPATCH_RECEIPT, "job", "dispatch-receipts")):
            self._tasks.append(self.loop.create_task(self._pull(topic, kind, f"{self.group}-{name}")))
        await self._nc.subscribe(nats_subject(HEARTBEATS), queue=self.group, cb=self._heartbeat,
                                 pending_msgs_limit=100_000)
        log.info("sharing the device topics through NATS as %r", self.group)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Closed, not drained: what was fetched and not acked goes to another instance after
        # ack_wait anyway, and a drain waits on a degraded cluster.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), 2)

    async def _pull(self, topic: str, kind: str, durable: str) -> None:
        """Fetch from the shared durable forever; broker trouble only delays (the client reconnects)."""
        config = ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.settings.nats_ack_wait_s, max_ack_pending=1000,
            filter_subject=MQTT_STORED + nats_subject(topic),
        )
        subscription = None
        while True:
            try:
                if subscription is None:
                    subscription = await self._nc.jetstream().pull_subscribe(
                        config.filter_subject, durable=durable, stream=NATS_MQTT_STREAM, config=config)
                for msg in await subscription.fetch(FETCH_BATCH, timeout=1):
                    self.on_message(kind, self._delivery(msg))
            except (NatsTimeout, TimeoutError):
                # No messages within the fetch's second. nats-py raises Python's own TimeoutError, not its
                # NatsTimeout, when the server's "no messages" answer comes late (under load): the same case,
                # not a failure to log and sleep over.
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("JetStream consumer %s: %s; trying again", durable, exc)
                await asyncio.sleep(1)

    def _delivery(self, msg: Msg) -> Delivery:
        def ack() -> None:
            asyncio.run_coroutine_threadsafe(msg.ack(), self.loop)

        return Delivery(mqtt_topic(msg.subject), msg.data, 1, ack)

    async def _heartbeat(self, msg: Msg) -> None:
        self.on_message("hb", Delivery(mqtt_topic(msg.subject), msg.data, 0))

    async def _error(self, exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    async def _disconnected(self) -> None:
        log.warning("lost the NATS connection; reconnecting")

    async def _reconnected(self) -> None:
        log.info("NATS connection back (%s)", self._nc.connected_url.netloc if self._nc else "?")
