"""Remote commands: what `POST /devices/{id}/commands` asks for, and the device's signed results.

    send(device, cmd, args) → one transaction: the command (next cseq) + its outbox row
                            → the publisher signs it with the device's current key and publishes it (QoS 1)
    on_result(topic, payload) → size → topic → sig envelope → registry → HMAC → fields → dev
                              → the command it answers: ok / rejected (the first result wins)

The wire contract is protocol/README.md, "Commands". A command is published
by the transactional outbox like an ack, so a crash neither loses it (the
row is committed with the command) nor makes the device run it twice (a
command published again carries the same cseq, which the device has
stored: it answers `replay`, and that second answer changes nothing here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from gateway import protocol
from gateway.ingest import Ingest
from gateway.logsafe import printable
from gateway.protocol import CONFIG_BOUNDS, Rejected
from gateway.storage.commands import CommandView
from gateway.storage.common import utcnow
from gateway.storage.outbox import OutboxItem

log = logging.getLogger("gateway.commands")

DEFAULT_TTL_S = 300  # how long a device may take to get a command before it no longer counts
RESULT_MAX_BYTES = 2048


class CommandIn(BaseModel):
    """The body of `POST /devices/{id}/commands`."""

    model_config = ConfigDict(strict=True, extra="forbid")

    cmd: Literal["locate", "test", "identify", "config", "reboot"]
    args: dict[str, StrictInt] = Field(default_factory=dict)
    ttl_s: int = Field(default=DEFAULT_TTL_S, ge=10, le=86_400,
                       description="seconds the command stays valid (the device rejects it as expired after)")

    @model_validator(mode="after")
    def _args_fit_the_command(self) -> CommandIn:
        if self.cmd != "config":
            if self.args:
                raise ValueError(f"{self.cmd} takes no args")
            return self
        if not self.args:
            raise ValueError(f"config needs at least one of {', '.join(CONFIG_BOUNDS)}")
        for name, value in self.args.items():
            if name not in CONFIG_BOUNDS:
                raise ValueError(f"config cannot change {printable(name, 40)}: only {', '.join(CONFIG_BOUNDS)}")
            low, high = CONFIG_BOUNDS[name]
            if not low <= value <= high:
                raise ValueError(f"{name} {value} is outside {low} to {high}")
        hold, cancel = self.args.get("hold_ms"), self.args.get("cancel_ms")
        if hold is not None and cancel is not None and cancel <= hold:
            # The device checks this against its current values too (it alone knows them).
            raise ValueError(f"cancel_ms {cancel} must be above hold_ms {hold}")
        return self


class Commands:
    def __init__(self, ingest: Ingest, submit: Callable[[list[OutboxItem]], None]) -> None:
        self.ingest = ingest  # its store, metrics and signature check
        self.store = ingest.store
        self.metrics = ingest.metrics
        self.submit = submit  # hands committed publications to the publisher

    def send(self, device_id: str, command: CommandIn, requested_by: str) -> CommandView:
        """Store and stage a command for an active device (StoreError: not_found, conflict)."""
        created, staged = self.store.create_command(device_id, command.cmd, dict(command.args), requested_by,
                                                    utcnow(), command.ttl_s)
        self.submit(staged)
        self.metrics.inc("commands_total", cmd=command.cmd)
        log.info("command %d for %s: %s cseq %d by %s", created.id, device_id, created.cmd, created.cseq,
                 requested_by)
        return created

    def on_result(self, topic: str, payload: bytes) -> None:
        """A result from a device: verified, then stored with its command, or logged and dropped."""
        try:
            device_id, result = self._verify(topic, payload)
        except Rejected as rejected:
            self.metrics.inc("command_results_rejected_total", reason=rejected.reason)
            log.warning("rejected a command result on %s: %s", printable(topic, 80), rejected)
            return
        if result["cseq"] is None:
            # The device could not even read the command (forged, unsigned, not JSON): nothing to match it to.
            self.metrics.inc("command_results_total", status="unmatched")
            log.warning("device %s rejected a command it could not read: %s", device_id, result["reason"])
            return
        if self.store.record_result(device_id, result, utcnow()):
            self.metrics.inc("command_results_total", status=result["status"])
            log.info("device %s answered command cseq %d (%s): %s%s", device_id, result["cseq"], result["cmd"],
                     result["status"], f" ({result['reason']})" if result["reason"] else "")
        else:
            self.metrics.inc("command_results_total", status="unmatched")
            log.info("device %s: result for cseq %d (%s %s) matches no waiting command; ignored", device_id,
                     result["cseq"], result["status"], result["reason"])

    def _verify(self, topic: str, payload: bytes) -> tuple[str, dict[str, Any]]:
        envelope = protocol.open_result(topic, payload, RESULT_MAX_BYTES)
        try:
            self.ingest.check_signature(envelope.device_id, lambda key: protocol.verify(envelope, topic, key), utcnow())
            return envelope.device_id, protocol.parse_result(envelope.signed, envelope.device_id)
        except Rejected as rejected:
            rejected.device_id = envelope.device_id
            raise
