"""/stations: admin imports and changes, operators read and route; refusals say where and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.api.routes import stations as stations_route
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, make_api
from tests.gateway.stations.files import CSV, OVERPASS, SAMPLE, square

ADMIN, OPS, TECH = auth("admin-token"), auth("ops-token"), auth("tech-token")
CSV_TYPE = {"Content-Type": "text/csv"}


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker)


def import_csv(api: Api, text: str = CSV, **params: str) -> dict[str, object]:
    response = api.client.post("/stations/import", content=text, params=params, headers={**ADMIN, **CSV_TYPE})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_roles(api: Api) -> None:
    for headers, status in (({}, 401), (TECH, 403), (OPS, 403)):
        assert api.client.post("/stations/import", content=CSV, headers=headers).status_code == status
        assert api.client.put("/stations/x", json={}, headers=headers).status_code == status
        assert api.client.delete("/stations/x", headers=headers).status_code == status
    assert api.client.get("/stations", headers=TECH).status_code == 403
    assert api.client.get("/stations", headers=OPS).json() == []
    assert api.client.get("/stations", headers=ADMIN).status_code == 200


def test_import_list_read(api: Api) -> None:
    assert import_csv(api) == {"created": 3, "updated": 0, "unchanged": 0, "removed": 0, "skipped": 0}
    listed = api.client.get("/stations", headers=OPS).json()
    assert [s["id"] for s in listed] == ["polres-a", "polsek-b", "polsek-c"]
    assert api.client.get("/stations", params={"parent": "polres-a", "limit": 1}, headers=OPS).json()[0]["id"] \
        == "polsek-b"
    one = api.client.get("/stations/polres-a", headers=OPS).json()
    assert one == {"id": "polres-a", "name": "Polres A", "kind": "polres", "parent": None, "lat": -5.428,
                   "lon": 105.262, "phones": ["0721 111", "+62 721 222"], "coverage": None}
    assert api.client.get("/stations/nowhere", headers=OPS).status_code == 404
    # a kind that does not exist is a mistake to point out, not an empty list
    wrong_kind = api.client.get("/stations", params={"kind": "polisi"}, headers=OPS)
    assert wrong_kind.status_code == 422 and wrong_kind.json()["detail"][0]["loc"] == ["query", "kind"]


def test_a_refused_import_says_where_and_stores_nothing(api: Api) -> None:
    import_csv(api)
    bad = CSV.replace("Polres A", "Polres A Baru") + "polsek-x,X,polsek,nowhere,-5,105.1,\n"
    response = api.client.post("/stations/import", content=bad, headers=ADMIN)
    assert response.status_code == 400
    assert response.json() == {"detail": "line 5: unknown parent nowhere",
                               "problems": [{"where": "line 5", "reason": "unknown parent nowhere"}]}
    assert [s["name"] for s in api.client.get("/stations", headers=OPS).json()] == ["Polres A", "Polsek B",
                                                                                    "Polsek C, Kota"]


def test_import_formats_modes_and_bad_bodies(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import_csv(api)
    osm = api.client.post("/stations/import", content=json.dumps(OVERPASS), params={"mode": "replace"},
                          headers=ADMIN)
    assert osm.json() == {"created": 3, "updated": 0, "unchanged": 0, "removed": 3, "skipped": 2}
    wrong = api.client.post("/stations/import", content=CSV, params={"format": "geojson"}, headers=ADMIN)
    assert wrong.status_code == 400 and wrong.json()["problems"][0]["reason"].startswith("not JSON")
    assert api.client.post("/stations/import", content=CSV, params={"format": "kml"},
                           headers=ADMIN).status_code == 422
    not_utf8 = api.client.post("/stations/import", content=b"id,name\xff", headers=ADMIN)
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.json()["detail"]
    with_bom = import_csv(api, "\ufeff" + CSV.replace("Polres A", "Polres A Baru"))  # as spreadsheets save it
    assert with_bom["created"] == 3
    monkeypatch.setattr(stations_route, "MAX_BODY_BYTES", 100)
    assert api.client.post("/stations/import", content=CSV, headers=ADMIN).status_code == 413


def test_put_create_update_and_exact_coordinates(api: Api) -> None:
    import_csv(api)
    body = {"name": "Polsek D", "kind": "polsek", "parent": "polres-a", "lat": -5.4178901, "lon": 105.2545678,
            "phones": ["110"], "coverage": square(105.2545678, -5.4178901, 0.01)}
    created = api.client.put("/stations/polsek-d", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert (created.json()["lat"], created.json()["lon"]) == (-5.4178901, 105.2545678)
    updated = api.client.put("/stations/polsek-d", json={**body, "lat": "-5.4178902"}, headers=ADMIN)
    assert updated.status_code == 200 and updated.json()["lat"] == -5.4178902
    read = api.client.get("/stations/polsek-d", headers=OPS).json()
    assert read["coverage"]["type"] == "Polygon" and read["phones"] == ["110"]
    # PUT replaces the whole station: no coverage given, none kept
    without_area = api.client.put("/stations/polsek-d", json={**body, "coverage": None}, headers=ADMIN)
    assert without_area.status_code == 200 and without_area.json()["coverage"] is None
    assert api.client.get("/stations/polsek-d", headers=OPS).json()["coverage"] is None


@pytest.mark.parametrize(("station_id", "change", "where", "reason"), [
    ("polsek-d", {"lat": 95}, "body", "lat 95 is outside ±90"),
    ("polsek-d", {"parent": "nowhere"}, "station polsek-d", "unknown parent nowhere"),
    ("polsek-d", {"kind": "kapolsek"}, "kind", "Input should be"),
    ("polsek-d", {"coverage": square(105.25, -5.41, 0.01)["coordinates"]}, "coverage", "Input should be"),
    ("polsek-d", {"coverage": {"type": "Polygon", "coordinates": [[[105, -5], [105.1, -5], [105.1, -5.1],
                                                                    [105.2, -5]]]}},
     "body", "polygon ring does not close"),
    ("Polsek D", {}, "body", "station id 'Polsek D' must be"),
    # a misspelt field is refused, not dropped (a CSV refuses an unknown column for the same reason)
    ("polsek-d", {"coverge": square(105.25, -5.41, 0.01)}, "coverge", "Extra inputs are not permitted"),
    ("polres-a", {"parent": "polsek-b"}, "station polres-a", "parent cycle: polres-a -> polsek-b -> polres-a"),
])
def test_put_refusals(api: Api, station_id: str, change: dict[str, object], where: str, reason: str) -> None:
    import_csv(api)
    body = {"name": "Polsek D", "kind": "polsek", "lat": "-5.41", "lon": "105.25", **change}
    response = api.client.put(f"/stations/{station_id}", json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    problem = response.json()["problems"][0]
    assert problem["where"] == where and problem["reason"].startswith(reason)


def test_put_needs_a_json_body(api: Api) -> None:
    response = api.client.put("/stations/polsek-d", content="lat=5", headers=ADMIN)
    assert response.status_code == 400 and response.json()["problems"][0]["reason"].startswith("Expecting value")


def test_a_body_nested_too_deeply_is_refused_not_a_crash(api: Api) -> None:
    deep = '{"name": "X", "kind": "polsek", "lat": 1, "lon": 1, "coverage": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for response in (api.client.put("/stations/polsek-d", content=deep, headers=ADMIN),
                     api.client.post("/stations/import", content=deep, headers=ADMIN)):
        assert response.status_code == 400, response.text
        assert "nested more than" in response.json()["detail"]


def test_delete(api: Api) -> None:
    import_csv(api)
    refused = api.client.delete("/stations/polres-a", headers=ADMIN)
    assert refused.status_code == 409 and "is the parent of polsek-b, polsek-c" in refused.json()["detail"]
    assert api.client.delete("/stations/polsek-c", headers=ADMIN).json()["id"] == "polsek-c"
    assert api.client.delete("/stations/polsek-c", headers=ADMIN).status_code == 404


def test_route_the_sample(api: Api) -> None:
    empty = api.client.get("/stations/route", params={"lat": "-5.4178901", "lon": "105.2545678"}, headers=OPS)
    assert empty.json() == {"basis": "unrouted", "station": None, "candidates": []}
    import_csv(api, SAMPLE.read_text())
    routed = api.client.get("/stations/route", params={"lat": "-5.4178901", "lon": "105.2545678"}, headers=OPS)
    body = routed.json()
    assert body["basis"] == "nearest" and body["station"]["id"] == "polsek-tanjung-karang-pusat"
    assert len(body["candidates"]) == 3
    distances = [body["station"]["distance_m"], *(c["distance_m"] for c in body["candidates"])]
    assert distances == sorted(distances) and 0 < distances[0] < 1000
    bad = api.client.get("/stations/route", params={"lat": "-95", "lon": "105"}, headers=OPS)
    assert bad.status_code == 400 and bad.json()["problems"][0]["reason"] == "lat -95 is outside ±90"
    assert api.client.get("/stations/route", params={"lat": "-5", "lon": "105"}, headers=TECH).status_code == 403


def test_the_schema_documents_the_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json", headers=OPS).json()["paths"]
    assert {"/stations", "/stations/import", "/stations/route", "/stations/{station_id}"} <= set(paths)
    assert "400" in paths["/stations/{station_id}"]["put"]["responses"]
    assert "requestBody" in paths["/stations/{station_id}"]["put"]
