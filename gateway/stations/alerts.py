"""Routing an enriched alert: its `location` (gateway.enrich) to the `station` and `candidates` fields.

What enrichment calls for every alert (docs/stations.md, "Wiring"):

    routing = route_alert(directory, record["location"])
    record.update(routing.dispatch_fields())   # station, candidates
    if routing.basis == "unrouted": ...         # no station data or no location: say so (an event)
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.stations.coords import float_degrees_e7
from gateway.stations.directory import StationDirectory
from gateway.stations.router import DEFAULT_CANDIDATES, UNROUTED, Routing


def route_alert(directory: StationDirectory, location: Mapping[str, object],
                n: int = DEFAULT_CANDIDATES) -> Routing:
    """The routing for an alert's location ({"lat", "lon", ...}, floats or None); unrouted without one."""
    lat, lon = location.get("lat"), location.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return UNROUTED
    return directory.route(float_degrees_e7(lat, "lat"), float_degrees_e7(lon, "lon"), n)
