"""Request and response bodies of /stations (gateway/api/routes/stations.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.stations.coords import E7, location_e7
from gateway.stations.coverage import parse_geometry
from gateway.stations.model import MAX_NAME, MAX_PHONES, Kind, Station, check_id, check_kind, check_name, check_phones
from gateway.stations.router import RoutedStation, Routing


class StationIn(BaseModel):
    """A station as PUT /stations/{id} takes it. lat/lon: decimal degrees (JSON numbers or strings);
    the body is read with exact decimals, never through a float. An unknown field is refused, so that a
    misspelt one (`coverge`) is noticed rather than dropped, as a CSV's unknown column is."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME)
    kind: Kind
    parent: str | None = None
    lat: Decimal
    lon: Decimal
    phones: list[str] = Field(default_factory=list, max_length=MAX_PHONES)
    coverage: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon")

    def station(self, station_id: str) -> Station:
        """The checked station; ValueError says what is wrong."""
        lat_e7, lon_e7 = location_e7(self.lat, self.lon)
        return Station(id=check_id(station_id), name=check_name(self.name), kind=check_kind(self.kind),
                       lat_e7=lat_e7, lon_e7=lon_e7, parent=check_id(self.parent) if self.parent else None,
                       phones=check_phones(self.phones),
                       coverage=parse_geometry(self.coverage).geojson() if self.coverage is not None else None)


def degrees(e7: int) -> float:
    # A 7-decimal value round-trips exactly through a double's shortest repr.
    return round(e7 / E7, 7)


class StationOut(BaseModel):
    id: str
    name: str
    kind: str
    parent: str | None
    lat: float
    lon: float
    phones: list[str]
    coverage: dict[str, Any] | None

    @classmethod
    def of(cls, station: Station) -> StationOut:
        return cls(id=station.id, name=station.name, kind=station.kind, parent=station.parent,
                   lat=degrees(station.lat_e7), lon=degrees(station.lon_e7), phones=list(station.phones),
                   coverage=json.loads(station.coverage) if station.coverage else None)


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    removed: int
    skipped: int = Field(description="elements of an OpenStreetMap export that are not amenity=police")


class ProblemOut(BaseModel):
    where: str
    reason: str


class RefusedOut(BaseModel):
    detail: str
    problems: list[ProblemOut]


class RoutedOut(BaseModel):
    id: str
    name: str
    kind: str
    distance_m: float

    @classmethod
    def of(cls, routed: RoutedStation) -> RoutedOut:
        return cls(id=routed.station.id, name=routed.station.name, kind=routed.station.kind,
                   distance_m=round(routed.distance_m, 1))


class RoutingOut(BaseModel):
    basis: str = Field(description="coverage, nearest or unrouted")
    station: RoutedOut | None
    candidates: list[RoutedOut]

    @classmethod
    def of(cls, routing: Routing) -> RoutingOut:
        return cls(basis=routing.basis, station=RoutedOut.of(routing.station) if routing.station else None,
                   candidates=[RoutedOut.of(c) for c in routing.candidates])
