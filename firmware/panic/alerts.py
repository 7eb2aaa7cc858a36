"""Alert lifecycle: raise (number, sign, store) and follow the gateway's acks.

Raising an alert: next seq -> signed body -> outbox (on flash before the
first send) -> delivery is woken. An alert is never raised twice: its bytes
are fixed at raise time and every retransmission reuses them.

Acks (``panic/v1/dev/{id}/ack``) are believed only when signed with this
device's key, for this device, about an alert this device sent. Any valid
state means the gateway has committed the alert, so the outbox entry goes;
``received`` is the normal first one. Later states only change what the
indicator shows. Anything else is ignored and logged (``W <up> ack:
rejected reason=<code>``); bad signatures are counted.
"""

import json

from micropython import const

from panic import log, mem, messages
from panic.outbox import CRITICAL_TYPES
from panic.sign import BAD_SIG, SigError

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Callable

    from panic.gps import Gps
    from panic.hal import Hardware
    from panic.outbox import Outbox
    from panic.seq import SeqCounter
    from panic.sign import Signer

_RECENT = const(8)  # confirmed alerts whose later states (acknowledged, ...) are still followed


class Alerts:
    def __init__(
        self, dev: str, hw: Hardware, seq: SeqCounter, outbox: Outbox, signer: Signer,
        on_stored: Callable[[], None], on_change: Callable[[str], None], gps: Gps | None = None,
    ) -> None:
        self.dev = dev
        self.hw = hw
        self.gps = gps  # None: no receiver on this board, every loc null
        self.seq = seq
        self.outbox = outbox
        self.signer = signer
        self.on_stored = on_stored
        self.on_change = on_change
        self.alert_topic = messages.topic(dev, "alert")
        self.ack_topic = messages.topic(dev, "ack")
        self._recent: list[int] = []  # seqs of alerts confirmed since boot, newest last
        self.latest_state: str | None = None  # gateway state of the newest confirmed alert
        self.latest_ref = 0
        # Seqs the indicator must not show (silent_sos and its cancel, device events); those
        # pending from before a reboot are told by their bytes.
        self.quiet = [e.seq for e in outbox.entries if not e.critical or b'"silent_sos"' in e.payload]
        self.bad_sig = 0
        self.rejected = 0

    def raise_alert(self, kind: str, ref: int | None = None, quiet: bool = False) -> int:
        """Number, sign and store an alert; its seq, or 0 when none is left (seq.py: exhausted).

        `quiet`: its acks never change what the indicator shows (silent_sos, device events).
        """
        hw = self.hw
        try:
            seq = self.seq.next()
        except OverflowError:  # seq.py: exhausted
            log.error("alert", "not raised type=%s reason=seq_exhausted" % kind)
            self.on_change("seq_exhausted")
            return 0
        now = log.uptime_ms()
        loc = "null"
        gps = self.gps
        if gps is not None:
            gps.alert(now)  # the receiver on at once, for this alert's followers
            here = gps.loc(now)
            if here is not None:
                from panic import fix  # loaded by the app with panic.gps

                loc = fix.location(here)
        body = messages.alert(
            self.dev, seq, kind, hw.clock.utc(), now, hw.battery(), hw.power(), "wifi", hw.wifi.rssi(), ref, loc,
        )
        payload = self.signer.sign(self.alert_topic, body)
        log.info("alert", "raised seq=%d type=%s" % (seq, kind))
        if quiet:
            self.quiet.append(seq)
            if len(self.quiet) > self.outbox.capacity + 8:  # as many as the outbox holds
                self.quiet.pop(0)
        self.outbox.add(seq, self.alert_topic, payload, kind in CRITICAL_TYPES)
        self.on_stored()
        self.on_change("raised")
        return seq

    def loud(self) -> bool:
        """Whether an entry the indicator shows (not a quiet one) is waiting for the gateway."""
        for e in self.outbox.entries:
            if e.seq not in self.quiet:
                return True
        return False

    def on_ack(self, payload: bytes | int, state: str | None = None) -> None:
        """An ack from MQTT (signed JSON, checked here); or, with `state`, one already checked: `payload` is
        its ref (an ack SMS, panic/smsout.py). Both are then handled alike."""
        ref: int
        if state is None:
            try:
                signed = self.signer.verify(self.ack_topic, payload)  # type: ignore[arg-type]
            except SigError as e:
                reason = e.args[0]
                if reason == BAD_SIG:
                    self.bad_sig += 1
                self._reject(reason)
                return
            try:
                ack = json.loads(signed)
                ref = ack.get("ref")  # checked below
            except (ValueError, AttributeError):  # not JSON; JSON but not an object (no get)
                self._reject("bad_json")
                return
            state = ack.get("state")
            if (
                "sig" in ack
                or ack.get("v") != 1
                or not isinstance(ref, int)
                or isinstance(ref, bool)
                or state not in messages.ACK_STATES
            ):
                self._reject("bad_field")
                return
            if ack.get("dev") != self.dev:
                self._reject("dev_mismatch")
                return
        else:
            ref = payload  # type: ignore[assignment]
        entry = self.outbox.remove(ref)
        if entry is not None:
            log.info("ack", "delivered seq=%d state=%s tries=%d" % (ref, state, entry.sends))
            self._recent.append(ref)
            if len(self._recent) > _RECENT:
                self._recent.pop(0)
        elif ref in self._recent:
            log.info("ack", "state seq=%d state=%s" % (ref, state))
        else:
            log.warn("ack", "ignored unknown ref=%d state=%s" % (ref, state))
            return
        if ref >= self.latest_ref and ref not in self.quiet:
            self.latest_ref = ref
            self.latest_state = state
        self.on_change(state)
        if entry is not None:
            mem.report("acked seq=%d" % ref)

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        log.warn("ack", "rejected reason=%s bad_sig=%d" % (reason, self.bad_sig))
