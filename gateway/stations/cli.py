"""`panic-gateway stations ...`: import a station file, list the stations, route a location.

    panic-gateway stations import FILE [--format auto|csv|geojson|overpass] [--replace]
    panic-gateway stations list
    panic-gateway stations route LAT LON [--candidates N]

The database is the gateway's (PANIC_DATABASE_URL or --database-url); it is
migrated first. A refused file prints every problem and changes nothing
(exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from gateway.settings import Settings
from gateway.stations.coords import decimal_text, location_e7
from gateway.stations.importer import FORMATS, parse_file
from gateway.stations.model import ImportRefused
from gateway.stations.router import DEFAULT_CANDIDATES, MAX_CANDIDATES, Router
from gateway.storage.db import make_engine, migrate, session_factory
from gateway.storage.stations import StationStore


def _candidates(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_CANDIDATES:
        raise argparse.ArgumentTypeError(f"0 to {MAX_CANDIDATES}, not {text!r}")
    return int(text)


def _quoted(text: str) -> str:
    """A CSV field in quotes, a quote in it doubled (RFC 4180)."""
    return '"' + text.replace('"', '""') + '"'


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="panic-gateway stations", description="The police stations registry "
                                     "(docs/stations.md).")
    parser.add_argument("--database-url", help="SQLAlchemy URL (PANIC_DATABASE_URL)")
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="import a CSV, GeoJSON or Overpass JSON file (all or nothing)")
    importing.add_argument("file", type=Path)
    importing.add_argument("--format", choices=FORMATS, default="auto")
    importing.add_argument("--replace", action="store_true",
                           help="afterwards exactly the file's stations exist (default: add and update)")
    commands.add_parser("list", help="print the stored stations as CSV")
    routing = commands.add_parser("route", help="which station an alert at LAT LON goes to")
    routing.add_argument("lat")
    routing.add_argument("lon")
    routing.add_argument("--candidates", type=_candidates, default=DEFAULT_CANDIDATES,
                         help=f"next stations after the first, 0 to {MAX_CANDIDATES} (default {DEFAULT_CANDIDATES})")
    return parser.parse_args(argv)


def _sessions(database_url: str | None) -> sessionmaker[Session]:
    url = database_url or Settings().database_url
    migrate(url)
    return session_factory(make_engine(url))


def run(args: argparse.Namespace, store: StationStore, out: TextIO) -> int:
    if args.command == "import":
        try:
            text = args.file.read_text(encoding="utf-8-sig")
            plan = store.import_parsed(parse_file(text, args.format), "replace" if args.replace else "merge")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{args.file}: cannot read: {exc}", file=sys.stderr)
            return 1
        except ImportRefused as exc:
            print(f"{args.file}: refused, nothing imported:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print(f"{args.file}: " + ", ".join(f"{n} {what}" for what, n in plan.summary().items()), file=out)
    elif args.command == "list":
        print("id,name,kind,parent,lat,lon,phones,coverage", file=out)
        for s in sorted(store.all().values(), key=lambda s: s.id):
            print(f'{s.id},{_quoted(s.name)},{s.kind},{s.parent or ""},{decimal_text(s.lat_e7)},'
                  f'{decimal_text(s.lon_e7)},{_quoted(";".join(s.phones))},{"yes" if s.coverage else "no"}', file=out)
    else:
        try:
            lat_e7, lon_e7 = location_e7(args.lat, args.lon)
        except ValueError as exc:
            print(f"bad location: {exc}", file=sys.stderr)
            return 2
        routing = Router(store.all().values()).route(lat_e7, lon_e7, args.candidates)
        print(f"basis: {routing.basis}", file=out)
        for label, routed in [("station", routing.station), *(("candidate", c) for c in routing.candidates)]:
            if routed is not None:
                print(f"{label}: {routed.station.id} ({routed.station.name}) {routed.distance_m:.0f} m", file=out)
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    return run(args, StationStore(_sessions(args.database_url)), sys.stdout)
