"""Judge one device message: the ordered checks of protocol/README.md, then storage.

No MQTT here: `Ingest.device_message()` takes a topic and payload and says
what happened; gateway/bridge.py does the publishing and acknowledging.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gateway import protocol
from gateway.logsafe import printable
from gateway.metrics import Metrics
from gateway.protocol import Reason, Rejected
from gateway.storage.models import Alert
from gateway.storage.store import Acceptance, Candidate, Store

log = logging.getLogger("gateway.ingest")


@dataclass(frozen=True)
class Outcome:
    verdict: Literal["new", "duplicate", "heartbeat", "rejected"]
    device_id: str | None
    alert: Alert | None = None
    reason: Reason | None = None
    detail: str = ""


class Ingest:
    def __init__(self, store: Store, metrics: Metrics, max_payload_bytes: int) -> None:
        self.store = store
        self.metrics = metrics
        self.max_payload_bytes = max_payload_bytes

    def device_message(self, topic: str, payload: bytes, now: datetime) -> Outcome:
        return self.device_batch([(topic, payload)], now)[0]

    def device_batch(self, messages: Sequence[tuple[str, bytes]], now: datetime) -> list[Outcome]:
        """Judge messages in arrival order; the new ones are committed in one transaction."""
        outcomes: list[Outcome | None] = []
        candidates: list[Candidate] = []
        for topic, payload in messages:
            try:
                candidates.append(self._verify(topic, payload, now))
                outcomes.append(None)  # judged by storage below
            except Rejected as rejected:
                outcomes.append(self._rejected(topic, None, rejected))
        judged = iter(self.store.accept_many(candidates, now) if candidates else [])
        pending = iter(candidates)
        result = []
        for (topic, _payload), outcome in zip(messages, outcomes, strict=True):
            if outcome is None:
                outcome = self._outcome(topic, next(pending), next(judged))
            result.append(outcome)
        return result

    def _verify(self, topic: str, payload: bytes, now: datetime) -> Candidate:
        """Checks 1-8 (protocol/README.md); storage does check 9, the replay window."""
        envelope = protocol.open_envelope(topic, payload, self.max_payload_bytes)
        try:
            self._check_signature(envelope, topic, now)
            body = protocol.parse_body(envelope)
        except Rejected as rejected:
            rejected.device_id = envelope.device_id  # the topic named the sender
            raise
        return Candidate(envelope.device_id, body["seq"], payload, body if envelope.kind == "alert" else None)

    def _check_signature(self, envelope: protocol.Envelope, topic: str, now: datetime) -> None:
        """Checks 4-5: a registered, unrevoked sender, signed with its current key or,
        during the grace period after a rotation, its previous one."""
        keys = self.store.device_keys(envelope.device_id)
        if keys is None:
            raise Rejected("unknown_device", "not registered")
        if keys.status == "revoked":
            raise Rejected("revoked", "the device was revoked")
        if keys.status != "active":
            raise Rejected("unknown_device", f"device is {keys.status}")
        mismatch = Rejected("bad_sig", "signature does not match")
        for name, key in keys.verifying(now):
            try:
                protocol.verify(envelope, topic, key)
            except Rejected as rejected:
                mismatch = rejected
                continue
            self.metrics.inc("verified_total", key=name)
            return
        raise mismatch

    def _outcome(self, topic: str, candidate: Candidate, acceptance: Acceptance) -> Outcome:
        if acceptance.verdict == "replay":
            return self._rejected(topic, candidate.device_id, Rejected("replay", f"seq {candidate.seq}"))
        if acceptance.verdict == "unknown":
            return self._rejected(topic, candidate.device_id, Rejected("unknown_device", "removed meanwhile"))
        if candidate.body is None:
            self.metrics.inc("heartbeats_total")
            return Outcome("heartbeat", candidate.device_id)
        self.metrics.inc("alerts_total", verdict=acceptance.verdict)
        return Outcome(acceptance.verdict, candidate.device_id, alert=acceptance.alert)

    def _rejected(self, topic: str, device_id: str | None, rejected: Rejected) -> Outcome:
        device_id = device_id or rejected.device_id
        self.metrics.inc("rejected_total", reason=rejected.reason)
        log.warning("rejected %s message from %s: %s", rejected.reason,
                    device_id or f"topic '{printable(topic, 80)}'", printable(rejected.detail or "-", 200))
        return Outcome("rejected", device_id, reason=rejected.reason, detail=rejected.detail)
