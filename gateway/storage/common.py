"""What every storage module shares: the domain error and UTC time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

ErrorCode = Literal["not_found", "conflict", "invalid", "unavailable"]
# The HTTP status of each: 400 for a request that is well-formed but does not fit the registry (422 stays
# FastAPI's, for bodies that fail their schema). A refused MQTT acknowledgement's event carries it too.
HTTP_STATUS: dict[ErrorCode, int] = {"not_found": 404, "conflict": 409, "invalid": 400, "unavailable": 503}


class StoreError(Exception):
    """A request the registry cannot satisfy; `code` maps to an HTTP status."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
