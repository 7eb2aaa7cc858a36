"""The gateway's alert life in this process on a real database: ingest, acknowledgements, escalation,
stations (the demo sample), with what each stages collected instead of published."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from gateway import pipeline
from gateway.acknowledge import Acknowledgements
from gateway.escalation import Escalator
from gateway.ingest import Ingest
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.stations.directory import StationDirectory
from gateway.stations.importer import parse_file
from gateway.storage.db import session_factory
from gateway.storage.models import OutboxEntry
from gateway.storage.outbox import OutboxItem
from gateway.storage.stations import StationStore
from gateway.storage.store import Store
from tests.gateway.scripted import sign

SAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "stations" / "sample_bandar_lampung.csv"
# The demo owner's shop (tests/gateway/harness.py), nearest to the sample's Polresta.
SHOP = {"kind": "shop", "address": "Jl. Kartini 5, Bandar Lampung", "lat_e7": -54291234, "lon_e7": 1052612345}


@dataclass
class World:
    settings: Settings
    store: Store
    stations: StationDirectory
    metrics: Metrics
    acks: Acknowledgements
    escalator: Escalator
    staged: list[OutboxItem] = field(default_factory=list)

    def press(self, now: datetime, alert_type: str = "sos", contacts: list[dict[str, Any]] | None = None,
              key: bytes | None = None) -> str:
        """A registered button's signed alert, judged and committed at `now`; returns its alert id."""
        key = key or secrets.token_bytes(32)
        device_id = "pb-" + secrets.token_hex(6)
        owner, places = self.store.create_owner("Sri " + uuid.uuid4().hex[:4], "+62 721 000", contacts or [], [SHOP])
        self.store.register_device(device_id, owner.id, places[0].id, key.hex())
        topic = f"panic/v1/dev/{device_id}/alert"
        body = {"v": 1, "dev": device_id, "seq": 1, "type": alert_type, "ts": int(now.timestamp()) - 1, "up": 5,
                "loc": None, "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}
        outcomes, staged = Ingest(self.store, self.metrics, 2048).judge(
            [(topic, sign(key, topic, body))], now, lambda judged: pipeline.for_device_messages(judged, now,
                                                                                                lambda _k: False))
        assert outcomes[0].verdict == "new", outcomes
        self.staged += staged
        return f"{device_id}:1"

    def outbox(self, alert_id: str, kind: str) -> list[OutboxEntry]:
        with self.store.sessions() as session:
            return list(session.execute(select(OutboxEntry).where(OutboxEntry.alert_id == alert_id,
                                                                  OutboxEntry.kind == kind)
                                        .order_by(OutboxEntry.id)).scalars())


def make_world(database_url: str, instance: str = "panic-gateway-1", *, import_sample: bool = True,
               **settings: Any) -> World:
    config = Settings(database_url=database_url, mqtt_client_id=instance, **settings)
    store = Store(session_factory(create_engine(database_url)), instance=instance,
                  escalate_after_s=config.escalate_after_s or None)
    if import_sample:
        StationStore(store.sessions).import_parsed(parse_file(SAMPLE.read_text(encoding="utf-8")))
    directory = StationDirectory(StationStore(store.sessions), check_s=0)
    metrics = Metrics()
    world = World(config, store, directory, metrics, Acknowledgements(store, lambda s: None, metrics),
                  Escalator(config, store, directory, metrics, lambda s: None))
    world.acks.submit = world.staged.extend
    world.escalator.submit = world.staged.extend
    return world
