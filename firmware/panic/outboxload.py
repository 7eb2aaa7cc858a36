"""Loading the outbox at boot: trusts nothing on the flash.

Boot-only code, so panic.outbox imports it inside ``Outbox.load`` and
unloads it afterwards (its bytecode is heap on a device running .py files).

A file becomes an entry only if its name, size, topic, seq and signature
are right. Anything else - a directory, a 200 KB file, a non-UTF-8 topic, a
payload with a bad or missing signature - is deleted with an
``E ... outbox: discarding unusable entry`` line and counted in
``Outbox.damaged`` (the app shows ``fault`` for it), one file at a time: one
bad file never stops the others from loading. Resending a payload the
gateway will never accept would keep the button "sending" forever.
"""

import os

from panic import flash, log
from panic.outbox import _DIGITS, MAX_ENTRY_BYTES, Entry
from panic.seq import MAX_SEQ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from panic.outbox import Outbox


def load(box: Outbox, topic_prefix: str, verify: Callable[[str, bytes], bytes]) -> None:
    """Fill `box.entries` from its directory, oldest first; never raises.

    A flash that cannot even be listed is a fault, and the button raises and
    sends alerts from RAM. When the heap runs out (far more entries than
    `capacity`) the rest stay on flash for a later boot.
    """
    try:
        try:
            is_dir = os.stat(box.dir)[0] & 0x4000
        except OSError:
            is_dir = -1  # missing
        if not is_dir:
            _discard(box, box.dir, "not a directory")
        if is_dir <= 0:
            os.mkdir(box.dir)
        n = flash.clean_tmp(box.dir)
        if n:
            log.warn("outbox", "removed interrupted writes count=%d" % n)
        # ilistdir gives the type, and on LittleFS the size, without a stat per file.
        for item in list(os.ilistdir(box.dir)):
            path = box.dir + "/" + item[0]
            try:
                why = _check(box, item, path, topic_prefix, verify)
            except MemoryError:
                raise
            except Exception as e:  # unreadable, a non-UTF-8 topic, ...
                why = "unreadable exc=%s" % type(e).__name__
            if why:
                _discard(box, path, why)
    except Exception as e:  # OSError from the flash, MemoryError
        box.fault = True
        log.exc("outbox", "cannot read the whole outbox; alerts stay in RAM", e)
    entries = box.entries
    entries.sort(key=_seq_of)
    i = 1
    while i < len(entries):  # two files for one seq (renamed by hand): one is enough
        if entries[i].seq == entries[i - 1].seq:
            _discard(box, entries.pop(i).path, "duplicate seq")
        else:
            i += 1
    log.info("outbox", "loaded entries=%d damaged=%d" % (len(entries), box.damaged))


def _check(box: Outbox, item: tuple, path: str, topic_prefix: str, verify: Callable[[str, bytes], bytes]) -> str:
    """Load the entry in `path` (an ilistdir item); returns why it is unusable, "" when loaded."""
    stem, _, kind = item[0].rpartition(".")
    if kind not in ("c", "n") or not 0 < len(stem) <= _DIGITS or not stem.isdigit():
        return "bad name"
    seq = int(stem)
    if not 0 < seq <= MAX_SEQ:
        return "bad name"
    if item[1] & 0x4000:
        return "a directory"
    size = item[3] if len(item) > 3 else os.stat(path)[6]  # the unix port lists no sizes
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
    e = Entry(seq, topic, payload, kind == "c")
    e.persisted = True
    e.path = path
    box.entries.append(e)
    return ""


def _discard(box: Outbox, path: str, why: str) -> None:
    box.damaged += 1
    log.error("outbox", "discarding unusable entry file=%s reason=%s" % (log.q(path), log.q(why)))
    if not flash.remove(path):
        try:
            os.rmdir(path)  # an empty directory; a full one stays, skipped at every boot
        except OSError:
            log.error("outbox", "cannot remove file=%s" % log.q(path))


def _seq_of(e: Entry) -> int:
    return e.seq
