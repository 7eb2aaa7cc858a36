"""The operator console's routes: public page, login to a session cookie, operator-only data, the live feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.api.auth import SESSION_COOKIE, session_cookie
from gateway.storage.store import utcnow
from simulator.stack import Stack
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, make_api
from tests.gateway.broken_parts import fail_once
from tests.gateway.console.conftest import import_sample_stations, register, serving

DATA = ["/console/api/config", "/console/api/snapshot", "/console/api/events"]


def login(api: Api, token: str) -> httpx.Response:
    response: httpx.Response = api.client.post("/console/session", json={"token": token})
    return response


def test_the_page_and_its_files_are_public(api: Api) -> None:
    page = api.client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/console/static/app.js" in page.text and "ops-token" not in page.text
    assert api.client.get("/console", follow_redirects=False).headers["location"] == "/console/"
    for path in ("app.js", "map.js", "i18n.js", "console.css", "vendor/leaflet/leaflet.js",
                 "vendor/leaflet/leaflet.css", "vendor/leaflet/LICENSE"):
        assert api.client.get(f"/console/static/{path}").status_code == 200, path
    assert api.client.get("/console/static/../routes.py").status_code == 404
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
    assert "img-src 'self' data:;" in policy  # no tile server configured


def test_the_page_may_load_images_from_the_configured_tile_server(tmp_path: Path, broker: BrokerUnderTest) -> None:
    api = make_api(tmp_path, broker, console_tile_url="https://{s}.tiles.example.org:8443/{z}/{x}/{y}.png")
    policy = api.client.get("/console/").headers["content-security-policy"]
    assert "img-src 'self' data: https://*.tiles.example.org:8443;" in policy


@pytest.mark.parametrize("path", DATA)
def test_no_console_data_without_an_operator(api: Api, path: str) -> None:
    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers=auth("wrong")).status_code == 401
    assert api.client.get(path, headers=auth("tech-token")).status_code == 403
    api.client.cookies.set(SESSION_COOKIE, "9999999999.00")  # a made-up session
    assert api.client.get(path).status_code == 401


def test_login_gives_an_httponly_strict_cookie_without_the_token(api: Api) -> None:
    response = login(api, "ops-token")
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "ops-token" not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert api.client.get("/console/api/config").json() == {"tile_url": "", "tile_attribution": ""}
    assert api.client.get("/alerts").status_code == 200  # the contract's own routes take it too
    assert api.client.delete("/console/session").status_code == 204
    assert api.client.get("/console/api/config").status_code == 401


def test_a_session_grants_no_more_than_the_operator_role(api: Api) -> None:
    assert login(api, "admin-token").status_code == 200
    assert api.client.get("/console/api/snapshot").status_code == 200
    assert api.client.get("/stations").status_code == 200  # operators read stations
    assert api.client.delete("/stations/x").status_code == 403  # but the admin's token would be needed
    assert api.client.post("/owners", json={}).status_code == 403


def test_bad_logins_are_refused_and_counted(tmp_path: Path, broker: BrokerUnderTest) -> None:
    api = make_api(tmp_path, broker, api_token_failures=3)
    response = login(api, "tech-token")
    assert response.status_code == 403 and "set-cookie" not in response.headers
    assert "operator" in response.json()["detail"]
    assert login(api, "").status_code == 422
    for _ in range(3):
        response = login(api, "guess")
        assert response.status_code == 401 and "set-cookie" not in response.headers
    assert login(api, "ops-token").status_code == 429  # the address is throttled, as for bearer tokens


def test_expired_or_forged_sessions_are_refused(api: Api) -> None:
    assert login(api, "ops-token").status_code == 200
    good = api.client.cookies[SESSION_COOKIE]
    expires, mac = good.split(".")
    for bad in (session_cookie("ops-token", 60, now=0),  # expired long ago
                f"{int(expires) + 1}.{mac}",  # a later expiry under the same MAC
                session_cookie("tech-token", 600),  # a technician's token never opens a session
                session_cookie("not-a-token", 600), "garbage", ""):
        api.client.cookies.set(SESSION_COOKIE, bad)
        response = api.client.get("/console/api/snapshot")
        assert response.status_code == 401, bad
    api.client.cookies.set(SESSION_COOKIE, good)
    assert api.client.get("/console/api/snapshot").status_code == 200


def test_snapshot_has_open_alerts_first_newest_at_top_with_everything_the_operator_needs(api: Api) -> None:
    import_sample_stations(api)
    issued = register(api)
    device, key = issued["device_id"], issued["device_key"]
    for seq in (1, 2, 3):
        assert api.send_alert(device, key, seq).verdict == "new"
    done = api.client.post(f"/alerts/{device}:3/ack", headers=auth("ops-token"),
                           json={"state": "resolved", "by": "Bripka Andi", "note": "tombol tersenggol",
                                 "false_alarm": True})
    assert done.status_code == 200, done.text
    snapshot = api.client.get("/console/api/snapshot", headers=auth("ops-token")).json()
    alerts = snapshot["alerts"]
    assert [a["alert_id"] for a in alerts] == [f"{device}:2", f"{device}:1", f"{device}:3"]
    assert [a["open"] for a in alerts] == [True, True, False]
    closed = alerts[2]
    assert (closed["state"], closed["false_alarm"], closed["acted_by"], closed["note"]) == (
        "false_alarm", True, "Bripka Andi", "tombol tersenggol")  # resolved + false_alarm: the false_alarm end state
    newest = alerts[0]
    assert newest["owner"]["name"] == "Warung Bu Sari" and newest["owner"]["phone"] == "+62 812 1111 2222"
    assert newest["premises"]["address"].startswith("Jl. Kartini 5")
    assert newest["location"]["source"] == "premises" and newest["location"]["lat"] == -5.4178901
    assert newest["device"] == {"id": device, "firmware": None, "battery": 90, "power": "mains",
                                "network": "wifi", "signal": -60}
    assert newest["device_status"]["last_seen_at"] is not None
    station = newest["station"]
    assert station is not None and isinstance(station["lat"], float) and station["phones"]
    assert len(newest["candidates"]) == 3 and all("lat" in c and "lon" in c for c in newest["candidates"])
    assert station["distance_m"] <= min(c["distance_m"] for c in newest["candidates"])
    assert newest["history"]["recent_alerts"] == 1  # alert 1 before it (3 came later)
    assert snapshot["offline"] == []


def test_offline_devices_are_listed(api: Api) -> None:
    device = register(api)["device_id"]
    api.store.set_online(device, True, "1.0.0", utcnow())
    assert api.client.get("/console/api/snapshot", headers=auth("ops-token")).json()["offline"] == []
    api.store.set_online(device, False, None, utcnow())
    offline = api.client.get("/console/api/snapshot", headers=auth("ops-token")).json()["offline"]
    assert [(d["device_id"], d["owner"], d["online"]) for d in offline] == [(device, "Warung Bu Sari", False)]
    assert offline[0]["online_changed_at"] is not None and offline[0]["address"].startswith("Jl. Kartini 5")


def events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """The server-sent events of a streaming response, as (event, data)."""
    name, data = "message", list[str]()
    for line in response.iter_lines():
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_the_live_feed_delivers_a_new_alert_from_another_instance(tmp_path: Path, broker: BrokerUnderTest) -> None:
    """Two apps on one database, as two gateway instances: an alert taken in by one reaches a console
    following the other, without the console asking."""
    first = make_api(tmp_path, broker)
    second = make_api(tmp_path, broker, console_poll_s=0.05)
    issued = register(first)
    with serving(second.client.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/console/session", json={"token": "ops-token"}).status_code == 200
        with client.stream("GET", "/console/api/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            feed = events(response)
            name, snapshot = next(feed)
            assert name == "snapshot" and snapshot["alerts"] == []
            assert first.send_alert(issued["device_id"], issued["device_key"], 7).verdict == "new"
            name, snapshot = next(feed)
            assert name == "snapshot"
            assert [(a["alert_id"], a["state"], a["open"]) for a in snapshot["alerts"]] == [
                (f"{issued['device_id']}:7", "new", True)]
            acked = first.client.post(f"/alerts/{issued['device_id']}:7/ack", headers=auth("ops-token"),
                                      json={"state": "acknowledged", "by": "Bripka Andi"})
            assert acked.status_code == 200, acked.text
            name, snapshot = next(feed)
            assert [(a["state"], a["acted_by"]) for a in snapshot["alerts"]] == [("acknowledged", "Bripka Andi")]


def test_the_live_feed_needs_a_login(tmp_path: Path, broker: BrokerUnderTest) -> None:
    api = make_api(tmp_path, broker)
    with (serving(api.client.app) as url,
          httpx.Client(base_url=url, timeout=10) as client, client.stream("GET", "/console/api/events") as response):
        assert response.status_code == 401
        assert "text/event-stream" not in response.headers.get("content-type", "")


def test_an_open_feed_does_not_hold_up_the_gateway_stopping(stack: Stack) -> None:
    """The real gateway process, a console following it: SIGTERM ends the feed and the gateway stops by
    itself (uvicorn would otherwise wait for the feed until the process is killed)."""
    with httpx.Client(base_url=stack.gateway.url, timeout=10) as client:
        assert client.post("/console/session", json={"token": stack.gateway.token}).status_code == 200
        with client.stream("GET", "/console/api/events") as response:
            feed = events(response)
            assert next(feed)[0] == "snapshot"
            process = stack.gateway.process
            assert process is not None
            stack.gateway.stop()  # SIGTERM, then SIGKILL if it has not ended in time
            assert list(feed) == []  # the server closed the feed
    assert process.returncode == 0, stack.gateway.log()[-2000:]
    assert "gateway stopped" in stack.gateway.log()


def test_consoles_share_one_poller_and_hear_when_the_database_fails(tmp_path: Path, broker: BrokerUnderTest) -> None:
    """Two consoles on one instance: one snapshot is built per change for both; a database failure is
    told to them (`unavailable`) and a fresh snapshot follows when it is back."""
    api = make_api(tmp_path, broker, console_poll_s=0.05)
    issued = register(api)
    with (serving(api.client.app) as url, httpx.Client(base_url=url, timeout=10) as one,
          httpx.Client(base_url=url, timeout=10) as two):
        for client in (one, two):
            assert client.post("/console/session", json={"token": "ops-token"}).status_code == 200
        with one.stream("GET", "/console/api/events") as first, two.stream("GET", "/console/api/events") as second:
            feeds = [events(first), events(second)]
            assert [next(feed)[0] for feed in feeds] == ["snapshot", "snapshot"]
            assert api.send_alert(issued["device_id"], issued["device_key"], 1).verdict == "new"
            for feed in feeds:
                name, snapshot = next(feed)
                assert name == "snapshot" and [a["alert_id"] for a in snapshot["alerts"]] == [
                    f"{issued['device_id']}:1"]
            shared = api.client.app.state.console_feed  # type: ignore[attr-defined]
            assert (shared.snapshots, shared.followers) == (2, 2)
            fail_once(api.store, "sessions")  # the next database call fails as a lost connection would
            for feed in feeds:
                assert next(feed) == ("unavailable", {"detail": "the database is not available; retrying"})
                name, snapshot = next(feed)
                assert name == "snapshot" and len(snapshot["alerts"]) == 1

