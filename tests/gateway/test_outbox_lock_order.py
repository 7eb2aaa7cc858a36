"""Publisher and receipts lock an alert before its outbox rows, so the two never deadlock (PostgreSQL).

The publisher's confirmation marks the alert published, then updates its
outbox rows; a receipt arriving meanwhile used to delete the outbox row first,
then update the alert: the opposite order, a deadlock PostgreSQL detects only
after `deadlock_timeout` (1 s), with the publication failed and retried.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from gateway.storage.db import migrate
from tests.gateway.harness import register
from tests.gateway.test_outbox import DEVICE, commit_alert, make_store


def test_a_receipt_waits_for_the_alert_before_touching_its_outbox_row(postgres_url: str) -> None:
    migrate(postgres_url)
    store = make_store(postgres_url, "gw-1")
    register(store, DEVICE, "11" * 32)
    row = next(i.id for i in commit_alert(store, 1) if i.kind == "dispatch_alert")
    engine = create_engine(postgres_url)
    closed: list[int] = []
    with engine.connect() as confirming, engine.connect() as probe:
        # What the publisher's confirmation holds after its first statement: the alert's row.
        confirming.execute(text("SELECT id FROM alerts WHERE id = :a FOR UPDATE"), {"a": f"{DEVICE}:1"})
        receipt = threading.Thread(target=lambda: closed.append(store.receipt(f"{DEVICE}:1", 1)))
        receipt.start()
        deadline = time.monotonic() + 10
        while not probe.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one():
            assert time.monotonic() < deadline, "the receipt never waited for the alert"
            time.sleep(0.01)
        probe.rollback()
        try:  # the confirmation's next step: the alert's outbox row must still be free
            probe.execute(text("SELECT id FROM outbox WHERE id = :r FOR UPDATE NOWAIT"), {"r": row})
            free = True
        except OperationalError:
            free = False
        probe.rollback()
        confirming.rollback()
        receipt.join(10)
    engine.dispose()
    assert free, "the receipt locked the outbox row while waiting for the alert: a deadlock with confirm()"
    assert closed == [1]
