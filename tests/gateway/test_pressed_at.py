"""When an alert began, for the press-to-answer histograms: the device's clock only when plausible.

A device clock that is ahead of the gateway's, or more than a day behind it (a clock never set right,
a flat RTC battery), gives way to when the gateway received the alert, so one such button cannot skew
the histograms; the console's timer draws the same line a day back (gateway/console/static/app.js).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.acknowledge import pressed_at
from gateway.storage.models import Alert

RECEIVED = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def alert(ts: object) -> Alert:
    return Alert(received_at=RECEIVED, body={"ts": ts})


@pytest.mark.parametrize(("ts", "expected"), [
    (RECEIVED - timedelta(seconds=12), RECEIVED - timedelta(seconds=12)),  # sent 12 s after the press
    (RECEIVED - timedelta(hours=23), RECEIVED - timedelta(hours=23)),  # held in the outbox for hours
    (RECEIVED + timedelta(seconds=5), RECEIVED),  # the device's clock is ahead
    (RECEIVED - timedelta(days=2), RECEIVED),  # more than a day behind: not believed
    (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), RECEIVED),  # a clock never set
])
def test_the_device_clock_is_believed_within_a_day_before_receipt(ts: datetime, expected: datetime) -> None:
    assert pressed_at(alert(int(ts.timestamp()))) == expected


@pytest.mark.parametrize("ts", [None, True, "1764532800"])
def test_no_usable_device_time_is_the_receipt(ts: object) -> None:
    assert pressed_at(alert(ts)) == RECEIVED
