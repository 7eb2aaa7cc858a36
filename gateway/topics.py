"""The MQTT topics the gateway publishes and subscribes to besides the device ones (docs/protocol.md)."""

from __future__ import annotations

DISPATCH_ALERTS = "panic/v1/dispatch/alerts"
DISPATCH_EVENTS = "panic/v1/dispatch/events"
DISPATCH_ACK = "panic/v1/dispatch/ack"
DISPATCH_RECEIPT = "panic/v1/dispatch/receipt"


def station_topic(station_id: str) -> str:
    return f"panic/v1/dispatch/stations/{station_id}/alerts"
