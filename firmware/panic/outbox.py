"""The flash outbox: messages kept until the gateway confirms them.

Each entry is one file ``outbox/<seq, 10 digits>.<c|n>`` holding
``topic + "\\n" + payload`` - the exact signed bytes, so every retransmission
(also after a reboot) is byte-identical and the gateway sees a duplicate,
not a new alert. ``c`` marks critical entries (sos, silent_sos, cancel), ``n``
the others (test, tamper, power and battery events).

Rules:
- an entry is on flash (write temp, close, rename) before its first send;
- at most `capacity` entries on flash; when full, the oldest non-critical
  entry is dropped; critical entries are never dropped for space;
- if the flash cannot take an entry (outbox full of critical entries,
  ENOSPC, any write error) it is kept and sent from RAM, ``fault`` is set and
  logged, and the write is retried whenever an entry is removed; RAM-only
  entries are bounded too (`capacity` + 8), non-critical ones dropped first;
- entries leave only through ``remove(seq)``, i.e. on the gateway's ack.

Sending and back-off are delivery.py's business; this module only keeps.
"""

import os
import time

from panic import flash, log

OUTBOX_DIR = "outbox"
CRITICAL_TYPES = ("sos", "silent_sos", "cancel")
_RAM_SLACK = 8


class Entry:
    def __init__(self, seq: int, topic: str, payload: bytes, critical: bool) -> None:
        self.seq = seq
        self.topic = topic
        self.payload = payload
        self.critical = critical
        self.persisted = False
        self.sends = 0
        self.due = time.ticks_ms()  # next (re)transmission, in ticks_ms
        self.backoff_ms = 0


class Outbox:
    def __init__(self, directory: str = OUTBOX_DIR, capacity: int = 32) -> None:
        self.dir = directory
        self.capacity = capacity
        self.entries: list[Entry] = []  # oldest (lowest seq) first
        self.fault = False  # some entry is in RAM only

    def _path(self, e: Entry) -> str:
        return "%s/%010d.%s" % (self.dir, e.seq, "c" if e.critical else "n")

    def load(self, topic_prefix: str) -> list[Entry]:
        """Read the outbox after a (re)boot; returns the entries, oldest first.

        A flash that cannot even be listed is a fault, not a crash: the
        button still raises and sends alerts, from RAM.
        """
        try:
            self._load(topic_prefix)
        except OSError as e:
            self.fault = True
            log.error("outbox", "cannot read the outbox errno=%s; alerts stay in RAM" % e.errno)
        log.info("outbox", "loaded entries=%d" % len(self.entries))
        return self.entries

    def _load(self, topic_prefix: str) -> None:
        flash.makedirs(self.dir)
        n = flash.clean_tmp(self.dir)
        if n:
            log.warn("outbox", "removed interrupted writes count=%d" % n)
        for name in sorted(os.listdir(self.dir)):
            path = self.dir + "/" + name
            data = flash.read(path) or b""
            nl = data.find(b"\n")
            ok = len(name) == 12 and name[10] == "." and name[11] in "cn" and name[:10].isdigit()
            ok = ok and nl > 0 and data[nl + 1 : nl + 2] == b"{" and data[-2:] == b'"}'
            if not ok or not data[:nl].decode().startswith(topic_prefix):
                # Atomic writes make a torn file impossible; this is a foreign or damaged file.
                log.error("outbox", "discarding unusable entry file=%s" % log.q(name))
                flash.remove(path)
                continue
            e = Entry(int(name[:10]), data[:nl].decode(), data[nl + 1 :], name[11] == "c")
            e.persisted = True
            self.entries.append(e)

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
        """Forget an entry (the gateway has it); retry flash writes that failed before."""
        for e in self.entries:
            if e.seq == seq:
                self.entries.remove(e)
                if e.persisted:
                    flash.remove(self._path(e))
                for other in self.entries:
                    if not other.persisted:
                        self._persist(other)
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
            try:
                flash.write_atomic(self._path(e), e.topic.encode() + b"\n" + e.payload)
                e.persisted = True
                return
            except OSError as err:
                why = "flash write failed errno=%s" % err.errno
        log.error("outbox", "keeping in RAM only seq=%d reason=%s" % (e.seq, log.q(why)))

    def _drop(self, e: Entry, why: str) -> None:
        log.error("outbox", "dropped seq=%d reason=%s critical=%d" % (e.seq, why, e.critical))
        self.entries.remove(e)
        if e.persisted:
            flash.remove(self._path(e))

    def _update_fault(self) -> None:
        fault = False
        for e in self.entries:
            fault = fault or not e.persisted
        if fault != self.fault:
            log.info("outbox", "flash fault=%d" % fault)
        self.fault = fault
