"""Heartbeat task: a signed QoS 0 ``hb`` every `heartbeat_s` while connected.

The first one goes out right after each (re)connect, then one per interval.
Heartbeats share the seq counter with alerts (protocol/README.md). They are
never queued: a heartbeat that cannot be sent now is worthless later.
Log line: ``I <up> heartbeat: sent seq=<n>``.
"""

import asyncio
import time

from micropython import const

from panic import log, messages

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.hal import Hardware
    from panic.link import Link
    from panic.seq import SeqCounter
    from panic.sign import Signer
    from panic.supervisor import Supervisor

_POLL_MS = const(200)


class Heartbeat:
    def __init__(
        self, dev: str, hw: Hardware, seq: SeqCounter, signer: Signer, link: Link, interval_s: int,
        sup: Supervisor,
    ) -> None:
        self._dev = dev
        self._hw = hw
        self._seq = seq
        self._signer = signer
        self._link = link
        self._interval_ms = interval_s * 1000
        self._sup = sup
        self.topic = messages.topic(dev, "hb")

    async def run(self) -> None:
        slot = self._sup.register("heartbeat", self._link.publish_timeout_ms + 5000)
        generation = -1
        last = time.ticks_ms()
        while True:
            self._sup.alive(slot)
            link = self._link
            if link.connected and (
                generation != link.generation or time.ticks_diff(time.ticks_ms(), last) >= self._interval_ms
            ):
                generation = link.generation
                last = time.ticks_ms()
                await self._send()
            await asyncio.sleep_ms(_POLL_MS)

    async def _send(self) -> None:
        hw = self._hw
        try:
            seq = self._seq.next()
        except OverflowError:  # seq.py: exhausted  # logged by seq.py; a heartbeat is not worth a dead task
            return
        body = messages.heartbeat(
            self._dev, seq, hw.clock.utc(), log.uptime_ms(), hw.battery(), hw.power(), "wifi", hw.wifi.rssi(),
            self._link.ep,
        )
        try:
            await self._link.publish(self.topic, self._signer.sign(self.topic, body), 0)
        except OSError as e:
            log.warn("heartbeat", "send failed seq=%d err=%s" % (seq, log.q(e)))
            return
        log.info("heartbeat", "sent seq=%d" % seq)
