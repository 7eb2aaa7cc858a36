"""The message sequence counter: strictly increasing, never repeated.

One counter covers every signed message (alerts and heartbeats). The file
``seq`` holds the reservation ceiling R as decimal text: every seq <= R may
already have been used. At boot the counter resumes at R + 1 and, before a
seq above the ceiling is handed out, a new ceiling R + block is written
(atomically). A power cut therefore skips at most `block` numbers and never
repeats one, while flash is written once per `block` messages. Reading the
ceiling at boot is panic.boot.load_seq (boot-only code, unloaded after use).

If the ceiling cannot be written (full or failing flash) seqs keep coming
from RAM, because refusing to number an SOS would lose it; the fault is
logged and flagged, and the write is retried at the next seq.

The protocol caps seq at 2^53-1 (9007199254740991, written out below:
a name would be one more qstr, see docs/firmware.md). The ceiling never goes beyond
it, and a stored ceiling beyond it is treated as a damaged file. Once
the cap has been handed out the counter is exhausted: ``next()`` raises
OverflowError and ``fault`` stays set. Repeating or wrapping a seq would
make the gateway take a new alert for a duplicate of an old one and ack
it - a silent loss - while a refused alert is logged and shows ``fault``.
(At one message a second the cap is 285 million years away; only a
hand-edited seq file can bring it near: re-provision the device then.)
"""

from panic import flash, log
from micropython import const

_SEQ_FILE = const("seq")


class SeqCounter:
    def __init__(self, path: str = _SEQ_FILE, block: int = 64) -> None:
        self.path = path
        self.block = block
        self.ceiling = 0  # highest seq covered by the reservation on flash
        self.last = 0  # last seq handed out
        self.fault = False

    def next(self) -> int:
        seq = self.last + 1
        if seq > 9007199254740991:  # 2^53-1
            self.fault = True
            log.error("seq", "exhausted at max=9007199254740991; re-provision the device")
            raise OverflowError("seq exhausted")
        if seq > self.ceiling:
            self._reserve(min(seq + self.block - 1, 9007199254740991))
        self.last = seq
        return seq

    def _reserve(self, ceiling: int) -> None:
        try:
            flash.write_atomic(self.path, ("%d\n" % ceiling).encode())
        except OSError as e:
            if not self.fault:
                log.error("seq", "reserve failed, counting in RAM errno=%s ceiling=%d" % (e.errno, ceiling))
            self.fault = True
            return
        if self.fault:
            log.info("seq", "reserve recovered ceiling=%d" % ceiling)
        self.fault = False
        self.ceiling = ceiling
