"""OpenStreetMap `amenity=police` objects as stations (shared by the Overpass and GeoJSON readers).

- id: `osm-node-123`, `osm-way-45`, `osm-relation-6` (the OSM type and id);
- name: `name`, else `official_name`, else `name:id`, else `name:en`, else
  "Polisi (OSM node 123)";
- kind, from the first of `name`, `official_name`, `operator` that says:
  "Polda" -> polda; "Polres", "Polresta", "Polrestabes" -> polres;
  "Polsek", "Polsekta" -> polsek; "Pos Polisi", "Pospol", "Pos Pol",
  "Pos" -> post; else `police=checkpoint` -> post; else polsek (the usual
  station an unnamed police building is);
- phones: `phone`, `contact:phone`, `contact:mobile` (';'-separated lists);
- no parent (OSM does not record it: set it in a CSV afterwards).
Objects without `amenity=police` are skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.stations.model import MAX_NAME, Kind, Station, check_name, check_phones

OSM_TYPES = ("node", "way", "relation")
_KIND_WORDS: tuple[tuple[re.Pattern[str], Kind], ...] = (
    (re.compile(r"\bpolda\b"), "polda"),
    (re.compile(r"\bpolres(ta|tabes)?\b"), "polres"),
    (re.compile(r"\bpolsek(ta)?\b"), "polsek"),
    (re.compile(r"\bpos\s*pol(isi)?\b|\bpos\b"), "post"),
)


def is_police(tags: Mapping[str, object]) -> bool:
    return tags.get("amenity") == "police"


def osm_kind(tags: Mapping[str, object]) -> Kind:
    for key in ("name", "official_name", "operator"):
        text = tags.get(key)
        if isinstance(text, str):
            for pattern, kind in _KIND_WORDS:
                if pattern.search(text.lower()):
                    return kind
    return "post" if tags.get("police") == "checkpoint" else "polsek"


def osm_station(osm_type: str, osm_id: int, tags: Mapping[str, object], lat_e7: int, lon_e7: int) -> Station:
    """The station for one police object; ValueError when its tags cannot make one."""
    name = next((v for k in ("name", "official_name", "name:id", "name:en")
                 if isinstance(v := tags.get(k), str) and v.strip()), f"Polisi (OSM {osm_type} {osm_id})")
    phones = [p for k in ("phone", "contact:phone", "contact:mobile")
              if isinstance(v := tags.get(k), str) for p in v.split(";")]
    return Station(id=f"osm-{osm_type}-{osm_id}", name=check_name(name[:MAX_NAME]), kind=osm_kind(tags),
                   lat_e7=lat_e7, lon_e7=lon_e7, phones=check_phones(phones))


def parse_osm_ref(value: object) -> tuple[str, int] | None:
    """("node", 123) from "node/123" (overpass-turbo's feature ids), else None."""
    if isinstance(value, str):
        match = re.fullmatch(r"(node|way|relation)/([0-9]{1,19})", value)
        if match:
            return match[1], int(match[2])
    return None
