"""Overpass API JSON (`[out:json]`): police nodes, and ways/relations with `out center`.

A way or relation has no position of its own: the query must ask for its
centre (`out center;`), otherwise it is refused with that advice. Elements
are numbered from 1 in the file's `elements` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.stations.coords import location_e7
from gateway.stations.formats import Parsed, item_place
from gateway.stations.formats.osm import OSM_TYPES, is_police, osm_station

EXAMPLE_QUERY = '[out:json];area["name"="Lampung"]->.a;nwr["amenity"="police"](area.a);out center;'


def _position(element: dict[str, Any]) -> tuple[object, object]:
    if element.get("type") == "node":
        return element.get("lat"), element.get("lon")
    center = element.get("center")
    if not isinstance(center, dict):
        raise ValueError(f"{element.get('type')} without a centre: run the query with `out center;` "
                         f"(e.g. {EXAMPLE_QUERY})")
    return center.get("lat"), center.get("lon")


def parse_overpass(document: dict[str, Any], lines: Sequence[int] = ()) -> Parsed:
    """`lines`: the line each element starts on (json_lines.item_lines), named beside its number."""
    parsed = Parsed()
    elements = document.get("elements")
    if not isinstance(elements, list):
        parsed.problem("file", "no `elements` list: not an Overpass JSON answer")
        return parsed
    for n, element in enumerate(elements, 1):
        where = item_place("element", n, lines)
        if not isinstance(element, dict):
            parsed.problem(where, "not an object")
            continue
        tags = element.get("tags")
        if not isinstance(tags, dict) or not is_police(tags):
            parsed.skipped += 1  # e.g. the untagged nodes of a way (`>; out skel;`)
            continue
        osm_type, osm_id = element.get("type"), element.get("id")
        if osm_type not in OSM_TYPES or not isinstance(osm_id, int) or isinstance(osm_id, bool) or osm_id <= 0:
            parsed.problem(where, f"type {osm_type!r} / id {osm_id!r} are not an OSM object")
            continue
        where = item_place("element", n, lines, f"{osm_type} {osm_id}")
        try:
            lat_e7, lon_e7 = location_e7(*_position(element))
            parsed.stations.append((where, osm_station(osm_type, osm_id, tags, lat_e7, lon_e7)))
        except ValueError as exc:
            parsed.problem(where, str(exc))
    return parsed
