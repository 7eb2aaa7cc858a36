"""Gateway ingest throughput, in process, against a baseline measured in the same run.

    .venv/bin/python bench/gateway_ingest.py [--count N] [--database-url URL]

Baseline: the bare HMAC-SHA256 verification of the same payloads (the floor
no pipeline can beat). Then the real path, `Ingest.judge` with the
pipeline's plan: envelope, registry lookup, HMAC, JSON, member checks, and
the replay-window compare-and-set in the database, plus, for alerts, the
alert row and its outbox rows (dispatch alert and device ack) in the same
transaction. MQTT and publishing are not in this number. Prints numbers;
asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from gateway import pipeline
from gateway.ingest import Ingest
from gateway.metrics import Metrics
from gateway.storage.db import make_engine, migrate, session_factory
from gateway.storage.store import Store

DEVICE = "pb-0123456789ab"
KEY = bytes(range(32))
BATCH = 500  # gateway.bridge.BATCH_MAX: what the bridge commits at once under load


def signed(topic: str, body: dict[str, object]) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    sig = hmac.new(KEY, topic.encode() + b"\n" + raw, hashlib.sha256).hexdigest()
    return raw[:-1] + f',"sig":"{sig}"}}'.encode()


def messages(kind: str, count: int, first_seq: int) -> list[tuple[str, bytes]]:
    topic = f"panic/v1/dev/{DEVICE}/{kind}"
    out = []
    for seq in range(first_seq, first_seq + count):
        body: dict[str, object] = {"v": 1, "dev": DEVICE, "seq": seq, "ts": 1795800000 + seq, "up": seq * 1000,
                                   "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}
        if kind == "alert":
            body |= {"type": "sos", "loc": None}
        out.append((topic, signed(topic, body)))
    return out


def judge(ingest: Ingest, batch: list[tuple[str, bytes]]) -> list[pipeline.Outcome]:
    """What the bridge's worker does with a batch: judge, commit with its publications."""
    now = datetime.now(UTC)
    return ingest.judge(batch, now, lambda outcomes: pipeline.for_device_messages(outcomes, now,
                                                                                lambda _key: False))[0]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} msg/s  ({seconds * 1e6 / count:7.1f} µs each)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        engine = make_engine(url) if url.startswith("sqlite") else create_engine(url)
        store = Store(session_factory(engine))
        owner, places = store.create_owner("Bench", "+62", [], [{"kind": "shop", "address": "x", "lat_e7": 0,
                                                                  "lon_e7": 0}])
        store.register_device(DEVICE, owner.id, places[0].id, KEY.hex())
        ingest = Ingest(store, Metrics(), 2048)
        heartbeats = messages("hb", args.count, 1)
        alerts = messages("alert", args.count // 5, args.count + 1)
        batched_hb = messages("hb", args.count * 4, args.count * 2)
        batched_alerts = messages("alert", args.count, args.count * 7)

        start = time.perf_counter()
        for topic, payload in heartbeats:
            raw = payload[:-74] + b"}"
            hmac.compare_digest(hmac.new(KEY, topic.encode() + b"\n" + raw, hashlib.sha256).hexdigest(),
                                payload[-68:-4].decode())
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        for topic, payload in heartbeats:
            assert judge(ingest, [(topic, payload)])[0].verdict == "heartbeat"
        hb_time = time.perf_counter() - start

        latencies = []
        for topic, payload in alerts:
            t0 = time.perf_counter()
            assert judge(ingest, [(topic, payload)])[0].verdict == "new"
            latencies.append(time.perf_counter() - t0)
        alert_time = sum(latencies)
        latencies.sort()

        start = time.perf_counter()
        for i in range(0, len(batched_hb), BATCH):
            judge(ingest, batched_hb[i:i + BATCH])
        batched_hb_time = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(0, len(batched_alerts), BATCH):
            outcomes = judge(ingest, batched_alerts[i:i + BATCH])
            assert all(o.verdict == "new" for o in outcomes)
        batched_alert_time = time.perf_counter() - start

        print(f"database: {engine.url.get_backend_name()}   heartbeats: {len(heartbeats)}   alerts: {len(alerts)}")
        print(f"baseline  HMAC verify only          {rate(len(heartbeats), baseline)}")
        print(f"ingest    verified heartbeats       {rate(len(heartbeats), hb_time)}")
        print(f"ingest    committed alerts          {rate(len(alerts), alert_time)}")
        print(f"batched   verified heartbeats       {rate(len(batched_hb), batched_hb_time)}  (by {BATCH})")
        print(f"batched   committed alerts          {rate(len(batched_alerts), batched_alert_time)}  (by {BATCH})")
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(f"alert commit latency: median {statistics.median(latencies) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
