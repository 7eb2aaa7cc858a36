"""Station files for the tests: good ones in every format, and how to break them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[3] / "gateway" / "stations" / "sample_bandar_lampung.csv"

CSV = """id,name,kind,parent,lat,lon,phones
polres-a,Polres A,polres,,-5.4280000,105.262,0721 111;+62 721 222
polsek-b,Polsek B,polsek,polres-a,-5.4160000,105.2560000,
polsek-c,"Polsek C, Kota",polsek,polres-a,-5.402,105.24,110
"""


def feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def point(lon: str, lat: str) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}  # replaced by bare numbers in `geojson_text`


def square(lon: float, lat: float, half: float, close: bool = True) -> dict[str, Any]:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]] if close else ring]}


def geojson_text(features: list[dict[str, Any]]) -> str:
    # Numbers written as JSON numbers (the coordinate strings of `point` become bare decimals).
    text = json.dumps({"type": "FeatureCollection", "features": features})
    for f in features:
        if (f.get("geometry") or {}).get("type") == "Point":
            lon, lat = f["geometry"]["coordinates"]
            if isinstance(lon, str):
                text = text.replace(f'["{lon}", "{lat}"]', f"[{lon}, {lat}]")
    return text


GEOJSON_FEATURES = [
    feature(point("105.262", "-5.428"), id="polres-a", name="Polres A", kind="polres", phones=["0721 111"]),
    feature(point("105.2560001", "-5.4160001"), id="polsek-b", name="Polsek B", kind="polsek", parent="polres-a",
            phones="110;0721 333"),
    feature(square(105.256, -5.416, 0.01), station="polsek-b"),
]

OVERPASS = {
    "version": 0.6,
    "elements": [
        {"type": "node", "id": 1001, "lat": -5.4160001, "lon": 105.2560001,
         "tags": {"amenity": "police", "name": "Polsek Tanjung Karang Pusat", "phone": "+62 721 123;110"}},
        {"type": "way", "id": 2002, "center": {"lat": -5.428, "lon": 105.262}, "nodes": [1, 2, 3],
         "tags": {"amenity": "police", "name": "Polresta Bandar Lampung"}},
        {"type": "node", "id": 3003, "lat": -5.41, "lon": 105.25},  # a way's untagged node
        {"type": "node", "id": 4004, "lat": -5.39, "lon": 105.27, "tags": {"amenity": "police"}},
        {"type": "node", "id": 5005, "lat": -5.5, "lon": 105.3, "tags": {"amenity": "townhall", "name": "Kantor"}},
    ],
}

TURBO = {  # overpass-turbo's GeoJSON export (osmtogeojson): tags in the properties, or under `tags`
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "id": "node/1001", "geometry": {"type": "Point", "coordinates": [105.2560001, -5.4160001]},
         "properties": {"@id": "node/1001", "amenity": "police", "name": "Pos Polisi Tugu Adipura"}},
        {"type": "Feature", "id": "way/2002",
         "geometry": {"type": "Polygon", "coordinates": [[[105.261, -5.429], [105.263, -5.429], [105.263, -5.427],
                                                          [105.261, -5.427], [105.261, -5.429]]]},
         "properties": {"type": "way", "id": 2002, "tags": {"amenity": "police", "official_name": "Polda Lampung"}}},
        {"type": "Feature", "id": "node/6006", "geometry": {"type": "Point", "coordinates": [105.3, -5.5]},
         "properties": {"@id": "node/6006", "shop": "bakery"}},
    ],
}
