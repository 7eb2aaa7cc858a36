"""Storage of the stations registry: read, import (one transaction), change, remove.

Every change runs in one transaction that first takes the table's write
lock, so two imports (or an import and an edit) on different instances are
checked one after the other against what the other stored. `updated_at` of
changed rows is strictly later than every earlier one, so (count, latest
updated_at) changes with every change: routers on every instance compare it
to know when to rebuild (gateway/stations/directory.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.stations.formats import Parsed
from gateway.stations.importer import ImportPlan, Mode, check_removal, plan_import
from gateway.stations.model import Station, check_kind
from gateway.storage.common import StoreError, as_utc, utcnow
from gateway.storage.models import StationRow

Signature = tuple[int, datetime | None]
T = TypeVar("T")


def _station(row: StationRow) -> Station:
    return Station(id=row.id, name=row.name, kind=check_kind(row.kind), lat_e7=row.lat_e7, lon_e7=row.lon_e7,
                   parent=row.parent_id, phones=tuple(row.phones), coverage=row.coverage)


def _values(station: Station, moment: datetime) -> dict[str, Any]:
    return {"id": station.id, "name": station.name, "kind": station.kind, "parent_id": station.parent,
            "lat_e7": station.lat_e7, "lon_e7": station.lon_e7, "phones": list(station.phones),
            "coverage": station.coverage, "updated_at": moment}


def _lock(session: Session) -> None:
    """Take the stations table's write lock before reading what a change is checked against."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE stations IN SHARE ROW EXCLUSIVE MODE"))
    else:  # SQLite: a write statement starts the write transaction (waiting for another writer)
        session.execute(text("UPDATE stations SET id = id WHERE 0 = 1"))


class StationStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # --- reads -----------------------------------------------------------------------

    def all(self) -> dict[str, Station]:
        with self.sessions() as session:
            return {row.id: _station(row) for row in session.execute(select(StationRow)).scalars()}

    def get(self, station_id: str) -> Station:
        with self.sessions() as session:
            row = session.get(StationRow, station_id)
            if row is None:
                raise StoreError("not_found", f"no station {station_id}")
            return _station(row)

    def page(self, *, kind: str | None = None, parent: str | None = None, offset: int = 0,
             limit: int = 1000) -> list[Station]:
        query = select(StationRow).order_by(StationRow.id).offset(offset).limit(limit)
        if kind is not None:
            query = query.where(StationRow.kind == kind)
        if parent is not None:
            query = query.where(StationRow.parent_id == parent)
        with self.sessions() as session:
            return [_station(row) for row in session.execute(query).scalars()]

    def signature(self) -> Signature:
        """Changes whenever any station is created, changed or removed."""
        with self.sessions() as session:
            count, latest = session.execute(select(func.count(), func.max(StationRow.updated_at))).one()
            return int(count), as_utc(latest) if latest is not None else None

    # --- changes ---------------------------------------------------------------------

    def _change(self, work: Callable[[Session, dict[str, Station], datetime], T]) -> T:
        """Run `work(session, stored stations, update time)` locked, in one transaction."""
        with self.sessions() as session:
            _lock(session)
            stored = {row.id: _station(row) for row in session.execute(select(StationRow)).scalars()}
            latest = session.execute(select(func.max(StationRow.updated_at))).scalar()
            moment = utcnow()
            if latest is not None and moment <= as_utc(latest):  # another instance's clock ran ahead
                moment = as_utc(latest) + timedelta(microseconds=1)
            result = work(session, stored, moment)
            session.commit()
            return result

    def import_parsed(self, parsed: Parsed, mode: Mode = "merge") -> ImportPlan:
        """Store a parsed file, all of it or (ImportRefused) nothing."""
        def work(session: Session, stored: dict[str, Station], moment: datetime) -> ImportPlan:
            plan = plan_import(parsed, stored, mode)
            _apply(session, plan, stored, moment)
            return plan

        return self._change(work)

    def put(self, station: Station) -> bool:
        """Create or replace one station (checked as an import of it alone); True when created."""
        def work(session: Session, stored: dict[str, Station], moment: datetime) -> bool:
            plan = plan_import(Parsed(stations=[(f"station {station.id}", station)]), stored, keep_coverage=False)
            _apply(session, plan, stored, moment)
            return plan.created == 1

        return self._change(work)

    def delete(self, station_id: str) -> Station:
        """Remove a station that is nobody's parent (ImportRefused otherwise)."""
        def work(session: Session, stored: dict[str, Station], _moment: datetime) -> Station:
            if station_id not in stored:
                raise StoreError("not_found", f"no station {station_id}")
            check_removal(station_id, stored)
            session.execute(delete(StationRow).where(StationRow.id == station_id))
            return stored[station_id]

        return self._change(work)


def _apply(session: Session, plan: ImportPlan, stored: dict[str, Station], moment: datetime) -> None:
    # New rows first without parents, then every upsert in full: all parents exist by then,
    # whatever order the rows are in. Removed stations lose their parent link before they go.
    new = [s for s in plan.upserts if s.id not in stored]
    if new:
        session.execute(insert(StationRow), [{**_values(s, moment), "parent_id": None} for s in new])
    if plan.upserts:
        session.execute(update(StationRow), [_values(s, moment) for s in plan.upserts])
    if plan.removals:
        session.execute(update(StationRow).where(StationRow.id.in_(plan.removals)).values(parent_id=None))
        session.execute(delete(StationRow).where(StationRow.id.in_(plan.removals)))
