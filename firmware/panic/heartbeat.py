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
        self.dev = dev
        self.hw = hw
        self.seq = seq
        self.signer = signer
        self.link = link
        self._interval_ms = interval_s * 1000
        self.sup = sup
        self.topic = messages.topic(dev, "hb")

    async def run(self) -> None:
        slot = self.sup.register("heartbeat", self.link.publish_timeout_ms + 5000)
        generation = -1
        last = time.ticks_ms()
        while True:
            self.sup.alive(slot)
            link = self.link
            if link.connected and (
                generation != link.generation or time.ticks_diff(time.ticks_ms(), last) >= self._interval_ms
            ):
                generation = link.generation
                last = time.ticks_ms()
                await self._send()
            await asyncio.sleep_ms(_POLL_MS)

    async def _send(self) -> None:
        hw = self.hw
        try:
            seq = self.seq.next()
        except OverflowError:  # seq.py: exhausted  # logged by seq.py; a heartbeat is not worth a dead task
            return
        body = messages.heartbeat(
            self.dev, seq, hw.clock.utc(), log.uptime_ms(), hw.battery(), hw.power(), "wifi", hw.wifi.rssi(),
            self.link.ep,
        )
        try:
            await self.link.publish(self.topic, self.signer.sign(self.topic, body), 0)
        except OSError as e:
            log.warn("heartbeat", "send failed seq=%d err=%s" % (seq, log.q(e)))
            return
        log.info("heartbeat", "sent seq=%d" % seq)
