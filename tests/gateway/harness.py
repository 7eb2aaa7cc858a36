"""An in-process gateway core (Store + Ingest) on a given database, for fast tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.ingest import Ingest
from gateway.metrics import Metrics
from gateway.storage.db import session_factory
from gateway.storage.store import Store


@dataclass
class Core:
    store: Store
    ingest: Ingest
    metrics: Metrics


def make_core(engine: Engine) -> Core:
    store = Store(session_factory(engine))
    metrics = Metrics()
    return Core(store, Ingest(store, metrics, max_payload_bytes=2048), metrics)


def register(store: Store, device_id: str, key_hex: str) -> None:
    owner, places = store.create_owner(
        "Owner " + uuid.uuid4().hex[:6], "+62 721 000", [],
        [{"kind": "shop", "address": "Jl. Test 1", "lat_e7": -54291234, "lon_e7": 1052612345}],
    )
    store.register_device(device_id, owner.id, places[0].id, key_hex)
