"""DC-09 timestamps: `_HH:MM:SS,MM-DD-YYYY`, always UTC (the standard says GMT)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

TIMESTAMP = re.compile(r"_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})")


class TimestampError(ValueError):
    pass


def format_timestamp(epoch_s: float) -> str:
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("_%H:%M:%S,%m-%d-%Y")


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch of a `_HH:MM:SS,MM-DD-YYYY` field."""
    match = TIMESTAMP.fullmatch(text)
    if match is None:
        raise TimestampError(f"not a DC-09 timestamp: {text!r}")
    hour, minute, second, month, day, year = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError as error:
        raise TimestampError(f"not a DC-09 timestamp: {text!r} ({error})") from None
