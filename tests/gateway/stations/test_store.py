"""Stored stations: imports are all or nothing, parents and cycles are checked, changes reach routing."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import create_engine

from gateway.stations.directory import StationDirectory
from gateway.stations.importer import parse_file
from gateway.stations.model import ImportRefused, Station
from gateway.storage import stations as storage
from gateway.storage.common import StoreError
from gateway.storage.db import session_factory
from gateway.storage.stations import StationStore
from tests.gateway.stations.files import CSV, GEOJSON_FEATURES, OVERPASS, feature, geojson_text, point, square

HEADER = "id,name,kind,parent,lat,lon,phones\n"


@pytest.fixture
def store(database_url: str) -> StationStore:
    return StationStore(session_factory(create_engine(database_url)))


def problems(store: StationStore, text: str, mode: str = "merge") -> list[str]:
    before = store.all()
    with pytest.raises(ImportRefused) as caught:
        store.import_parsed(parse_file(text), mode)  # type: ignore[arg-type]
    assert store.all() == before  # nothing half-imported
    return [str(p) for p in caught.value.problems]


def test_import_then_reimport_changes_nothing(store: StationStore) -> None:
    plan = store.import_parsed(parse_file(CSV))
    assert plan.summary() == {"created": 3, "updated": 0, "unchanged": 0, "removed": 0, "skipped": 0}
    stored = store.all()
    assert stored["polsek-b"] == Station("polsek-b", "Polsek B", "polsek", -54160000, 1052560000, parent="polres-a")
    assert store.import_parsed(parse_file(CSV)).summary()["unchanged"] == 3


def test_a_bad_line_anywhere_imports_nothing(store: StationStore) -> None:
    store.import_parsed(parse_file(HEADER + "polda,Polda,polda,,-5.39,105.27,\n"))
    text = CSV.replace("polres-a,Polres A,polres,,", "polres-a,Polres A,polres,polda,") + "polsek-x,X,polsek,,-5,1e9,\n"
    assert problems(store, text) == ["line 5: lon 1e9 is outside ±180"]
    assert set(store.all()) == {"polda"}


def test_duplicate_ids(store: StationStore) -> None:
    text = CSV + "polsek-b,Polsek B again,polsek,,-5.4,105.2,\n"
    assert problems(store, text) == ["line 5: station id polsek-b also at line 3"]


def test_unknown_parent_unless_stored(store: StationStore) -> None:
    orphan = HEADER + "polsek-b,Polsek B,polsek,polres-a,-5.416,105.256,\n"
    assert problems(store, orphan) == ["line 2: unknown parent polres-a"]
    store.import_parsed(parse_file(HEADER + "polres-a,Polres A,polres,,-5.428,105.262,\n"))
    store.import_parsed(parse_file(orphan))
    assert store.get("polsek-b").parent == "polres-a"


def test_parent_cycles(store: StationStore) -> None:
    cycle = HEADER + "a,A,polres,b,-5.1,105.1,\nb,B,polres,c,-5.2,105.2,\nc,C,polres,a,-5.3,105.3,\n"
    assert problems(store, cycle) == ["line 2: parent cycle: a -> b -> c -> a"]
    assert problems(store, HEADER + "a,A,polres,a,-5.1,105.1,\n") == ["line 2: parent cycle: a -> a"]
    # a cycle through a stored station: x is stored under y; the file puts y under x
    store.import_parsed(parse_file(HEADER + "y,Y,polres,,-5.1,105.1,\nx,X,polsek,y,-5.2,105.2,\n"))
    assert problems(store, HEADER + "y,Y,polres,x,-5.1,105.1,\n") == ["station x: parent cycle: x -> y -> x"]


def test_coverage_is_kept_by_a_csv_reimport_and_checked(store: StationStore) -> None:
    store.import_parsed(parse_file(geojson_text(GEOJSON_FEATURES)))
    covered = store.get("polsek-b").coverage
    assert covered is not None and json.loads(covered)["type"] == "Polygon"
    store.import_parsed(parse_file(CSV))  # polsek-b again, without an area
    assert store.get("polsek-b").coverage == covered
    # an area for a stored station alone
    only_area = geojson_text([feature(square(105.262, -5.428, 0.05), station="polres-a")])
    assert store.import_parsed(parse_file(only_area)).summary()["updated"] == 1
    assert store.get("polres-a").coverage is not None
    unknown = geojson_text([feature(square(105.3, -5.4, 0.01), station="nowhere")])
    assert problems(store, unknown) == ["feature 1: coverage for unknown station nowhere"]
    twice = geojson_text([feature(square(105.3, -5.4, 0.01), station="polres-a"),
                          feature(square(105.3, -5.4, 0.02), station="polres-a")])
    assert problems(store, twice) == ["feature 2: station polres-a already has a coverage area at feature 1"]


def test_replace_mode(store: StationStore) -> None:
    store.import_parsed(parse_file(CSV))
    osm = json.dumps(OVERPASS)
    assert problems(store, HEADER + "polsek-z,Z,polsek,polres-a,-5.1,105.1,\n", "replace") == [
        "line 2: unknown parent polres-a"]  # polres-a would be gone
    plan = store.import_parsed(parse_file(osm), "replace")
    assert plan.summary() == {"created": 3, "updated": 0, "unchanged": 0, "removed": 3, "skipped": 2}
    assert set(store.all()) == {"osm-node-1001", "osm-way-2002", "osm-node-4004"}


def test_put_and_delete(store: StationStore) -> None:
    store.import_parsed(parse_file(CSV))
    assert store.put(Station("polsek-d", "Polsek D", "polsek", -54000000, 1052000000, parent="polres-a")) is True
    changed = replace(store.get("polsek-d"), name="Polsek D Baru", phones=("110",))
    assert store.put(changed) is False and store.get("polsek-d") == changed
    with pytest.raises(ImportRefused, match="unknown parent nowhere"):
        store.put(replace(changed, parent="nowhere"))
    with pytest.raises(ImportRefused, match="is the parent of polsek-b, polsek-c, polsek-d"):
        store.delete("polres-a")
    assert store.delete("polsek-d") == changed
    with pytest.raises(StoreError, match="no station polsek-d") as missing:
        store.delete("polsek-d")
    assert missing.value.code == "not_found"


def test_the_directory_follows_changes(store: StationStore) -> None:
    directory = StationDirectory(store, check_s=3600)
    assert directory.route(-54160000, 1052560000).basis == "unrouted"
    store.import_parsed(parse_file(CSV))
    assert directory.route(-54160000, 1052560000).basis == "unrouted"  # not checked again yet
    directory.refresh()
    routing = directory.route(-54160000, 1052560000)
    assert routing.station is not None and routing.station.station.id == "polsek-b"
    # a change by another instance (another store on the same database) is seen at the next check
    other = StationStore(store.sessions)
    other.put(Station("polsek-e", "E", "polsek", -54160000, 1052560000))
    fresh = StationDirectory(store, check_s=0)
    assert fresh.route(-54160000, 1052560000).station.station.id == "polsek-b"  # type: ignore[union-attr]
    other.delete("polsek-b")
    assert fresh.route(-54160000, 1052560000).station.station.id == "polsek-e"  # type: ignore[union-attr]


def test_geojson_point_station(store: StationStore) -> None:
    text = geojson_text([feature(point("105.25", "-5.41"), id="post-1", name="Pos 1", kind="post")])
    store.import_parsed(parse_file(text))
    assert (store.get("post-1").lat_e7, store.get("post-1").lon_e7) == (-54100000, 1052500000)


def test_concurrent_imports_are_checked_one_after_the_other(store: StationStore, database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two imports each fine alone, a parent cycle together (instances sharing a database):
    the second is checked against what the first stored, and refused."""
    store.import_parsed(parse_file(HEADER + "x,X,polres,,-5.1,105.1,\ny,Y,polres,,-5.2,105.2,\n"))
    planned = threading.Event()
    real_plan = storage.plan_import

    def slow_plan(*args: object, **kwargs: object) -> object:
        plan = real_plan(*args, **kwargs)  # type: ignore[arg-type]
        if not planned.is_set():
            planned.set()
            time.sleep(0.5)  # the other import starts while this one has not committed
        return plan

    monkeypatch.setattr(storage, "plan_import", slow_plan)
    other = StationStore(session_factory(create_engine(database_url)))  # as another instance
    outcomes: dict[str, str] = {}

    def run(name: str, target: StationStore, text: str) -> None:
        try:
            target.import_parsed(parse_file(text))
            outcomes[name] = "stored"
        except ImportRefused as exc:
            outcomes[name] = str(exc)

    first = threading.Thread(target=run, args=("first", store, HEADER + "y,Y,polres,x,-5.2,105.2,\n"))
    first.start()
    assert planned.wait(10)
    run("second", other, HEADER + "x,X,polres,y,-5.1,105.1,\n")
    first.join()
    assert outcomes == {"first": "stored", "second": "line 2: parent cycle: x -> y -> x"}
    assert store.get("x").parent is None and store.get("y").parent == "x"
