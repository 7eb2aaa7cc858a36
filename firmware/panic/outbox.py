"""The flash outbox: messages kept until the gateway confirms them.

Each entry is one file ``outbox/<seq, 16 digits>.<c|n>`` holding
``topic + "\\n" + payload`` - the exact signed bytes, so every retransmission
(also after a reboot) is byte-identical and the gateway sees a duplicate,
not a new alert. 16 digits hold any seq up to 2^53-1, the protocol's cap;
shorter names (older firmware wrote 10 digits) are read too. ``c`` marks
critical entries (sos, silent_sos, cancel), ``n`` the others (test, tamper,
power and battery events).

Rules:
- an entry is on flash (write temp, close, rename) before its first send;
- at most `capacity` entries on flash; when full, the oldest non-critical
  entry is dropped; critical entries are never dropped for space;
- if the flash cannot take an entry (outbox full of critical entries,
  ENOSPC, any write error) it is kept and sent from RAM, ``fault`` is set and
  logged, and the write is retried when an entry is removed (one write per
  removal, so an ack never blocks the loop for more than two flash
  operations); RAM-only entries are bounded too (`capacity` + 8),
  non-critical ones dropped first;
- entries leave only through ``remove(seq)``, i.e. on the gateway's ack.

Loading after a reboot (``panic.boot.entries``, boot-only code) trusts
nothing on the flash.

Sending and back-off are delivery.py's business; this module only keeps.
"""

import os
import time

from panic import flash, log
from micropython import const

_OUTBOX_DIR = const("outbox")
CRITICAL_TYPES = ("sos", "silent_sos", "cancel")
_RAM_SLACK = const(8)


class Entry:
    def __init__(self, seq: int, topic: str, payload: bytes, critical: bool) -> None:
        self.seq = seq
        self.topic = topic
        self.payload = payload
        self.critical = critical
        self.persisted = False
        self.path = ""  # the file holding it, once persisted
        self.sends = 0
        self.due = time.ticks_ms()  # next (re)transmission, in ticks_ms
        self.backoff_ms = 0


class Outbox:
    def __init__(self, directory: str = _OUTBOX_DIR, capacity: int = 32) -> None:
        self.dir = directory
        self.capacity = capacity
        self.entries: list[Entry] = []  # oldest (lowest seq) first
        self.fault = False  # some entry is in RAM only

    def path(self, e: Entry) -> str:
        return "%s/%016d.%s" % (self.dir, e.seq, "c" if e.critical else "n")  # 16 digits: 2^53-1

    def add(self, seq: int, topic: str, payload: bytes, critical: bool) -> Entry:
        """Keep a new message: on flash before this returns, if at all possible."""
        e = Entry(seq, topic, payload, critical)
        if self._on_flash() >= self.capacity:
            for old in self.entries:
                if old.persisted and not old.critical:
                    self._drop(old, "full")
                    break
        self._persist(e)
        if not e.persisted and len(self.entries) >= self.capacity + _RAM_SLACK:
            victim = None
            for old in self.entries:
                if not old.persisted and (victim is None or (victim.critical and not old.critical)):
                    victim = old
            if victim is not None:
                self._drop(victim, "ram_full")
        self.entries.append(e)
        self._update_fault()
        log.info(
            "outbox", "stored seq=%d bytes=%d critical=%d persisted=%d entries=%d"
            % (seq, len(payload), critical, e.persisted, len(self.entries)),
        )
        return e

    def remove(self, seq: int) -> Entry | None:
        """Forget an entry (the gateway has it); retry one flash write that failed before."""
        for e in self.entries:
            if e.seq == seq:
                self.entries.remove(e)
                if e.persisted:
                    flash.remove(e.path)
                for other in self.entries:
                    if not other.persisted:
                        self._persist(other)
                        break
                self._update_fault()
                return e
        return None

    def _on_flash(self) -> int:
        n = 0
        for e in self.entries:
            n += e.persisted
        return n

    def _persist(self, e: Entry) -> None:
        why = "outbox full of critical entries"
        if self._on_flash() < self.capacity:
            path = self.path(e)
            try:
                flash.write_atomic(path, e.topic.encode() + b"\n" + e.payload)
                e.persisted = True
                e.path = path
                return
            except OSError as err:
                why = "flash write failed errno=%s" % err.errno
        log.error("outbox", "keeping in RAM only seq=%d reason=%s" % (e.seq, log.q(why)))

    def _drop(self, e: Entry, why: str) -> None:
        log.error("outbox", "dropped seq=%d reason=%s critical=%d" % (e.seq, why, e.critical))
        self.entries.remove(e)
        if e.persisted:
            flash.remove(e.path)

    def _update_fault(self) -> None:
        fault = False
        for e in self.entries:
            fault = fault or not e.persisted
        if fault != self.fault:
            log.info("outbox", "flash fault=%d" % fault)
        self.fault = fault

