"""Escalation: an emergency alert nobody acknowledged in time goes wider (docs/operations.md, "Escalation settings").

    every escalate_check_s: alerts police have not answered (`new`, `cancel_requested`) whose `escalate_at` has passed
      → route the alert as it is now (its station, candidates, the station's parents)
      → level n: candidate n and the n-th station up the tree (gateway/lifecycle.py)
      → one compare-and-set: level, `escalation`, rev + 1, the next due time (or none at the top),
        the transition and the publications (the revision, the people to notify) in one transaction
      → hand the staged rows to the publisher

Timers are data (`alerts.escalate_at`), not threads: a restarted gateway
carries on where it stopped, and with several instances each level is
escalated by exactly one (the compare-and-set). An acknowledgement clears
the timer. The dispatch alert names the stations escalated to so far in its
`escalation` and is published on each of their topics (gateway/render.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gateway import enrich, lifecycle, pipeline
from gateway.metrics import Metrics
from gateway.periodic import Periodic
from gateway.settings import Settings
from gateway.stations.alerts import route_alert
from gateway.stations.directory import StationDirectory
from gateway.storage.common import utcnow
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Store

log = logging.getLogger("gateway.escalation")


class Escalator:
    def __init__(self, settings: Settings, store: Store, stations: StationDirectory, metrics: Metrics,
                 submit: Callable[[list[OutboxItem]], None]) -> None:
        self.settings = settings
        self.store = store
        self.stations = stations
        self.metrics = metrics
        self.submit = submit
        # Storage trouble in a round: the timers are in the table and still due at the next.
        self.loop = Periodic("gateway-escalation", settings.escalate_check_s, lambda: self.run_due(utcnow()) > 0,
                             metrics, "escalation_errors_total", log)
        self.start, self.stop = self.loop.start, self.loop.stop

    def run_due(self, now: datetime) -> int:
        """Escalate every alert due at `now`; returns how many this instance escalated."""
        done = 0
        for alert_id, level in self.store.due_escalations(now):
            if self._escalate(alert_id, level + 1, now):
                done += 1
        return done

    def _escalate(self, alert_id: str, level: int, now: datetime) -> bool:
        context = self.store.contexts([alert_id]).get(alert_id)
        if context is None:
            return False  # its device is gone
        alert = context.alert
        where = enrich.alert_location(context, self.settings.location_fix_max_age_s)
        routing = route_alert(self.stations, where, self.settings.dispatch_candidates)
        chain = ([s.id for s in self.stations.router().parents(routing.station.station.id)]
                 if routing.station else [])
        step = lifecycle.escalation_step(level, [c.station.id for c in routing.candidates], chain,
                                         self.settings.escalate_max_level)
        earlier: list[str] = list((alert.escalation or {}).get("stations", []))
        after = self.settings.escalate_after_s
        record: dict[str, Any] = {
            "level": level,
            "reason": f"not acknowledged within {after:g} s" + (" of the last escalation" if level > 1 else ""),
            "stations": list(dict.fromkeys(earlier + list(step.stations))),
            "at": enrich.rfc3339(now),
        }
        staged = self.store.escalate(alert_id, record, now, now + timedelta(seconds=after) if step.more else None,
                                     lambda escalated: pipeline.for_escalation(escalated, level, step.stations))
        if staged is None:
            return False  # another instance was first, or someone acknowledged it meanwhile
        self.submit(staged)
        self.metrics.inc("escalations_total", level=str(level))
        log.warning("alert %s escalated to level %d: %s%s", alert_id, level,
                    ", ".join(step.stations) or "no further station (all-alerts topic)",
                    "" if step.more else " (top level)")
        return True
