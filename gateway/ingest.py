"""Judge one device message: the ordered checks of protocol/README.md, then storage.

No MQTT here: `Ingest.device_message()` takes a topic and payload and says
what happened; gateway/bridge.py does the publishing and acknowledging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gateway import protocol
from gateway.metrics import Metrics
from gateway.protocol import Reason, Rejected
from gateway.storage.models import Alert
from gateway.storage.store import Store

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
        device_id = None
        try:
            envelope = protocol.open_envelope(topic, payload, self.max_payload_bytes)
            device_id = envelope.device_id
            key = self.store.device_key(device_id)
            if key is None:
                raise Rejected("unknown_device", "not registered or disabled")
            protocol.verify(envelope, topic, key)
            body = protocol.parse_body(envelope)
            acceptance = self.store.accept(
                device_id, body["seq"], payload, body if envelope.kind == "alert" else None, now
            )
            if acceptance.verdict == "replay":
                raise Rejected("replay", f"seq {body['seq']}")
        except Rejected as rejected:
            self.metrics.inc("rejected_total", reason=rejected.reason)
            log.warning("rejected %s message from %s: %s", rejected.reason,
                        device_id or repr(topic[:80]), rejected.detail or "-")
            return Outcome("rejected", device_id, reason=rejected.reason, detail=rejected.detail)
        if envelope.kind == "hb":
            self.metrics.inc("heartbeats_total")
            return Outcome("heartbeat", device_id)
        self.metrics.inc("alerts_total", verdict=acceptance.verdict)
        return Outcome(acceptance.verdict, device_id, alert=acceptance.alert)
