"""Reading station files: every format's good file, and bad ones refused with the line/feature and reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gateway.stations.coords import degrees_e7, location_e7
from gateway.stations.formats.osm import osm_kind
from gateway.stations.importer import parse_file
from gateway.stations.model import ImportRefused
from tests.gateway.stations.files import (
    CSV,
    GEOJSON_FEATURES,
    OVERPASS,
    SAMPLE,
    TURBO,
    feature,
    geojson_text,
    point,
    square,
)


def refused(text: str, fmt: str = "auto") -> list[str]:
    with pytest.raises(ImportRefused) as caught:
        parse_file(text, fmt)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


# --- coordinates -----------------------------------------------------------------------------------


def test_degrees_are_exact_integers_of_1e7() -> None:
    assert degrees_e7("-5.4178901", "lat") == -54178901
    assert degrees_e7("105.2545678", "lon") == 1052545678
    assert degrees_e7("105.25456785", "lon") == 1052545678  # half-even: to the even 1e-7
    assert degrees_e7("105.25456795", "lon") == 1052545680
    assert degrees_e7("-180", "lon") == -1800000000 and degrees_e7("90", "lat") == 900000000
    assert degrees_e7("1.5e1", "lat") == 150000000


@pytest.mark.parametrize(("value", "axis", "reason"), [
    ("90.0000001", "lat", "outside ±90"), ("-180.5", "lon", "outside ±180"), ("1e400", "lat", "outside ±90"),
    ("abc", "lat", "not a decimal number"), ("", "lon", "not a decimal number"), ("NaN", "lat", "not a finite"),
    ("5,4", "lat", "not a decimal number"), (5.4, "lat", "not a decimal number"), (True, "lat", "not a decimal"),
])
def test_bad_degrees(value: object, axis: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        degrees_e7(value, axis)


def test_zero_zero_is_a_missing_position() -> None:
    with pytest.raises(ValueError, match="missing"):
        location_e7("0", "0.0")


# --- CSV ---------------------------------------------------------------------------------------------


def test_csv() -> None:
    parsed = parse_file(CSV)
    stations = {s.id: s for _, s in parsed.stations}
    assert [w for w, _ in parsed.stations] == ["line 2", "line 3", "line 4"]
    assert stations["polres-a"].phones == ("0721 111", "+62 721 222")
    assert stations["polsek-b"].parent == "polres-a" and stations["polsek-b"].phones == ()
    assert (stations["polsek-b"].lat_e7, stations["polsek-b"].lon_e7) == (-54160000, 1052560000)
    assert stations["polsek-c"].name == "Polsek C, Kota"


def test_the_sample_is_labelled_and_imports() -> None:
    text = SAMPLE.read_text()
    assert "ILLUSTRATIVE POSITIONS, NOT AN OFFICIAL LIST" in text
    stations = [s for _, s in parse_file(text, "csv").stations]
    assert len(stations) >= 5 and all("(sample)" in s.name for s in stations)
    assert {s.kind for s in stations} == {"polda", "polres", "polsek"}


@pytest.mark.parametrize(("line", "reason"), [
    ("polsek-x,Polsek X,polsek,,-95.1,105.2,", "line 5: lat -95.1 is outside ±90"),
    ("polsek-x,Polsek X,polsek,,-5.1,105°12',", "line 5: lon \"105°12'\" is not a decimal number"),
    ("polsek-x,Polsek X,polsek,,,105.2,", "line 5: lat '' is not a decimal number"),
    ("Polsek X,Polsek X,polsek,,-5.1,105.2,", "line 5: station id 'Polsek X' must be"),
    ("route,Polsek X,polsek,,-5.1,105.2,", "line 5: station id 'route' is reserved"),
    ("polsek-x,Polsek X,kapolsek,,-5.1,105.2,", "line 5: kind 'kapolsek' is not one of"),
    ("polsek-x,,polsek,,-5.1,105.2,", "line 5: name must be"),
    # a name goes into SMS texts, logs and the console: no control characters (a line break, an escape)
    ("polsek-x,\"Polsek\nX\",polsek,,-5.1,105.2,", "lines 5-6: name 'Polsek\\nX' has a control character"),
    ("polsek-x,Polsek \x1b[31mX,polsek,,-5.1,105.2,", "line 5: name 'Polsek \\x1b[31mX' has a control character"),
    ("polsek-x,Polsek X,polsek,,-5.1,105.2,call me", "line 5: phone 'call me' is not a phone number"),
    ("polsek-x,Polsek X,polsek,,-5.1", "line 5: 5 fields; the header has 7"),
])
def test_bad_csv_lines_are_refused_with_line_and_reason(line: str, reason: str) -> None:
    assert refused(CSV + line + "\n")[0].startswith(reason)


def test_every_bad_line_is_reported() -> None:
    text = CSV + "polsek-x,X,polsek,,-95,105,\n\npolsek-y,Y,polsek,,-5,205,\n"
    assert [p.split(":")[0] for p in refused(text)] == ["line 5", "line 7"]


@pytest.mark.parametrize(("header", "reason"), [
    ("id,name,kind,parent,latitude,lon", "line 1: header: missing lat; unknown latitude"),
    ("id,name,kind,lat,lon,lon", "line 1: header: repeated lon"),
    # a spreadsheet set to Indonesian saves ';' between columns and ',' as the decimal point
    ("id;name;kind;parent;lat;lon;phones", "line 1: header: the columns are separated by ';', not ','"),
])
def test_bad_csv_header(header: str, reason: str) -> None:
    assert refused(header + "\n")[0].startswith(reason)


def test_empty_csv() -> None:
    assert refused("# only a comment\n") == ["line 1: no header line (id,name,kind,lat,lon,...)"]


# --- GeoJSON -------------------------------------------------------------------------------------------


def test_geojson_points_and_coverage() -> None:
    parsed = parse_file(geojson_text(GEOJSON_FEATURES))
    stations = {s.id: s for _, s in parsed.stations}
    assert (stations["polsek-b"].lat_e7, stations["polsek-b"].lon_e7) == (-54160001, 1052560001)  # exact
    assert stations["polsek-b"].phones == ("110", "0721 333")
    [(where, station_id, coverage)] = parsed.coverages
    assert (where, station_id) == ("feature 3", "polsek-b")
    assert coverage.contains(-54160000, 1052560000)


@pytest.mark.parametrize(("broken", "reason"), [
    (feature(square(105.3, -5.4, 0.01, close=False), station="polsek-b"),
     "feature 4: polygon ring does not close"),
    (feature({"type": "Polygon", "coordinates": [[[105, -5], [105.1, -5], [105, -5]]]}, station="polsek-b"),
     "feature 4: polygon ring has 3 positions; a closed ring needs at least 4"),
    (feature(square(105.3, -5.4, 0.01)), "feature 4: a coverage polygon needs a `station` property"),
    (feature(point("105.3", "-95"), id="polsek-z", name="Z", kind="polsek"), "feature 4: lat -95 is outside ±90"),
    # the commonest GeoJSON mistake: [lat, lon] where RFC 7946 wants [lon, lat]
    (feature(point("-5.3", "105.3"), id="polsek-z", name="Z", kind="polsek"),
     "feature 4: lat 105.3 is outside ±90 (GeoJSON positions are [lon, lat]: are these two swapped?)"),
    (feature({"type": "LineString", "coordinates": [[105, -5], [106, -5]]}), "feature 4: geometry 'LineString'"),
    (feature(point("105.3", "-5.2"), name="Z", kind="polsek"), "feature 4: station id None must be"),
    ({"type": "Feature", "geometry": None, "properties": {}}, "feature 4: a feature needs a geometry"),
])
def test_bad_geojson_features_are_refused_with_feature_and_reason(broken: dict[str, object], reason: str) -> None:
    assert refused(geojson_text([*GEOJSON_FEATURES, broken]))[0].startswith(reason)


def test_geojson_float_coordinates_are_read_exactly() -> None:
    text = geojson_text(GEOJSON_FEATURES).replace("105.2560001", "105.25600010000000000001")
    stations = {s.id: s for _, s in parse_file(text).stations}
    assert stations["polsek-b"].lon_e7 == 1052560001


@pytest.mark.parametrize(("text", "reason"), [
    ('{"type": "FeatureCollection", "features": [', "file: not JSON: Expecting value: line 1 column 44"),
    ('{"type": "Feature"}', "file: not a GeoJSON FeatureCollection"),
    ("[1, 2]", "line 1: header"),  # not starting with '{': read as CSV
    ('{"type": "FeatureCollection", "features": [], "x": NaN}', "file: not JSON: NaN is not a number"),
    # arrays nested past the parser's recursion limit: refused like any bad JSON, not a crash
    ('{"type": "FeatureCollection", "features": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "file: not JSON: nested more than"),
])
def test_not_geojson(text: str, reason: str) -> None:
    assert refused(text)[0].startswith(reason)


# --- OpenStreetMap ----------------------------------------------------------------------------------------


def test_overpass_json() -> None:
    parsed = parse_file(json.dumps(OVERPASS))
    stations = {s.id: s for _, s in parsed.stations}
    assert set(stations) == {"osm-node-1001", "osm-way-2002", "osm-node-4004"}
    assert parsed.skipped == 2  # the untagged node and the town hall
    node = stations["osm-node-1001"]
    assert (node.kind, node.lat_e7, node.lon_e7, node.phones) == ("polsek", -54160001, 1052560001,
                                                                  ("+62 721 123", "110"))
    way = stations["osm-way-2002"]
    assert (way.kind, way.name, way.lat_e7, way.lon_e7) == ("polres", "Polresta Bandar Lampung", -54280000,
                                                            1052620000)
    assert stations["osm-node-4004"].name == "Polisi (OSM node 4004)"


def test_overpass_way_without_centre_is_refused() -> None:
    document = copy.deepcopy(OVERPASS)
    del document["elements"][1]["center"]  # type: ignore[attr-defined]
    document["elements"][0]["lat"] = 95  # type: ignore[index]
    assert refused(json.dumps(document)) == [
        "element 1 (node 1001): lat 95 is outside ±90",
        "element 2 (way 2002): way without a centre: run the query with `out center;` (e.g. "
        '[out:json];area["name"="Lampung"]->.a;nwr["amenity"="police"](area.a);out center;)',
    ]


def test_overpass_turbo_geojson() -> None:
    parsed = parse_file(json.dumps(TURBO))
    stations = {s.id: s for _, s in parsed.stations}
    assert parsed.skipped == 1 and not parsed.coverages
    assert stations["osm-node-1001"].kind == "post"
    way = stations["osm-way-2002"]  # the building's polygon: the station at its box's centre, not a coverage
    assert (way.kind, way.name, way.lat_e7, way.lon_e7) == ("polda", "Polda Lampung", -54280000, 1052620000)


def test_explicit_format_wins() -> None:
    assert refused(json.dumps(TURBO), "overpass") == ["file: no `elements` list: not an Overpass JSON answer"]


@pytest.mark.parametrize(("tags", "kind"), [
    ({"name": "Polda Lampung"}, "polda"), ({"name": "Polresta Bandar Lampung"}, "polres"),
    ({"name": "POLRESTABES Medan"}, "polres"), ({"name": "Polres Lampung Selatan"}, "polres"),
    ({"name": "Polsekta Kedaton"}, "polsek"), ({"name": "Kantor Polisi", "operator": "Polsek Panjang"}, "polsek"),
    ({"name": "Pos Polisi Tugu"}, "post"), ({"name": "Pospol Rajabasa"}, "post"), ({"police": "checkpoint"}, "post"),
    ({"name": "Kantor Polisi"}, "polsek"), ({}, "polsek"), ({"name": "Polsekolah"}, "polsek"),
])
def test_osm_kind_from_tags(tags: dict[str, str], kind: str) -> None:
    assert osm_kind(tags) == kind


def test_a_file_wrong_everywhere_reports_its_first_problems() -> None:
    text = CSV + "".join(f"polsek-{n},X,polsek,,-95,105,\n" for n in range(250))
    problems = refused(text)
    assert len(problems) == 100
    assert problems[0] == "line 5: lat -95 is outside ±90"
    assert problems[-1] == "file: 151 more problems not shown"


def test_json_problems_name_the_line_their_item_starts_on() -> None:
    # as overpass-turbo and most tools write GeoJSON: pretty-printed, a feature over many lines
    good = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [105.26, -5.42]},
            "properties": {"id": "polsek-q", "name": "Polsek Q", "kind": "polsek"}}
    bad = {**good, "geometry": {"type": "Point", "coordinates": [105.26, -95]}}
    features = [json.dumps(f, indent=2) for f in (good, bad)]
    text = '{"type": "FeatureCollection",\n "features": [\n' + ",\n".join(features) + "\n]}\n"
    second = 3 + features[0].count("\n") + 1  # the header's two lines, then the first feature's
    assert refused(text) == [f"feature 2 (line {second}): lat -95 is outside ±90"]
    elements = [{"type": "node", "id": 7, "lat": -5.4, "lon": 105.2, "tags": {"amenity": "police"}},
                {"type": "way", "id": 8, "tags": {"amenity": "police"}}]
    overpass = '{"version": 0.6,\n"elements": [\n' + ",\n".join(json.dumps(e) for e in elements) + "\n]}"
    assert refused(overpass)[0].startswith("element 2 (line 4, way 8): way without a centre")


def test_an_overpass_turbo_feature_is_named_by_line_and_osm_object() -> None:
    turbo: dict[str, Any] = copy.deepcopy(TURBO)
    turbo["features"][1]["geometry"]["coordinates"][0].pop()  # the ring no longer closes
    text = "\n".join(['{"type": "FeatureCollection", "features": [',
                      *(json.dumps(f) + "," for f in turbo["features"][:-1]), json.dumps(turbo["features"][-1]), "]}"])
    assert refused(text)[0].startswith("feature 2 (line 3, way 2002): polygon ring does not close")
