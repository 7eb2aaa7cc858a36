"""Leases on due rows: how the outbox and the notifier take work without two instances taking the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.orm import Session, sessionmaker


def claim_rows(session: Session, model: Any, due: ColumnElement[bool], limit: int,
               columns: Sequence[Any], **values: Any) -> Sequence[Row[Any]]:
    """Take up to `limit` due rows of `model` (oldest id first) by setting `values` (a lease:
    `due_at` moved ahead), in the caller's transaction; `columns` of the rows taken.

    FOR UPDATE SKIP LOCKED on PostgreSQL, one atomic UPDATE on SQLite: two instances never take the same row.
    """
    chosen = select(model.id).where(due).order_by(model.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    return session.execute(
        update(model).where(model.id.in_(chosen.scalar_subquery()), due).values(**values)
        .returning(*columns).execution_options(synchronize_session=False)
    ).all()


def settle(sessions: sessionmaker[Session], model: Any, row_id: int, column: str, *, sent_at: datetime | None = None,
           error: str | None = None, retry_at: datetime | None = None) -> None:
    """A claimed message's outcome, in a transaction of its own: sent (`sent_at`), or after a failure (`error`)
    due again at `retry_at`, or given up when there is none. `column`: the model's pending/sent/failed one."""
    if error is None:
        values: dict[str, Any] = {column: "sent", "sent_at": sent_at, "last_error": None}
    elif retry_at is None:
        values = {column: "failed", "last_error": error[:500]}
    else:
        values = {"due_at": retry_at, "last_error": error[:500]}
    with sessions() as session:
        session.execute(update(model).where(model.id == row_id).values(**values))
        session.commit()
