"""SIA DC-09 forwarding with Ademco Contact ID to alarm-receiving centres (docs/dc09.md).

Standalone for now: the gateway's transactional outbox will feed `Dc09Forwarder.submit`.
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
