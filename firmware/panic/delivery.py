"""Delivery task: sends outbox entries until the gateway confirms them.

An entry is sent as soon as it is stored and the link is up, then again
after `retry_min_ms`, doubling up to `retry_max_ms`, always with the same
bytes (QoS 1 - a PUBACK only means the broker has it; the entry leaves the
outbox on the gateway's signed ack, see alerts.py). When the link comes
back every entry is due at once: critical ones (sos, silent_sos, cancel)
first, then the device events, each oldest first.

Log lines: ``I <up> delivery: sent seq=<n> try=<k> next_ms=<ms>`` and
``W <up> delivery: send failed seq=<n> err=<text>``.
"""

import asyncio
import time

from micropython import const

from panic import log

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.alerts import Alerts
    from panic.cellular import Cell
    from panic.link import Link
    from panic.outbox import Entry, Outbox
    from panic.supervisor import Supervisor

_IDLE_SLICE_MS = const(50)


class Delivery:
    # Set by panic.cellular on a button with sms_to: what panic.smsout needs (Alerts, the modem's owner).
    # An annotation only: a Wi-Fi button's class carries nothing for it.
    smsout: tuple[Alerts, Cell]

    def __init__(self, outbox: Outbox, link: Link, retry_min_ms: int, retry_max_ms: int, sup: Supervisor) -> None:
        self.outbox = outbox
        self.link = link
        self.retry_min_ms = retry_min_ms
        self.retry_max_ms = retry_max_ms
        self.sup = sup
        self._woken = False

    def wake(self) -> None:
        """Something new is in the outbox."""
        self._woken = True

    def link_up(self) -> None:
        """A fresh connection: whatever is pending goes out now."""
        now = time.ticks_ms()
        for e in self.outbox.entries:
            e.due = now
        self._woken = True

    def _next_due(self) -> Entry | None:
        """The oldest due critical entry (sos, silent_sos, cancel), else the oldest due one: an SOS
        waiting with events (the link came back) is not sent after them."""
        now = time.ticks_ms()
        due = None
        for e in self.outbox.entries:  # oldest first
            if time.ticks_diff(now, e.due) >= 0:
                if e.critical:
                    return e
                due = due or e
        return due

    async def run(self) -> None:
        # A QoS 1 publish may legitimately wait for its PUBACK timeout.
        slot = self.sup.register("delivery", self.link.publish_timeout_ms + 5000)
        while True:
            self.sup.alive(slot)
            self._woken = False
            e = self._next_due() if self.link.connected else None
            if e is not None:
                await self._send(e)
                continue
            while not self._woken:
                self.sup.alive(slot)
                await asyncio.sleep_ms(_IDLE_SLICE_MS)
                if self.link.connected and self._next_due() is not None:
                    break

    async def _send(self, e: Entry) -> None:
        try:
            await self.link.publish(e.topic, e.payload, 1)
        except OSError as err:
            # The link manager sees the drop and reconnects; link_up() then
            # makes this entry due again. Until then, retry on the normal schedule.
            log.warn("delivery", "send failed seq=%d err=%s" % (e.seq, log.q(err)))
            e.due = time.ticks_add(time.ticks_ms(), self.retry_min_ms)
            return
        e.sends += 1
        e.backoff_ms = self.retry_min_ms if e.sends == 1 else min(e.backoff_ms * 2, self.retry_max_ms)
        e.due = time.ticks_add(time.ticks_ms(), e.backoff_ms)
        log.info("delivery", "sent seq=%d try=%d next_ms=%d" % (e.seq, e.sends, e.backoff_ms))
