"""Station routing end to end: a real broker, the gateway process, stations imported as an operator would.

Every dispatch alert carries its responsible station and candidates and is
published on the station's topic as well as the all-alerts one; with no
stations (or no location) it still goes out, unrouted, with one `unrouted`
event (docs/stations.md, docs/protocol.md).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.stack import DEMO_OWNER, MqttListener, Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice, new_device_id

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "gateway" / "stations" / "sample_bandar_lampung.csv"
CHECK_S = 1.0  # the gateway's PANIC_STATIONS_CHECK_S in these tests
STATION_ALERTS = "panic/v1/dispatch/stations/+/alerts"


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """The stack on SQLite, and on PostgreSQL where one is reachable (tests/gateway/conftest.py)."""
    # Receipts re-published quickly, so that redeliveries happen within a test.
    env = {"PANIC_STATIONS_CHECK_S": str(CHECK_S), "PANIC_DISPATCH_RECEIPT_RETRY_S": "0.5",
           "PANIC_DISPATCH_RECEIPT_RETRY_MAX_S": "0.5"}
    with Stack(tmp_path, database_url=database_url, gateway_env=env) as running:
        yield running


def listener(stack: Stack, receipts: bool = True) -> MqttListener:
    """A dispatch consumer on the all-alerts, events and every station's topics."""
    return MqttListener(stack.broker_config, "dispatch", stack.broker_config.dispatch_password,
                        ["panic/v1/dispatch/alerts", "panic/v1/dispatch/events", STATION_ALERTS],
                        receipt_as="routing-test" if receipts else None)


@pytest.fixture
def dispatch(stack: Stack) -> Iterator[MqttListener]:  # `device` (tests/gateway/conftest.py) uses this stack
    consumer = listener(stack)
    yield consumer
    consumer.close()


def import_stations(stack: Stack, path: Path) -> None:
    """`panic-gateway stations import` in its own process (another instance, as far as routing can tell)."""
    url = stack.gateway.env["PANIC_DATABASE_URL"]
    done = subprocess.run([sys.executable, "-m", "gateway.main", "stations", "--database-url", url,
                           "import", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def publications(dispatch: MqttListener, alert_id: str, *, topics: int,
                 timeout: float = 15.0) -> tuple[dict[str, tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """Read until the alert's first publication arrived on `topics` topics, or `timeout`.

    Returns topic kind ('all', 'station') -> (topic, record), and the events read meanwhile;
    every message is checked against its schema.
    """
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(seen) < topics:
        try:
            topic, payload = dispatch.messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        record = json.loads(payload)
        if topic == "panic/v1/dispatch/events":
            assert_valid("dispatch-event.json", record)
            found.append(record)
            continue
        assert_valid("dispatch-alert.json", record)
        if record["alert_id"] == alert_id:
            seen.setdefault("station" if "/stations/" in topic else "all", (topic, record))
    return seen, found


def routed_alert(dispatch: MqttListener, alert_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The alert as published on the all-alerts topic and its station's topic."""
    return publications(dispatch, alert_id, topics=2)[0]


def events(dispatch: MqttListener, wait: float) -> list[dict[str, Any]]:
    found = []
    for topic, payload in dispatch.drain(wait):
        if topic == "panic/v1/dispatch/events":
            record = json.loads(payload)
            assert_valid("dispatch-event.json", record)
            found.append(record)
    return found


def test_alert_from_premises_goes_to_the_nearest_sample_station_with_three_candidates(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    import_stations(stack, SAMPLE)
    device.send(device.alert_body())  # no fix: the premises (-5.4291234, 105.2612345) stand in
    seen = routed_alert(dispatch, f"{device.id}:1")
    assert set(seen) == {"all", "station"}
    all_topic, record = seen["all"]
    station_topic, station_record = seen["station"]
    assert all_topic == "panic/v1/dispatch/alerts"
    assert station_topic == "panic/v1/dispatch/stations/polresta-bandar-lampung/alerts"
    assert station_record == record
    assert record["location"]["source"] == "premises"
    # Great-circle distances computed independently for the sample's positions (metres).
    assert record["station"]["id"] == "polresta-bandar-lampung"
    assert record["station"]["distance_m"] == pytest.approx(151, abs=1)
    assert [(c["id"], round(c["distance_m"])) for c in record["candidates"]] == [
        ("polsek-tanjung-karang-pusat", 1570), ("polsek-tanjung-karang-timur", 1831),
        ("polsek-teluk-betung-selatan", 2031)]
    assert record["candidates"][0]["name"] == "Polsek Tanjung Karang Pusat (sample)"
    assert [e for e in events(dispatch, 1.0) if e["event"] == "unrouted"] == []


def test_gps_fix_inside_a_coverage_area_goes_to_that_station(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    import_stations(stack, SAMPLE)
    # Polsek Kedaton's area (through the API: this instance re-routes at once) around a point
    # whose nearest station is the Polda, 736 m away.
    area = {"type": "Polygon", "coordinates": [[[105.26, -5.40], [105.27, -5.40], [105.27, -5.39],
                                                [105.26, -5.39], [105.26, -5.40]]]}
    stack.gateway.request("POST", "/stations/import", {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"station": "polsek-kedaton"}, "geometry": area}]})
    loc = {"lat": -5.3971234, "lon": 105.2667891, "acc": 8, "src": "gps", "age": 2}
    device.send(device.alert_body(loc=loc))
    seen = routed_alert(dispatch, f"{device.id}:1")
    topic, record = seen["station"]
    assert topic == "panic/v1/dispatch/stations/polsek-kedaton/alerts"
    assert record["location"]["source"] == "gps"
    assert record["station"]["id"] == "polsek-kedaton"
    assert [c["id"] for c in record["candidates"]] == ["polda-lampung", "polsek-tanjung-karang-pusat",
                                                       "polsek-tanjung-karang-timur"]


def test_a_stale_fix_gives_way_to_the_premises(stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    import_stations(stack, SAMPLE)
    stale = {"lat": -5.3971234, "lon": 105.2667891, "acc": 8, "src": "last_gps", "age": 3600}
    device.send(device.alert_body(loc=stale))
    _topic, record = routed_alert(dispatch, f"{device.id}:1")["all"]
    assert record["location"] == {"lat": -5.4291234, "lon": 105.2612345, "accuracy_m": None,
                                  "source": "premises", "age_s": None}
    assert record["station"]["id"] == "polresta-bandar-lampung"


def test_no_stations_the_alert_goes_out_unrouted_with_one_event(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    device.send(device.alert_body())
    seen, before = publications(dispatch, f"{device.id}:1", topics=1)
    assert set(seen) == {"all"}
    _topic, record = seen["all"]
    assert record["station"] is None and record["candidates"] == []
    assert record["location"]["source"] == "premises"
    later = dispatch.drain(2.0)
    assert not [t for t, _ in later if "/stations/" in t]
    after = [json.loads(p) for t, p in later if t == "panic/v1/dispatch/events"]
    for event in after:
        assert_valid("dispatch-event.json", event)
    unrouted = [e for e in before + after if e["event"] == "unrouted"]
    assert len(unrouted) == 1
    event = unrouted[0]
    assert event["device"] == device.id and event["reason"] is None
    assert event["owner"]["name"] == "Toko Emas Sinar Jaya"
    assert event["detail"] == f"alert {device.id}:1 not routed to a station: no stations are registered"


def test_no_location_the_alert_goes_out_unrouted_and_says_why(stack: Stack, dispatch: MqttListener) -> None:
    import_stations(stack, SAMPLE)
    owner = {**DEMO_OWNER, "premises": [{"kind": "home", "address": "Jl. Belum Disurvei 1, Bandar Lampung"}]}
    device = ScriptedDevice(stack, new_device_id(), owner=owner)  # premises never surveyed, no fix
    try:
        device.send(device.alert_body())
        seen, before = publications(dispatch, f"{device.id}:1", topics=1)
        assert set(seen) == {"all"}
        _topic, record = seen["all"]
        assert record["location"]["source"] == "none"
        assert record["station"] is None and record["candidates"] == []
        unrouted = [e for e in before + events(dispatch, 2.0) if e["event"] == "unrouted"]
        assert [e["detail"] for e in unrouted] == [
            f"alert {device.id}:1 not routed to a station: the alert has no location (no GPS fix, "
            "premises not surveyed)"]
    finally:
        device.mqtt.close()


def test_the_unrouted_event_is_published_once_however_often_the_alert_is(stack: Stack,
                                                                          device: ScriptedDevice) -> None:
    consumer = listener(stack, receipts=False)  # no receipts: the alert is re-published every 0.5 s
    try:
        device.send(device.alert_body())
        arrived = consumer.drain(4.0)
        alerts = [json.loads(p) for t, p in arrived if t == "panic/v1/dispatch/alerts"]
        assert len(alerts) >= 3, "the alert should have been re-published while unreceipted"
        assert all(a["station"] is None for a in alerts)
        unrouted = [json.loads(p) for t, p in arrived if t == "panic/v1/dispatch/events"]
        assert [e["event"] for e in unrouted].count("unrouted") == 1
    finally:
        consumer.close()


def test_stations_imported_elsewhere_are_routed_on_within_the_check_interval(
        stack: Stack, dispatch: MqttListener, device: ScriptedDevice) -> None:
    device.send(device.alert_body())
    assert publications(dispatch, f"{device.id}:1", topics=1)[0]["all"][1]["station"] is None
    import_stations(stack, SAMPLE)  # by another process: this gateway learns of it at its next check
    time.sleep(CHECK_S + 0.5)
    device.send(device.alert_body())
    seen = routed_alert(dispatch, f"{device.id}:2")
    assert seen["station"][1]["station"]["id"] == "polresta-bandar-lampung"
