"""What one open operator console costs the database: its live feed's poll, and a snapshot.

    .venv/bin/python bench/console_feed.py [--alerts N] [--devices N] [--open N] [--rounds N]

A fresh SQLite database (migrated as the gateway does) with `--alerts` stored alerts spread over
`--devices` devices, `--open` of them still open. Each console's feed (gateway/console/routes.py)
runs `Store.console_mark` every PANIC_CONSOLE_POLL_S, and `snapshot` (open alerts, the newest 20
closed, offline devices, each alert enriched and routed) when the mark moved. The baseline, in the
same run on the same data, is `Store.list_alerts` for GET /alerts?limit=100, the API's own list.
Prints medians and p90; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert

from gateway.console.routes import snapshot
from gateway.settings import Settings
from gateway.stations.directory import StationDirectory
from gateway.storage.db import migrate, session_factory
from gateway.storage.models import Alert, Device, Owner, Premises
from gateway.storage.stations import StationStore
from gateway.storage.store import Store


def fill(store_url: str, alerts: int, devices: int, still_open: int) -> None:
    engine = create_engine(store_url)
    now = datetime.now(UTC)
    ids = [f"pb-{i:012x}" for i in range(devices)]
    with engine.begin() as db:
        db.execute(insert(Owner), [{"id": "o1", "name": "Toko", "phone": "+62 721 1", "emergency_contacts": [],
                                    "created_at": now}])
        db.execute(insert(Premises), [{"id": "p1", "owner_id": "o1", "kind": "shop", "address": "Jl. Raden Intan 12",
                                       "lat_e7": -54291234, "lon_e7": 1052612345, "created_at": now}])
        db.execute(insert(Device), [{"id": d, "owner_id": "o1", "premises_id": "p1", "key_hex": "0" * 64,
                                     "status": "active", "replay_high": 0, "replay_bitmap": 0, "online": True,
                                     "created_at": now} for d in ids])
        for start in range(0, alerts, 10_000):
            rows = []
            for n in range(start, min(alerts, start + 10_000)):
                at = now - timedelta(seconds=alerts - n)
                rows.append({"id": f"{ids[n % devices]}:{n + 1}", "device_id": ids[n % devices], "seq": n + 1,
                             "type": "sos", "state": "new" if n >= alerts - still_open else "resolved",
                             "rev": 1 if n >= alerts - still_open else 2, "published_rev": 1, "payload": b"{}",
                             "body": {"bat": 90, "pwr": "mains", "net": "wifi"}, "received_at": at,
                             "updated_at": at})
            db.execute(insert(Alert), rows)
    engine.dispose()


def timed(work: Callable[[], object], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=1_000)
    parser.add_argument("--open", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'console.db'}"
        migrate(url)
        fill(url, args.alerts, args.devices, args.open)
        store = Store(session_factory(create_engine(url)))
        directory = StationDirectory(StationStore(store.sessions))
        settings = Settings()
        print(f"SQLite, {args.alerts:,} alerts over {args.devices:,} devices, {args.open} open; "
              f"{args.rounds} rounds each, ms median / p90")
        for name, work in (("feed poll (console_mark)", store.console_mark),
                           ("snapshot (sent when the mark moved)", lambda: snapshot(store, directory, settings)),
                           ("baseline: GET /alerts?limit=100 query", lambda: store.list_alerts(None, None, 100))):
            median, p90 = timed(work, args.rounds)
            print(f"  {name:40s} {median:8.2f} / {p90:8.2f}")


if __name__ == "__main__":
    main()
