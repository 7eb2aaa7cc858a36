"""Judge device messages: the ordered checks of protocol/README.md, then storage.

No MQTT here: `Ingest.judge()` takes topics and payloads and says what
happened to each (gateway/pipeline.py's `Outcome`), committing the new ones
together with the publications a plan decides for them; gateway/bridge.py
hands those to the publisher and acknowledges the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from gateway import protocol
from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.pipeline import Outcome
from gateway.protocol import Rejected
from gateway.storage.outbox import OutboxItem, Publication
from gateway.storage.store import Acceptance, Candidate, Store

log = logging.getLogger("gateway.ingest")

OutcomePlan = Callable[[list[Outcome]], list[Publication]]


class Ingest:
    def __init__(self, store: Store, metrics: Metrics, max_payload_bytes: int) -> None:
        self.store = store
        self.metrics = metrics
        self.max_payload_bytes = max_payload_bytes

    def device_message(self, topic: str, payload: bytes, now: datetime) -> Outcome:
        return self.device_batch([(topic, payload)], now)[0]

    def device_batch(self, messages: Sequence[tuple[str, bytes]], now: datetime) -> list[Outcome]:
        return self.judge(messages, now, lambda _outcomes: [])[0]

    def judge(self, messages: Sequence[tuple[str, bytes]], now: datetime,
              plan: OutcomePlan) -> tuple[list[Outcome], list[OutboxItem]]:
        """Judge messages in arrival order; commit the new ones and `plan(outcomes)` in one transaction."""
        verified: list[Candidate | Rejected] = []
        for topic, payload in messages:
            try:
                verified.append(self._verify(topic, payload, now))
            except Rejected as rejected:
                verified.append(rejected)
        return self.judge_verified(verified, [topic for topic, _ in messages], now, plan,
                                   describe=lambda topic: f"topic '{printable(topic, 80)}'")

    def judge_verified(self, verified: Sequence[Candidate | Rejected], sources: Sequence[str], now: datetime,
                       plan: OutcomePlan, describe: Callable[[str], str] = str,
                       ) -> tuple[list[Outcome], list[OutboxItem]]:
        """Checks done elsewhere (an SMS, gateway/sms/): the replay window and the one commit path.

        `describe(source)` names a message's sender in the log when no device id is known (its topic,
        or the number an SMS came from); called only for those."""
        candidates = [v for v in verified if isinstance(v, Candidate)]
        outcomes: list[Outcome] = []

        def staged_for(acceptances: list[Acceptance]) -> list[Publication]:
            outcomes[:] = self._outcomes(verified, acceptances)
            return plan(outcomes)

        _, staged = self.store.accept_and_stage(candidates, now, staged_for)
        for source, outcome in zip(sources, outcomes, strict=True):
            self._count(source, outcome, describe)
        return outcomes, staged

    def _verify(self, topic: str, payload: bytes, now: datetime) -> Candidate:
        """Checks 1-8 (protocol/README.md); storage does check 9, the replay window."""
        envelope = protocol.open_envelope(topic, payload, self.max_payload_bytes)
        try:
            self.check_signature(envelope.device_id, lambda key: protocol.verify(envelope, topic, key), now)
            body = protocol.parse_body(envelope)
        except Rejected as rejected:
            rejected.device_id = envelope.device_id  # the topic named the sender
            raise
        return Candidate(envelope.device_id, body["seq"], payload, body if envelope.kind == "alert" else None)

    def check_signature(self, device_id: str, verify: Callable[[bytes], None], now: datetime) -> None:
        """Checks 4-5: a registered, unrevoked sender, signed with its current key or,
        during the grace period after a rotation, its previous one. `verify(key)` raises
        Rejected("bad_sig") when the message's signature is not that key's."""
        keys = self.store.device_keys(device_id)
        if keys is None:
            raise Rejected("unknown_device", "not registered")
        if keys.status == "revoked":
            raise Rejected("revoked", "the device was revoked")
        if keys.status != "active":
            raise Rejected("unknown_device", f"device is {keys.status}")
        mismatch = Rejected("bad_sig", "signature does not match")
        for name, key in keys.verifying(now):
            try:
                verify(key)
            except Rejected as rejected:
                mismatch = rejected
                continue
            self.metrics.inc("verified_total", key=name)
            return
        raise mismatch

    @staticmethod
    def _outcomes(verified: Sequence[Candidate | Rejected], acceptances: Sequence[Acceptance]) -> list[Outcome]:
        """Pair each message with its verdict (pure: may run again if storage judges the batch again)."""
        judged = iter(acceptances)
        outcomes = []
        for item in verified:
            if isinstance(item, Rejected):
                outcomes.append(Outcome("rejected", item.device_id, reason=item.reason, detail=item.detail))
                continue
            acceptance = next(judged)
            if acceptance.verdict == "replay":
                outcomes.append(Outcome("rejected", item.device_id, reason="replay", detail=f"seq {item.seq}"))
            elif acceptance.verdict == "unknown":
                outcomes.append(Outcome("rejected", item.device_id, reason="unknown_device",
                                        detail="removed meanwhile"))
            elif item.body is None:
                outcomes.append(Outcome("heartbeat", item.device_id))
            else:
                outcomes.append(Outcome(acceptance.verdict, item.device_id, alert=acceptance.alert,
                                        revised=acceptance.revised))
        return outcomes

    def _count(self, source: str, outcome: Outcome, describe: Callable[[str], str]) -> None:
        """Metrics and log lines, once the batch is committed."""
        if outcome.verdict == "heartbeat":
            self.metrics.inc("heartbeats_total")
        elif outcome.verdict == "rejected":
            self.metrics.inc("rejected_total", reason=outcome.reason or "-")
            log.warning("rejected %s message from %s: %s", outcome.reason,
                        outcome.device_id or describe(source), printable(outcome.detail or "-", 200))
        else:
            self.metrics.inc("alerts_total", verdict=outcome.verdict)
