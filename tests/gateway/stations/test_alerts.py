"""An enriched alert's location routed: fields as the dispatch schema wants them; unrouted without data."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import create_engine

from gateway.stations.alerts import route_alert
from gateway.stations.coords import float_degrees_e7
from gateway.stations.directory import StationDirectory
from gateway.stations.importer import parse_file
from gateway.storage.db import migrate, session_factory
from gateway.storage.stations import StationStore
from tests.conftest import PROTOCOL
from tests.gateway.stations.files import SAMPLE

SCHEMA = json.loads((PROTOCOL / "schemas" / "dispatch-alert.json").read_text())


@pytest.fixture
def directory(tmp_path: Path) -> StationDirectory:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    migrate(url)
    return StationDirectory(StationStore(session_factory(create_engine(url))), check_s=0)


def station_fields_are_valid(fields: dict[str, object]) -> None:
    for item in [fields["station"], *fields["candidates"]]:  # type: ignore[misc]
        if item is not None:
            jsonschema.validate(item, {**SCHEMA["$defs"]["station"], "$defs": SCHEMA["$defs"]})
    assert len(fields["candidates"]) <= SCHEMA["properties"]["candidates"]["maxItems"]  # type: ignore[arg-type]


def test_routed_from_the_alert_location(directory: StationDirectory) -> None:
    directory.store.import_parsed(parse_file(SAMPLE.read_text()))
    routing = route_alert(directory, {"lat": -5.4178901, "lon": 105.2545678, "source": "gps", "age_s": 3})
    fields = routing.dispatch_fields()
    station_fields_are_valid(fields)
    assert fields["station"]["id"] == "polsek-tanjung-karang-pusat"  # type: ignore[index]
    assert len(fields["candidates"]) == 3  # type: ignore[arg-type]


def test_unrouted_without_stations_or_location(directory: StationDirectory) -> None:
    assert route_alert(directory, {"lat": -5.4, "lon": 105.2}).basis == "unrouted"
    directory.store.import_parsed(parse_file(SAMPLE.read_text()))
    unrouted = route_alert(directory, {"lat": None, "lon": None, "source": "none"})
    assert unrouted.basis == "unrouted" and unrouted.dispatch_fields() == {"station": None, "candidates": []}


@pytest.mark.parametrize(("value", "axis", "e7"), [
    (-5.4178901, "lat", -54178901), (105.2545678, "lon", 1052545678), (-0.0000001, "lat", -1),
    (179.9999999, "lon", 1799999999), (-90.0, "lat", -900000000), (0.1234567, "lat", 1234567), (106, "lon", 1060000000),
])
def test_float_coordinates_with_7_decimals_come_back_exact(value: float, axis: str, e7: int) -> None:
    assert float_degrees_e7(value, axis) == e7
