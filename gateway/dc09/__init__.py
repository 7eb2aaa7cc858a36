"""SIA DC-09 forwarding with Ademco Contact ID to alarm-receiving centres (docs/dc09.md).

Reports are staged with their alert (gateway/dc09/queue.py, from the outbox's
`stage()`); gateway/main.py runs the forwarder beside the MQTT bridge.
"""

from gateway.dc09.config import ConfigError, ReceiverConfig, load_receivers
from gateway.dc09.contact_id import ContactId, contact_id_for
from gateway.dc09.forwarder import Dc09Event, Dc09Forwarder
from gateway.dc09.location import Location

__all__ = [
    "ConfigError",
    "ContactId",
    "Dc09Event",
    "Dc09Forwarder",
    "Location",
    "ReceiverConfig",
    "contact_id_for",
    "load_receivers",
]
