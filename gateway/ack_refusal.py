"""A dispatch acknowledgement the gateway refuses, as dispatch is told over MQTT (the `ack_refused` event).

Over HTTP the refusal is the answer: 404, 409 or 422 and its text. A publish on
panic/v1/dispatch/ack has no answer, so the gateway publishes one on
panic/v1/dispatch/events (docs/protocol.md, "Acknowledging an alert"), made of the
same errors the API answers with: a `StoreError` from storage's checks (not_found;
conflict: a stale `rev` or a move gateway/lifecycle.py does not allow) with its
status and text, or the acknowledgement's model refusing the payload (malformed,
FastAPI's 422, with the first error as the API lists it).

The event names what was asked (alert, state, rev, by) so the sender can tell its
own refusal from another desk's. For a malformed payload only what can be read is
named: an alert id or rev that would fail the contract is null, and text is escaped
and cut short (gateway/logsafe.py) as every rejection detail is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from gateway.logsafe import printable
from gateway.protocol import AlertId, DispatchAck, Rev
from gateway.storage.common import HTTP_STATUS, ErrorCode, StoreError

MALFORMED_STATUS = 422  # FastAPI's answer to a body its model refuses
Reason = ErrorCode | Literal["malformed"]

_ALERT_ID: TypeAdapter[str] = TypeAdapter(AlertId)
_REV: TypeAdapter[int] = TypeAdapter(Rev)


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    status: int  # what POST /alerts/{id}/ack answers the same acknowledgement
    detail: str  # the API's text for it
    alert_id: str | None
    state: str | None
    rev: int | None
    by: str | None

    @property
    def device_id(self) -> str | None:
        return self.alert_id.split(":")[0] if self.alert_id else None


def refused(ack: DispatchAck, error: StoreError) -> Refusal:
    """A well-formed acknowledgement that storage refused (the alert as it was)."""
    return Refusal(error.code, HTTP_STATUS[error.code], printable(error, 300), ack.alert_id, ack.state, ack.rev,
                   printable(ack.by, 100))


def first_error(error: ValidationError) -> str:
    """Where and what the first problem is, as the API's 422 lists it (`loc` under the body)."""
    first = error.errors()[0]
    return f"{'.'.join(map(str, first['loc'])) or 'body'}: {first['msg']}"


def malformed(payload: bytes, error: ValidationError) -> Refusal:
    """A payload DispatchAck refused: what of it can be read, and why."""
    try:
        sent = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON (the model said so too), or nested too deep to read
        sent = None
    if not isinstance(sent, dict):
        sent = {}
    return Refusal("malformed", MALFORMED_STATUS, printable(first_error(error), 300),
                   _valid(_ALERT_ID, sent.get("alert_id")), _text(sent.get("state"), 40),
                   _valid(_REV, sent.get("rev")), _text(sent.get("by"), 100))


def _valid(adapter: TypeAdapter[Any], value: object) -> Any:
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError:
        return None


def _text(value: object, limit: int) -> str | None:
    return printable(value, limit) if isinstance(value, str) else None
