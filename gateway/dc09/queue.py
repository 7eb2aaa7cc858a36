"""Persistent per-receiver queue of DC-09 messages (SQLite, standard library).

TEMPORARY HOME: this table moves into the gateway's transactional outbox when
that lands; until then the forwarder keeps its own file so nothing queued is
lost across gateway restarts or receiver outages. One row per (receiver,
event); a receiver's rows go out in id order, one at a time. A row keeps the
sequence number of its first transmission, so retransmissions (even after a
restart) carry the same number and a receiver can spot a duplicate.

States: pending -> delivered (ACK), or pending -> parked (DUH: the receiver
cannot process it; kept for an operator, `requeue_parked` sends it again).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.dc09.message import SEQUENCE_MAX

SCHEMA = """
CREATE TABLE IF NOT EXISTS dc09_message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    source_key TEXT NOT NULL,
    account TEXT NOT NULL,
    data TEXT NOT NULL,
    extended TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked')),
    sequence INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    finished_at REAL,
    UNIQUE (receiver, source_key)
);
CREATE INDEX IF NOT EXISTS dc09_message_head ON dc09_message (receiver, state, id);
CREATE TABLE IF NOT EXISTS dc09_sequence (receiver TEXT PRIMARY KEY, next INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class NewMessage:
    receiver: str
    source_key: str  # the event's identity: submitting it again queues nothing
    account: str
    data: str
    extended: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    receiver: str
    source_key: str
    account: str
    data: str
    extended: tuple[str, ...]
    sequence: int | None
    attempts: int
    last_error: str | None


class Dc09Queue:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an ACK'd enqueue survives a power cut
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, sql: str, args: tuple[object, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def enqueue(self, messages: Iterable[NewMessage]) -> int:
        """Queue messages atomically; returns how many were new (a known source_key is skipped)."""
        rows = [
            (m.receiver, m.source_key, m.account, m.data, json.dumps(list(m.extended)), m.created_at) for m in messages
        ]
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO dc09_message (receiver, source_key, account, data, extended, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return db.total_changes - before

    def head(self, receiver: str) -> QueuedMessage | None:
        """The oldest pending message of a receiver."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, receiver, source_key, account, data, extended, sequence, attempts, last_error"
                " FROM dc09_message WHERE receiver = ? AND state = 'pending' ORDER BY id LIMIT 1",
                (receiver,),
            ).fetchone()
        if row is None:
            return None
        return QueuedMessage(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), *row[6:])

    def next_sequence(self, receiver: str) -> int:
        """The receiver's next sequence number, 0001 to 9999 and round again."""
        with self._transaction():
            return self._advance(receiver)

    def sequence_for(self, message: QueuedMessage) -> int:
        """The message's sequence number, given it on first transmission and kept for retransmissions."""
        if message.sequence is not None:
            return message.sequence
        with self._transaction() as db:
            sequence = self._advance(message.receiver)
            db.execute("UPDATE dc09_message SET sequence = ? WHERE id = ?", (sequence, message.id))
            return sequence

    def _advance(self, receiver: str) -> int:
        row = self._db.execute("SELECT next FROM dc09_sequence WHERE receiver = ?", (receiver,)).fetchone()
        sequence = row[0] if row else 1
        self._db.execute(
            "INSERT INTO dc09_sequence (receiver, next) VALUES (?, ?)"
            " ON CONFLICT (receiver) DO UPDATE SET next = excluded.next",
            (receiver, sequence % SEQUENCE_MAX + 1),
        )
        return int(sequence)

    def failed(self, message_id: int, error: str) -> None:
        self._write("UPDATE dc09_message SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, message_id))

    def delivered(self, message_id: int, at: float) -> None:
        self._write(
            "UPDATE dc09_message SET state = 'delivered', attempts = attempts + 1, finished_at = ? WHERE id = ?",
            (at, message_id),
        )

    def park(self, message_id: int, reason: str, at: float) -> None:
        self._write(
            "UPDATE dc09_message SET state = 'parked', attempts = attempts + 1, last_error = ?, finished_at = ?"
            " WHERE id = ?",
            (reason, at, message_id),
        )

    def requeue_parked(self, receiver: str) -> int:
        """Send parked messages again (they go first: their ids are the oldest)."""
        return self._write(
            "UPDATE dc09_message SET state = 'pending', finished_at = NULL WHERE receiver = ? AND state = 'parked'",
            (receiver,),
        )

    def counts(self, receiver: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT state, COUNT(*) FROM dc09_message WHERE receiver = ? GROUP BY state", (receiver,)
            ).fetchall()
        return {"pending": 0, "delivered": 0, "parked": 0} | {state: count for state, count in rows}

    def prune_delivered(self, before: float) -> int:
        """Forget delivered rows finished before `before` (their source_key could then be queued again)."""
        return self._write("DELETE FROM dc09_message WHERE state = 'delivered' AND finished_at < ?", (before,))
