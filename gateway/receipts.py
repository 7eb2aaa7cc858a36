"""Machine receipts from dispatch consumers (`panic/v1/dispatch/receipt`, protocol/schemas/dispatch-receipt.json).

A receipt says a consumer *got* revision `rev` of an alert (stored it, put
it on a screen): the gateway stops re-publishing that revision. It is not a
human acknowledgement; that is `panic/v1/dispatch/ack`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DispatchReceipt(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    alert_id: str = Field(pattern=r"^pb-[0-9a-f]{12}:[1-9][0-9]*$", max_length=40)
    rev: int = Field(ge=1, le=2**31 - 1)
    by: str = Field(min_length=1, max_length=100)
