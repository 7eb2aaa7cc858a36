"""Machine receipts from dispatch consumers (`panic/v1/dispatch/receipt`, protocol/schemas/dispatch-receipt.json).

A receipt says a consumer *got* revision `rev` of an alert (stored it, put
it on a screen): the gateway stops re-publishing that revision. It is not a
human acknowledgement; that is `panic/v1/dispatch/ack`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.protocol import AlertId, Rev


class DispatchReceipt(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    alert_id: AlertId
    rev: Rev
    by: str = Field(min_length=1, max_length=100)
