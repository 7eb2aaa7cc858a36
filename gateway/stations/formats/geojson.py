"""GeoJSON FeatureCollection: stations as Points, coverage areas as Polygons, and overpass-turbo exports.

- A Point is a station: `properties` id (or the feature's `id`), name, kind,
  parent, phones (a list, or one ';'-separated string).
- A Polygon or MultiPolygon with a `station` property is that station's
  coverage area (the station in the same file or already stored).
- overpass-turbo's export (features with ids like "node/123", tags in the
  properties or in `properties.tags`) is read as OpenStreetMap data
  (formats/osm.py); a police way drawn as a polygon is the building, not a
  coverage area: its station stands at the centre of the polygon's box.
Features are numbered from 1 in the file's `features` list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from gateway.stations.coords import location_e7
from gateway.stations.coverage import Coverage, parse_geometry
from gateway.stations.formats import Parsed, item_place
from gateway.stations.formats.osm import is_police, osm_station, parse_osm_ref
from gateway.stations.model import Station, check_id, check_kind, check_name, check_phones

AREA_TYPES = ("Polygon", "MultiPolygon")


def _point(geometry: dict[str, Any]) -> tuple[int, int]:
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) not in (2, 3):
        raise ValueError("a Point's coordinates must be [lon, lat]")
    try:
        return location_e7(coordinates[1], coordinates[0])
    except ValueError as exc:
        try:  # the commonest GeoJSON mistake: written [lat, lon]
            location_e7(coordinates[0], coordinates[1])
        except ValueError:
            raise exc from None
        raise ValueError(f"{exc} (GeoJSON positions are [lon, lat]: are these two swapped?)") from None


def _phones(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return check_phones(value.split(";"))
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return check_phones(value)
    raise ValueError("phones must be a list of strings or one ';'-separated string")


def _station(feature: dict[str, Any], properties: dict[str, Any], lat_e7: int, lon_e7: int) -> Station:
    parent = properties.get("parent")
    return Station(id=check_id(properties.get("id", feature.get("id"))), name=check_name(properties.get("name")),
                   kind=check_kind(properties.get("kind")), lat_e7=lat_e7, lon_e7=lon_e7,
                   parent=check_id(parent) if parent not in (None, "") else None,
                   phones=_phones(properties.get("phones")))


def _osm_feature(parsed: Parsed, where: str, ref: tuple[str, int], geometry: dict[str, Any],
                 properties: dict[str, Any]) -> None:
    tags = properties["tags"] if isinstance(properties.get("tags"), dict) else properties
    if not is_police(tags):
        parsed.skipped += 1
        return
    if geometry.get("type") == "Point":
        lat_e7, lon_e7 = _point(geometry)
    elif geometry.get("type") in AREA_TYPES:
        min_lon, min_lat, max_lon, max_lat = parse_geometry(geometry).bbox
        lat_e7, lon_e7 = (min_lat + max_lat) // 2, (min_lon + max_lon) // 2
    else:
        raise ValueError(f"a {geometry.get('type')} is not a place for a police station")
    parsed.stations.append((where, osm_station(ref[0], ref[1], tags, lat_e7, lon_e7)))


def _feature(parsed: Parsed, where: str, feature: dict[str, Any], osm_where: Callable[[str], str]) -> None:
    geometry, properties = feature.get("geometry"), feature.get("properties") or {}
    if not isinstance(geometry, dict) or not isinstance(properties, dict):
        raise ValueError("a feature needs a geometry and properties")
    ref = parse_osm_ref(feature.get("id")) or parse_osm_ref(properties.get("@id")) \
        or parse_osm_ref(properties.get("id"))
    if ref is not None:
        place = osm_where(f"{ref[0]} {ref[1]}")
        try:
            _osm_feature(parsed, place, ref, geometry, properties)
        except ValueError as exc:  # named with its OSM object, as the station would have been
            parsed.problem(place, str(exc))
    elif geometry.get("type") == "Point":
        parsed.stations.append((where, _station(feature, properties, *_point(geometry))))
    elif geometry.get("type") in AREA_TYPES:
        if "station" not in properties:
            raise ValueError("a coverage polygon needs a `station` property (the id of the station it covers)")
        coverage: Coverage = parse_geometry(geometry)
        parsed.coverages.append((where, check_id(properties["station"]), coverage))
    else:
        raise ValueError(f"geometry {geometry.get('type')!r}: stations are Points, coverage areas Polygons")


def parse_geojson(document: dict[str, Any], lines: Sequence[int] = ()) -> Parsed:
    """`lines`: the line each feature starts on (json_lines.item_lines), named beside its number."""
    parsed = Parsed()
    features = document.get("features")
    if document.get("type") != "FeatureCollection" or not isinstance(features, list):
        parsed.problem("file", "not a GeoJSON FeatureCollection")
        return parsed
    for n, feature in enumerate(features, 1):
        where = item_place("feature", n, lines)
        try:
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise ValueError("not a Feature")
            _feature(parsed, where, feature, partial(item_place, "feature", n, lines))
        except ValueError as exc:
            parsed.problem(where, str(exc))
    return parsed
