"""Escalation timers as data: `alerts.escalate_at` (gateway/escalation.py decides, this commits).

An escalation is a compare-and-set on the alert row (still unanswered, at
the level seen, still due): with several instances on one database exactly
one wins each level, on SQLite and PostgreSQL alike; the loser changes
nothing. A restart loses nothing: the next due time is a column.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from gateway.lifecycle import UNANSWERED
from gateway.storage.base import StoreBase
from gateway.storage.models import Alert, AlertTransition
from gateway.storage.outbox import OutboxItem, Publication, stage


class EscalationStore(StoreBase):
    def due_escalations(self, now: datetime, limit: int = 100) -> list[tuple[str, int]]:
        """(alert id, level reached) of the alerts nobody acknowledged in time, the longest waiting first."""
        with self.sessions() as session:
            rows = session.execute(
                select(Alert.id, Alert.escalation_level)
                .where(Alert.escalate_at <= now, Alert.state.in_(UNANSWERED))
                .order_by(Alert.escalate_at).limit(limit)
            ).all()
        return [(row.id, row.escalation_level) for row in rows]

    def escalate(self, alert_id: str, record: dict[str, Any], now: datetime, next_at: datetime | None,
                 plan: Callable[[Alert], list[Publication]]) -> list[OutboxItem] | None:
        """Raise the alert to `record["level"]` from the level below, store `record` (the dispatch alert's
        `escalation`) and the transition, and stage what `plan` publishes, in one transaction.

        None: another instance escalated it, or someone acknowledged it, first.
        """
        level = int(record["level"])
        with self.sessions() as session:
            won = session.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.escalation_level == level - 1, Alert.state.in_(UNANSWERED),
                       Alert.escalate_at <= now)
                .values(escalation_level=level, escalation=record, escalate_at=next_at, rev=Alert.rev + 1,
                        updated_at=now)
                .returning(Alert.rev)
                .execution_options(synchronize_session=False)
            ).first()
            if won is None:
                session.rollback()
                return None
            alert = session.execute(select(Alert).where(Alert.id == alert_id)
                                    .execution_options(populate_existing=True)).scalar_one()
            session.add(AlertTransition(alert_id=alert_id, at=now, state=alert.state, by=None,
                                        note=str(record["reason"]), rev=won.rev, escalation=level))
            staged = stage(session, plan(alert), now, self.instance, self.lease_s)
            session.commit()
            return staged
