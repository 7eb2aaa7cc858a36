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

Loading after a reboot trusts nothing on the flash: a file is taken only if
its name, size, topic, seq and signature are right (``verify`` is the
device's signature check). Anything else - a directory, a 200 KB file, a
non-UTF-8 topic, a payload with a bad or missing signature - is deleted
with an ``E ... outbox: discarding unusable entry`` line and counted in
``damaged`` (the app shows ``fault`` for it): resending a payload the
gateway will never accept would keep the button "sending" forever.

Sending and back-off are delivery.py's business; this module only keeps.
"""

import os
import time

from panic import flash, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

OUTBOX_DIR = "outbox"
CRITICAL_TYPES = ("sos", "silent_sos", "cancel")
MAX_SEQ = 9007199254740991  # 2^53-1, the protocol's highest seq
MAX_ENTRY_BYTES = 1024  # an alert entry is about 300 bytes; a bigger file is not one of ours
_DIGITS = 16  # len(str(MAX_SEQ))
_RAM_SLACK = 8


class Entry:
    def __init__(self, seq: int, topic: str, payload: bytes, critical: bool) -> None:
        self.seq = seq
        self.topic = topic
        self.payload = payload
        self.critical = critical
        self.path = ""  # the file holding it; "" while it is in RAM only
        self.sends = 0
        self.due = time.ticks_ms()  # next (re)transmission, in ticks_ms
        self.backoff_ms = 0

    @property
    def persisted(self) -> bool:
        return self.path != ""


def entry_seq(name: str) -> int:
    """The seq an entry file name stands for, 0 if it is not an entry name."""
    stem, dot, kind = name.rpartition(".")
    if not dot or kind not in ("c", "n") or not 0 < len(stem) <= _DIGITS or not stem.isdigit():
        return 0
    seq = int(stem)
    return seq if seq <= MAX_SEQ else 0


class Outbox:
    def __init__(self, directory: str = OUTBOX_DIR, capacity: int = 32) -> None:
        self.dir = directory
        self.capacity = capacity
        self.entries: list[Entry] = []  # oldest (lowest seq) first
        self.fault = False  # some entry is in RAM only
        self.damaged = 0  # unusable files found (and removed) at boot

    def _path(self, e: Entry) -> str:
        return "%s/%0*d.%s" % (self.dir, _DIGITS, e.seq, "c" if e.critical else "n")

    def load(self, topic_prefix: str, verify: Callable[[str, bytes], bytes]) -> list[Entry]:
        """Read the outbox after a (re)boot; returns the entries, oldest first.

        `verify(topic, payload)` raises for a payload not signed with the
        device key. Nothing on the flash can make this raise: a flash that
        cannot even be listed is a fault, and the button raises and sends
        alerts from RAM.
        """
        try:
            self._prepare()
            for name, kind, size in self._listing():
                self._load_one(name, kind, size, topic_prefix, verify)
        except Exception as e:  # OSError from the flash, MemoryError from a huge listing
            self.fault = True
            log.exc("outbox", "cannot read the outbox; alerts stay in RAM", e)
        self.entries.sort(key=_seq_of)
        i = 1
        while i < len(self.entries):  # two files for one seq (renamed by hand): one is enough
            if self.entries[i].seq == self.entries[i - 1].seq:
                self._discard(self.entries.pop(i).path, "duplicate seq")
            else:
                i += 1
        log.info("outbox", "loaded entries=%d damaged=%d" % (len(self.entries), self.damaged))
        return self.entries

    def _prepare(self) -> None:
        try:
            is_dir = os.stat(self.dir)[0] & 0x4000
        except OSError:
            is_dir = -1  # missing
        if not is_dir:
            self._discard(self.dir, "not a directory")
        if is_dir <= 0:
            os.mkdir(self.dir)
        n = flash.clean_tmp(self.dir)
        if n:
            log.warn("outbox", "removed interrupted writes count=%d" % n)

    def _listing(self) -> list:
        # ilistdir gives type and (on LittleFS and the unix port) size without a stat per file.
        found = []
        for item in os.ilistdir(self.dir):
            found.append((item[0], item[1], item[3] if len(item) > 3 else -1))
        return found

    def _load_one(
        self, name: str, kind: int, size: int, topic_prefix: str, verify: Callable[[str, bytes], bytes]
    ) -> None:
        path = self.dir + "/" + name
        why = ""
        try:
            why = self._check(name, kind, size, path, topic_prefix, verify)
        except MemoryError:
            raise  # no heap left for more entries: the rest stay on flash for the next boot
        except Exception as e:  # unreadable, non-UTF-8 topic, ...
            why = "unreadable exc=%s" % type(e).__name__
        if why:
            self._discard(path, why)

    def _check(
        self, name: str, kind: int, size: int, path: str, topic_prefix: str, verify: Callable[[str, bytes], bytes]
    ) -> str:
        """Load the entry in file `name`; returns why it is unusable ("" when it was loaded)."""
        seq = entry_seq(name)
        if not seq:
            return "bad name"
        if kind & 0x4000:
            return "a directory"
        if size < 0:  # ilistdir without sizes (the unix port)
            size = os.stat(path)[6]
        if size > MAX_ENTRY_BYTES:
            return "too big bytes=%d" % size  # never read: it could not fit in the heap
        data = flash.read(path, MAX_ENTRY_BYTES) or b""
        nl = data.find(b"\n")
        if nl <= 0:
            return "no topic"
        topic = data[:nl].decode()  # UnicodeError for a non-UTF-8 topic
        payload = data[nl + 1 :]
        if not topic.startswith(topic_prefix):
            return "foreign topic"
        if ('"seq":%d,' % seq).encode() not in payload:
            return "seq does not match the name"
        try:
            verify(topic, payload)
        except Exception:  # SigError: a payload the gateway would refuse forever
            return "bad signature"
        e = Entry(seq, topic, payload, name[-1] == "c")
        e.path = path
        self.entries.append(e)
        return ""

    def _discard(self, path: str, why: str) -> None:
        self.damaged += 1
        log.error("outbox", "discarding unusable entry file=%s reason=%s" % (log.q(path), log.q(why)))
        if not flash.remove(path):
            try:
                os.rmdir(path)  # an empty directory; a full one stays, skipped at every boot
            except OSError:
                log.error("outbox", "cannot remove file=%s" % log.q(path))

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
            path = self._path(e)
            try:
                flash.write_atomic(path, e.topic.encode() + b"\n" + e.payload)
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


def _seq_of(e: Entry) -> int:
    return e.seq
