"""The gateway under a fleet's shape, beside a pass-through bridge and a counting subscriber, same run, same broker.

    .venv/bin/python bench/fleet.py [--devices 1000] [--rates 5000,10000] [--seconds 10]
                                    [--consumers count,pass,gw1,gw1pg,gw2pg]

One Mosquitto with the project's config (broker/run.py). `--devices`
registered buttons (database and broker accounts) each send their own signed
heartbeats (QoS 0) from a process of their own, round robin, at each rate in
turn; meanwhile 20 other registered buttons press alerts (QoS 1, 20/s). Each
consumer takes the same phases in turn, alone on the broker:

    count  a subscriber that only counts (one paho connection)
    pass   a pass-through bridge: subscribe, republish; no verification, no storage
    gw1    `panic-gateway` on SQLite (WAL, synchronous=FULL)
    gw1pg  `panic-gateway` on PostgreSQL
    gw2pg  two `panic-gateway` processes sharing the device topics on one PostgreSQL database

Per phase: heartbeats offered and taken per second, how many of the phase's
heartbeats were not yet judged when it ended ("behind"), the consumers' RSS
before → after, and alert latency p50 / p99 from the PUBLISH leaving the
button to the alert at a dispatch subscriber (enriched by the gateway,
republished by the pass-through). Loopback only; bounded; asserts nothing.
PostgreSQL: PANIC_TEST_POSTGRES (as the tests), else its phases are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import OperationalError

from bench.fleet_alerts import AlertPresses, DispatchClock, percentiles
from bench.fleet_consumers import Consumer
from bench.fleet_load import Account, HeartbeatFleet
from broker import policy
from broker.accounts import DynsecAccounts
from broker.run import BrokerConfig, Mosquitto, free_port, prepare
from gateway.storage.db import make_engine, migrate, session_factory
from gateway.storage.models import Device
from gateway.storage.store import Store, utcnow
from simulator.scratch_db import scratch_postgres
from simulator.stack import GatewayProcess
from tests.gateway.conftest import POSTGRES_ADMIN_URL

ALERT_DEVICES = 20


class Taker(Protocol):
    """What a phase needs of a consumer."""

    name: str
    dispatches: bool  # publishes the alerts it takes to dispatch (their latency can be measured)

    @property
    def pids(self) -> list[int]: ...

    def heartbeats(self) -> int: ...

    def __enter__(self) -> Taker: ...

    def __exit__(self, *exc: object) -> None: ...


class Gateways:
    """`count` gateway processes on one database; with more than one, sharing the device topics."""

    def __init__(self, broker: BrokerConfig, state_dir: Path, url: str, count: int, tag: str) -> None:
        self.dispatches = True
        database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        self.name = f"gateway, {count} process{'es' if count > 1 else ''} ({database})"
        shared = {"PANIC_MQTT_SHARED_GROUP": "bench"} if count > 1 else {}
        self.processes = [
            GatewayProcess(broker, state_dir / f"{tag}-{i}", database_url=url,
                           extra_env={**shared, "PANIC_MQTT_CLIENT_ID": f"bench-{tag}-{i}"})
            for i in range(count)]

    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in self.processes if p.process]

    def metric(self, name: str) -> int:
        return sum(sum(int(float(v)) for v in re.findall(rf"^panic_{name}(?:{{[^}}]*}})? ([0-9.]+)$",
                                                         p.request("GET", "/metrics"), re.M))
                   for p in self.processes)

    def heartbeats(self) -> int:
        return self.metric("heartbeats_total")

    def __enter__(self) -> Gateways:
        for process in self.processes:
            process.start()
        time.sleep(1.0)  # subscribed
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.stop()


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            found = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
            total += int(found.group(1)) if found else 0
    return total / 1024


def cpu_s(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def new_accounts(prefix: str, count: int) -> list[Account]:
    return [(f"pb-{prefix}{i:011x}", secrets.token_urlsafe(12), secrets.token_hex(32)) for i in range(count)]


def broker_accounts(broker: BrokerConfig, accounts: list[Account]) -> None:
    """Each device's broker account and role, a hundred commands per control message."""
    admin = DynsecAccounts(broker.host, broker.port, policy.ADMIN, broker.admin_password, timeout=60)
    for start in range(0, len(accounts), 50):
        commands = []
        for device_id, password, _ in accounts[start:start + 50]:
            role = policy.device_role_name(device_id)
            commands += [{"command": "createRole", "rolename": role, "acls": policy.device_acls(device_id)},
                         {"command": "createClient", "username": device_id, "password": password,
                          "roles": [{"rolename": role, "priority": 0}]}]
        admin._run(commands)


def registered(url: str, accounts: list[Account]) -> str:
    """A migrated database with every device registered (one owner and premises, one transaction)."""
    migrate(url)
    store = Store(session_factory(make_engine(url)))
    owner, places = store.create_owner("Fleet owner", "+62 721 000", [], [
        {"kind": "shop", "address": "Jl. Bench 1", "lat_e7": -54291234, "lon_e7": 1052612345}])
    with store.sessions() as session:
        session.add_all(Device(id=d, owner_id=owner.id, premises_id=places[0].id, key_hex=k, status="active",
                               replay_high=0, replay_bitmap=0, created_at=utcnow()) for d, _, k in accounts)
        session.commit()
    return url


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database, dropped afterwards; None if none is reachable."""
    with contextlib.ExitStack() as stack:
        try:
            url: str | None = stack.enter_context(scratch_postgres(POSTGRES_ADMIN_URL, "panic_fleet"))
        except OperationalError:
            url = None
        yield url


def phase(taker: Taker, fleet: HeartbeatFleet, presses: AlertPresses, clock: DispatchClock, broker_pid: int,
          rate: int, seconds: int, alerts_per_s: float) -> str:
    judged_before, rss_before, cpu_before = taker.heartbeats(), rss_mb(taker.pids), cpu_s(taker.pids)
    broker_cpu_before = cpu_s([broker_pid])
    fleet.start_phase(rate, seconds)
    start = time.monotonic()
    pressed = presses.press_for(seconds, alerts_per_s)
    sent, sending_s = fleet.end_phase()
    judged = taker.heartbeats() - judged_before
    taken_s = time.monotonic() - start
    rss_after, cpu = rss_mb(taker.pids), cpu_s(taker.pids) - cpu_before
    broker_cpu = cpu_s([broker_pid]) - broker_cpu_before
    latencies, missing = clock.latencies(pressed) if taker.dispatches else ([], 0)
    for _ in range(100):  # let a backlog drain (bounded) before the next phase
        if taker.heartbeats() - judged_before >= sent:
            break
        time.sleep(0.1)
    return (f"| {taker.name} | {sent / sending_s:,.0f} | {judged / taken_s:,.0f} | {max(0, sent - judged):,} | "
            f"{rss_before:.0f} → {rss_after:.0f} | {cpu / taken_s:.2f} | {cpu * 1e6 / max(judged, 1):.0f} | "
            f"{broker_cpu / taken_s:.2f} | {percentiles(latencies)} | {len(latencies)}"
            f"{f' ({missing} missing)' if missing else ''} |")


def warm_up(taker: Taker, fleet: HeartbeatFleet, presses: AlertPresses, seconds: float = 7.0) -> None:
    """Every device heard once and an alert from each presser, then quiet: the devices' online flips
    (a health event each, when a device is first heard, found by supervision every 5 s) and cold caches
    are not part of the phases."""
    fleet.start_phase(len(fleet.accounts), 1)
    presses.press_for(1.0, ALERT_DEVICES)
    fleet.end_phase()
    time.sleep(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rates", default="5000,10000", help="heartbeats per second, one phase each")
    parser.add_argument("--seconds", type=int, default=10, help="length of a phase")
    parser.add_argument("--alerts-per-s", type=float, default=20)
    parser.add_argument("--consumers", default="count,pass,gw1,gw1pg,gw2pg")
    parser.add_argument("--keep", type=Path, help="keep the broker's and gateways' state and logs here")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.devices)), hard))  # the broker's
    fleet_accounts, alert_accounts = new_accounts("f", args.devices), new_accounts("a", ALERT_DEVICES)
    with (contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory()) as tmp, \
            postgres_database() as pg_url:
        broker = prepare(Path(tmp) / "broker", free_port())
        with Mosquitto(broker) as running:
            assert running.process is not None
            broker_accounts(broker, fleet_accounts + alert_accounts)
            sqlite_url = registered(f"sqlite:///{Path(tmp) / 'gateway.db'}", fleet_accounts + alert_accounts)
            if pg_url:
                registered(pg_url, fleet_accounts + alert_accounts)
            makers: dict[str, Callable[[], Taker]] = {
                "count": lambda: Consumer(broker, republish=False),
                "pass": lambda: Consumer(broker, republish=True),
                "gw1": lambda: Gateways(broker, Path(tmp), sqlite_url, 1, "gw1"),
                "gw1pg": lambda: Gateways(broker, Path(tmp), pg_url or "", 1, "gw1pg"),
                "gw2pg": lambda: Gateways(broker, Path(tmp), pg_url or "", 2, "gw2pg"),
            }
            clock, presses = DispatchClock(broker), AlertPresses(broker, alert_accounts)
            print(f"{args.devices} heartbeating devices, {ALERT_DEVICES} pressing alerts at "
                  f"{args.alerts_per_s:g}/s; phases of {args.seconds} s at {args.rates} heartbeats/s")
            print("| consumer | heartbeats offered/s | taken/s | behind at phase end | RSS MB | "
                  "CPU (cores) | CPU µs per heartbeat | broker CPU (cores) | alert p50 / p99 | alerts |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            with HeartbeatFleet(broker.host, broker.port, fleet_accounts) as fleet:
                for name in args.consumers.split(","):
                    if name.endswith("pg") and not pg_url:
                        print(f"| {name}: no PostgreSQL at {POSTGRES_ADMIN_URL} | | | | | | | | | |")
                        continue
                    taker: Taker = makers[name]()
                    with taker:
                        warm_up(taker, fleet, presses)
                        for rate in rates:
                            print(phase(taker, fleet, presses, clock, running.process.pid, rate, args.seconds,
                                        args.alerts_per_s), flush=True)
            presses.close()
            clock.close()


if __name__ == "__main__":
    main()
