"""Reporting an unrouted dispatch alert once: the event is staged with a mark on the alert's outbox row.

The publisher routes a dispatch alert when it renders it, possibly several
times (redeliveries, other instances). The `unrouted` event must go out once
per alert: it is staged in the transaction that marks the alert's first
revision row (`body`, otherwise unused on dispatch alert rows, becomes
{"unrouted_reported": true}); a row already marked stages nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.storage.base import StoreBase
from gateway.storage.models import OutboxEntry
from gateway.storage.outbox import OutboxItem, Publication, stage

MARK = "unrouted_reported"


def stage_once(store: StoreBase, row_id: int, publications: Sequence[Publication], now: datetime) -> list[OutboxItem]:
    """Stage `publications` unless dispatch alert row `row_id` is gone or already marked; mark it."""
    with store.sessions() as session:
        row = session.get(OutboxEntry, row_id, with_for_update=True)
        if row is None or row.kind != "dispatch_alert" or (row.body or {}).get(MARK):
            return []
        row.body = {MARK: True}
        items = stage(session, publications, now, store.instance, store.lease_s)
        session.commit()
    return items
