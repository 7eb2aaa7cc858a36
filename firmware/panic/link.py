"""Link manager: Wi-Fi, then one MQTT session at a time, reconnecting forever.

Connects with client id = username = device id and the password from
secrets, with the will ``{"state":"offline"}`` retained on
``panic/v1/dev/{id}/status``. On every connect it publishes the birth
``{"state":"online","fw":...,"up":...}`` (retained, QoS 1) and subscribes to
its own ``ack`` and ``cmd``. The broker's endpoints (``cfg.brokers``) are tried
in order: a failed attempt moves to the next one, a working one is kept
(``ep``, its index, goes into heartbeats). A persistent session (clean_session=False) lets
the broker keep acks that arrive while the device is away.

After a failed attempt or a dropped session it waits with exponential
back-off and jitter (`reconnect_min_ms` doubling to `reconnect_max_ms`, each
wait drawn from [d/2, d]) and tries again, forever. Wi-Fi and the clock come
from the HAL; the MQTT client from panic.mqtt.

Log lines (module ``link``): ``connecting``, ``connected host= port=
attempt=``, ``connect failed err=``, ``refused code=``, ``connection lost err=``,
``disconnected session=``, ``reconnecting in_ms=``, ``wifi up``/``wifi
timeout``/``wifi lost``, ``clock synced``.

``hw.wifi`` is the active bearer: the HAL's Wi-Fi, or on a cellular button
the one panic.cellular put there (``net`` ``cell``: alerts and heartbeats
carry it). These lines still say ``wifi`` then - naming the bearer here cost
the Wi-Fi button's heap; the ``cell:`` lines say what the cellular one does.
"""

import asyncio
import errno
import random
import time

from micropython import const

from panic import VERSION, log, messages
from panic.mqtt import MQTTClient, MQTTError

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Callable

    from panic.config import Config
    from panic.hal import Hardware
    from panic.supervisor import Supervisor

_WIFI_TIMEOUT_MS = const(20000)
_POLL_MS = const(100)
_CLOCK_RETRY_MS = const(60000)


class Link:
    def __init__(
        self, cfg: Config, hw: Hardware, sup: Supervisor,
        on_message: Callable[[str, bytes], None], on_change: Callable[[bool], None],
    ) -> None:
        self.cfg = cfg
        self.hw = hw
        self.sup = sup
        self._on_message = on_message
        self.on_change = on_change
        self.status_topic = messages.topic(cfg.device_id, "status")
        self.connected = False
        self.generation = 0  # counts sessions, so other tasks can spot a new one
        self.ep = 0  # index in cfg.brokers of the endpoint in use (or tried next)
        self.publish_timeout_ms = 5000
        # Made now, at boot, with its receive buffer, while the heap is still
        # whole; every session reuses it (see panic.mqtt, "Receiving").
        self.client = self._new_client()
        self._reading = False
        self._clock_task: object = None
        self._clock_next = time.ticks_ms()

    async def publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish on the current session; OSError when there is none (or it drops)."""
        if not self.connected:
            raise OSError(errno.ENOTCONN)
        await self.client.publish(topic, payload, qos=qos, timeout_ms=self.publish_timeout_ms)

    async def run(self) -> None:
        cfg = self.cfg
        slot = self.sup.register("link", self.publish_timeout_ms * 3 + _WIFI_TIMEOUT_MS)
        delay = cfg.reconnect_min_ms
        attempt = 0
        while True:
            self.sup.alive(slot)
            attempt += 1
            if await self._wifi(slot):
                self._maybe_sync_clock()
                if await self._session(slot, attempt):
                    delay = cfg.reconnect_min_ms
                    attempt = 0
            half = delay // 2
            wait = half + random.getrandbits(16) % (delay - half + 1)
            log.info("link", "reconnecting in_ms=%d" % wait)
            end = time.ticks_add(time.ticks_ms(), wait)
            while time.ticks_diff(end, time.ticks_ms()) > 0:
                self.sup.alive(slot)
                await asyncio.sleep_ms(_POLL_MS)
            delay = min(delay * 2, cfg.reconnect_max_ms)

    async def _wifi(self, slot: int) -> bool:
        wifi = self.hw.wifi
        if wifi.isconnected():
            return True
        log.info("link", "wifi connecting ssid=%s" % log.q(self.cfg.wifi_ssid))
        wifi.connect(self.cfg.wifi_ssid, self.cfg.wifi_password)
        waited = 0
        while waited < _WIFI_TIMEOUT_MS:
            self.sup.alive(slot)
            if wifi.isconnected():
                log.info("link", "wifi up rssi=%s" % wifi.rssi())
                return True
            await asyncio.sleep_ms(_POLL_MS)
            waited += _POLL_MS
        log.warn("link", "wifi timeout ms=%d" % _WIFI_TIMEOUT_MS)
        return False

    def _maybe_sync_clock(self) -> None:
        if self.hw.clock.utc() is not None or self._clock_task is not None:
            return
        if time.ticks_diff(time.ticks_ms(), self._clock_next) < 0:
            return
        self._clock_task = asyncio.create_task(self._sync_clock())

    async def _sync_clock(self) -> None:
        try:
            ok = await self.hw.clock.sync(self.cfg.ntp_host)
        except Exception as e:  # NTP trouble must never take the link down
            log.exc("link", "clock sync failed", e)
            ok = False
        if ok:
            log.info("link", "clock synced utc=%s" % self.hw.clock.utc())
        else:
            log.warn("link", "clock not synced, ts=null until it is")
        self._clock_next = time.ticks_add(time.ticks_ms(), _CLOCK_RETRY_MS)
        self._clock_task = None

    def _new_client(self) -> MQTTClient:
        cfg = self.cfg
        client = MQTTClient(
            cfg.device_id, cfg.broker_host, port=cfg.broker_port, user=cfg.device_id,
            password=cfg.mqtt_password, keepalive_s=cfg.keepalive_s,
        )
        client.set_will(self.status_topic, messages.OFFLINE, retain=True, qos=1)
        # Acks queued by the broker while the device was off (or rebooting)
        # arrive right after the CONNACK, before this session subscribes.
        for leaf in ("ack", "cmd"):
            client.accept(messages.topic(cfg.device_id, leaf))
        return client

    async def _session(self, slot: int, attempt: int) -> bool:
        """One MQTT session; returns when it ends. True if it was established."""
        cfg = self.cfg
        client = self.client
        client.host, client.port = cfg.brokers[self.ep]
        log.info("link", "connecting host=%s port=%d attempt=%d" % (client.host, client.port, attempt))
        try:
            await client.connect(clean_session=False, timeout_ms=self.publish_timeout_ms)
            await client.publish(
                self.status_topic, messages.online(VERSION, log.uptime_ms()), qos=1, retain=True,
                timeout_ms=self.publish_timeout_ms,
            )
            for leaf in ("ack", "cmd"):
                await client.subscribe(messages.topic(cfg.device_id, leaf), qos=1, timeout_ms=self.publish_timeout_ms)
        except MQTTError as e:
            # Bad credentials or ACL: worth retrying, the server side can be fixed meanwhile.
            log.error("link", "refused code=%d err=%s" % (e.code, log.q(e)))
            return self._failed(client)
        except Exception as e:  # OSError from the network, or anything unexpected: retry
            log.warn("link", "connect failed err=%s exc=%s" % (log.q(e), type(e).__name__))
            return self._failed(client)
        self.connected = True
        self.generation += 1
        log.info("link", "connected host=%s port=%d attempt=%d" % (client.host, client.port, attempt))
        self.on_change(True)
        self._reading = True
        reader = asyncio.create_task(self._read(client))
        wifi = self.hw.wifi
        while self._reading and client.is_connected():
            self.sup.alive(slot)
            if not wifi.isconnected():
                # Without this the dead socket would only be noticed by keepalive, a minute later.
                log.warn("link", "wifi lost")
                break
            self._maybe_sync_clock()
            await asyncio.sleep_ms(_POLL_MS)
        self.connected = False
        reader.cancel()
        client.close()
        log.warn("link", "disconnected session=%d" % self.generation)
        self.on_change(False)
        return True

    def _failed(self, client: MQTTClient) -> bool:
        client.close()
        self.ep = (self.ep + 1) % len(self.cfg.brokers)  # the next endpoint, after the back-off
        return False

    async def _read(self, client: MQTTClient) -> None:
        try:
            while True:
                topic, payload = await client.next_message()
                try:
                    self._on_message(topic, payload)
                except Exception as e:  # one bad message must not end the session
                    log.exc("link", "message handler failed", e)
        except OSError as e:
            log.warn("link", "connection lost err=%s" % log.q(e))
        except Exception as e:
            log.exc("link", "reader failed", e)
        self._reading = False
