"""What the console page gets about an alert and an offline device: the dispatch record (the same
enrichment and routing as what dispatch receives) with what only the console needs beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gateway import enrich
from gateway.render import AlertRouting
from gateway.stations.model import Station
from gateway.storage.console import CLOSED_STATES, DeviceStatus, OfflineDevice
from gateway.storage.store import Store


def _moment(status: DeviceStatus | None, name: str) -> str | None:
    value = getattr(status, name) if status else None
    return enrich.rfc3339(value) if value else None


def device_status(status: DeviceStatus | None) -> dict[str, Any]:
    return {"online": status.online if status else None, "last_seen_at": _moment(status, "last_seen_at"),
            "online_changed_at": _moment(status, "online_changed_at")}


def _with_place(routed: dict[str, Any], station: Station | None) -> dict[str, Any]:
    """A routed station ({id, name, distance_m}) with what the map and the operator need: where, and phones."""
    if station is None:
        return routed
    return {**routed, "kind": station.kind, "lat": enrich.e7_to_degrees(station.lat_e7),
            "lon": enrich.e7_to_degrees(station.lon_e7), "phones": list(station.phones)}


def alert_records(store: Store, alert_ids: Sequence[str], routing: AlertRouting,
                  station_of: Callable[[str], Station | None]) -> list[dict[str, Any]]:
    """The console's view of these alerts, in the given order (alerts gone meanwhile are left out).
    `station_of`: a station by id, from the directory the alerts were routed with."""
    contexts = store.contexts(alert_ids)
    statuses = store.device_statuses({c.alert.device_id for c in contexts.values()})
    records = []
    for alert_id in alert_ids:
        ctx = contexts.get(alert_id)
        if ctx is None:
            continue
        record = enrich.dispatch_alert(ctx, route=routing.route, max_fix_age_s=routing.max_fix_age_s)
        del record["redelivery"]
        if record["station"] is not None:
            record["station"] = _with_place(record["station"], station_of(record["station"]["id"]))
        record["candidates"] = [_with_place(c, station_of(c["id"])) for c in record["candidates"]]
        alert = ctx.alert
        record.update(
            open=alert.state not in CLOSED_STATES, false_alarm=alert.false_alarm, acted_by=alert.acted_by,
            note=alert.note, updated_at=enrich.rfc3339(alert.updated_at),
            device_status=device_status(statuses.get(alert.device_id)),
        )
        records.append(record)
    return records


def offline_records(devices: Sequence[OfflineDevice]) -> list[dict[str, Any]]:
    return [{"device_id": d.status.device_id, "owner": d.owner_name, "phone": d.owner_phone, "address": d.address,
             **device_status(d.status)} for d in devices]
