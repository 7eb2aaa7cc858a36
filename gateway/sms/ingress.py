"""SMS alerts in: the modem's SIM → stored → judged as an MQTT alert is → dispatch → a signed ack SMS.

For each SMS on the SIM (announced by +CMTI, and a full AT+CMGL at start,
after every modem reboot and every `sms_poll_s`):

1. read it (AT+CMGR) and store the raw PDU, committed (gateway/storage/sms.py):
   from here a gateway that dies loses nothing, it judges the stored row
   after its restart;
2. decode and check it (gateway/sms/format.py: multipart, not_gsm7, bad_sms),
   then the device and its key exactly as for MQTT (`Ingest.check_signature`),
   the body through the MQTT alert's checks, and commit through the same path
   as MQTT alerts (`Ingest.judge_verified`: replay window, the alert, the
   outbox rows for dispatch, events and the MQTT ack), with `net: "sms"`;
3. answer a new or repeated alert with a signed ack SMS to its sender, and record (committed
   with the alert) that its later states go to that number by SMS too (gateway/sms/acks.py);
4. mark the row done, and only then delete the SMS from the SIM (AT+CMGD).

The sender's number is an extra signal, not the check: an alert from
another number than the device's registered `sim_number` is accepted on
its MAC, and the mismatch is logged, counted and sent to dispatch as an
`sms_sender_mismatch` event. A text that is not our format from a number
no device has is `unknown_number`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

from gateway import lifecycle, pipeline
from gateway.ingest import Ingest, OutcomePlan
from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.pipeline import Outcome
from gateway.protocol import SMS_PREFIX, Rejected
from gateway.sms import format as smsformat
from gateway.sms import pdu
from gateway.sms.modem import Modem, ModemError
from gateway.storage.common import utcnow
from gateway.storage.outbox import OutboxItem, Publication
from gateway.storage.sms import Kept, SmsStore
from gateway.storage.store import Candidate, Store

log = logging.getLogger("gateway.sms")

# Runs the judging with the pipeline's plan plus `extra`, commits and hands the staged rows on
# (Bridge.commit_judged): the one place that throttles rejection events and feeds the publisher.
Committer = Callable[[Callable[[OutcomePlan], tuple[list[Outcome], list[OutboxItem]]], datetime,
                      OutcomePlan], list[Outcome]]


class SmsIngress:
    def __init__(self, modem: Modem, store: Store, sms_store: SmsStore, ingest: Ingest, metrics: Metrics,
                 commit: Committer, *, poll_s: float = 30.0) -> None:
        self.modem = modem
        self.store = store
        self.sms_store = sms_store
        self.ingest = ingest
        self.metrics = metrics
        self.commit = commit
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-sms", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.modem.events.put(("stop", ""))
        self._thread.join(timeout=10)
        self.modem.close()

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        ready = False
        delay = 1.0
        next_poll = 0.0
        while not self._stopping.is_set():
            try:
                if not ready:
                    self._forget_events()  # the sweep after the set-up reads the whole SIM anyway
                    self.modem.setup()
                    ready, delay = True, 1.0
                    log.info("SMS modem ready")
                    self._judge_pending()
                    next_poll = 0.0
                if time.monotonic() >= next_poll:
                    self._sweep()
                    next_poll = time.monotonic() + self.poll_s
                self._wait_event(max(0.0, next_poll - time.monotonic()))
            except _Reset:
                ready = False
            except ModemError as exc:  # a reboot mid-command is one too
                self.metrics.inc("sms_modem_errors_total")
                log.warning("SMS modem: %s; setting it up again in %.0f s", exc, delay)
                ready = False
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
            except Exception:
                self.metrics.inc("sms_errors_total")
                log.exception("SMS ingress failed; retrying in %.0f s", delay)
                ready = False
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)

    def _forget_events(self) -> None:
        """Drop what the modem announced before this set-up: one reboot prints several boot lines."""
        while True:
            try:
                self.modem.events.get_nowait()
            except queue.Empty:
                return

    def _wait_event(self, timeout_s: float) -> None:
        try:
            kind, value = self.modem.events.get(timeout=timeout_s)
        except queue.Empty:
            return
        if kind == "sms":
            self._take(value)
        elif kind in ("reset", "lost"):
            self.metrics.inc("sms_modem_resets_total")
            raise _Reset()

    def _sweep(self) -> None:
        """Every SMS on the SIM (those whose +CMTI was missed, or that a crash left there)."""
        for index, hex_pdu in self.modem.list_all():
            self._handle(index, hex_pdu)

    def _take(self, index: str) -> None:
        hex_pdu = self.modem.read(index)
        if hex_pdu is not None:
            self._handle(index, hex_pdu)

    def _handle(self, index: str, hex_pdu: str) -> None:
        kept = self.sms_store.keep(hex_pdu, utcnow())
        if not kept.done:
            self._judge(kept)
        self.modem.delete(index)  # only now: the SMS is judged and committed

    def _judge_pending(self) -> None:
        """SMS stored by an earlier run that died before judging them."""
        for kept in self.sms_store.pending():
            log.info("judging SMS %d stored before a restart", kept.id)
            self._judge(kept)

    # --- judging -----------------------------------------------------------------------

    def _judge(self, kept: Kept) -> None:
        now = utcnow()
        self.metrics.inc("sms_received_total")
        sender: str | None = None
        try:
            delivered = pdu.decode_deliver(kept.pdu)
            sender = delivered.sender
            verified: Candidate | Rejected = self._verify(delivered, now)
        except pdu.PduError as exc:
            verified = Rejected("bad_sms", f"unreadable PDU: {exc}")
        except Rejected as rejected:
            verified = rejected
        source = f"SMS from {printable(sender or '?', 40)}"
        mismatch = self._mismatch(verified, sender)
        outcomes = self.commit(
            lambda plan: self.ingest.judge_verified([verified], [source], now, plan), now,
            lambda judged: [*self._mismatch_events(judged, mismatch, now), *_route(judged, sender)])
        outcome = outcomes[0]
        if mismatch is not None and outcome.verdict != "rejected":
            self.metrics.inc("sms_sender_mismatch_total")
            log.warning("%s (accepted on its MAC)", mismatch)
        if outcome.verdict == "rejected":
            self.metrics.inc("sms_rejected_total", reason=outcome.reason or "-")
        elif outcome.alert is not None and sender is not None:
            self.metrics.inc("sms_alerts_total", verdict=outcome.verdict)
            self._ack(sender, outcome.alert.device_id, outcome.alert.seq, now)
        self.sms_store.done(kept.id, sender, outcome.reason or outcome.verdict, utcnow())

    def _verify(self, delivered: pdu.Delivered, now: datetime) -> Candidate:
        return verify(delivered, self.ingest, self.sms_store, now)

    def _mismatch(self, verified: Candidate | Rejected, sender: str | None) -> str | None:
        """Why the sender's number is not the device's registered SIM, or None (it is, or none is registered)."""
        if not isinstance(verified, Candidate) or sender is None:
            return None
        registered = self.sms_store.sim_number(verified.device_id)
        if registered is None or registered == sender:
            return None
        return f"SMS alert seq {verified.seq} came from {printable(sender, 40)}, not the registered SIM {registered}"

    def _mismatch_events(self, judged: list[Outcome], mismatch: str | None, now: datetime) -> list[Publication]:
        if mismatch is None or judged[0].verdict == "rejected":
            return []
        return [pipeline.event("sms_sender_mismatch", judged[0].device_id, now, detail=mismatch)]

    def _ack(self, sender: str, device_id: str, seq: int, now: datetime) -> None:
        key = self.store.device_key(device_id)
        if key is None:
            return
        text = smsformat.ack_text(key, device_id, seq, "received", int(now.timestamp()))
        try:
            self.modem.send_sms(sender, text)
            self.metrics.inc("sms_acks_total")
        except ModemError as exc:
            # The button sends its SMS again; that repeat is a duplicate and is acked then.
            self.metrics.inc("sms_ack_failures_total")
            log.warning("ack SMS for %s:%d to %s not sent: %s", device_id, seq, printable(sender, 40), exc)


def _route(judged: list[Outcome], sender: str | None) -> list[Publication]:
    """An alert SMS judged new or a repeat: its later states go back by SMS too, to this sender
    (committed with the alert: a move police make at once already finds it), and the state it is in
    already, when the button shows it (a repeat of an alert police answered before it had a route)."""
    alert = judged[0].alert
    if alert is None or sender is None or judged[0].verdict not in ("new", "duplicate"):
        return []
    now = [pipeline.sms_ack(alert, alert.state)] if alert.state in lifecycle.SHOWN_TO_DEVICE else []
    return [pipeline.sms_route(alert, sender), *now]


def verify(delivered: pdu.Delivered, ingest: Ingest, sms_store: SmsStore, now: datetime) -> Candidate:
    """An SMS's checks in the contract's order (protocol/README.md, SMS); Rejected with the reason."""
    if delivered.multipart:
        raise Rejected("multipart", "a part of a concatenated SMS: an alert is always one SMS")
    if delivered.text is None:
        raise Rejected("not_gsm7", f"{delivered.alphabet} data, not text")
    text = delivered.text
    if not text.encode("utf-8").startswith(SMS_PREFIX) and not sms_store.is_known_number(delivered.sender):
        raise Rejected("unknown_number", f"not an alert SMS, from {printable(delivered.sender, 40)}, "
                                         "which is no registered device's SIM")
    sms = smsformat.parse_alert(text)
    try:
        ingest.check_signature(sms.device_id, lambda key: smsformat.verify(sms, key), now)
        body = smsformat.parse_body(sms)
    except Rejected as rejected:
        rejected.device_id = sms.device_id
        raise
    return Candidate(sms.device_id, sms.seq, text.encode("ascii"), body)


class _Reset(Exception):
    """The modem rebooted: set it up again, then read the whole SIM."""
