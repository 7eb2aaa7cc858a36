"""The forwarder's persistent queue (moves into the gateway's outbox later)."""

from __future__ import annotations

from pathlib import Path

from gateway.dc09.queue import Dc09Queue, NewMessage


def new(receiver: str, key: str) -> NewMessage:
    return NewMessage(receiver, key, "123456", "#123456|1120 01 001", ("X1.0000000", "Y2.0000000"), 0.0)


def test_sequence_numbers_run_0001_to_9999_per_receiver_and_wrap(tmp_path: Path) -> None:
    queue = Dc09Queue(tmp_path / "q.sqlite3")
    assert [queue.next_sequence("a") for _ in range(3)] == [1, 2, 3]
    assert queue.next_sequence("b") == 1
    for _ in range(9995):
        queue.next_sequence("a")
    assert [queue.next_sequence("a") for _ in range(3)] == [9999, 1, 2]


def test_a_message_keeps_its_sequence_number_and_the_queue_survives_a_reopen(tmp_path: Path) -> None:
    queue = Dc09Queue(tmp_path / "q.sqlite3")
    assert queue.enqueue([new("a", "e1"), new("a", "e2"), new("b", "e1")]) == 3
    assert queue.enqueue([new("a", "e1")]) == 0  # same event again: nothing new
    head = queue.head("a")
    assert head is not None and head.source_key == "e1" and head.extended == ("X1.0000000", "Y2.0000000")
    assert queue.sequence_for(head) == 1
    queue.failed(head.id, "no answer")
    queue.close()

    reopened = Dc09Queue(tmp_path / "q.sqlite3")
    again = reopened.head("a")
    assert again is not None and (again.id, again.sequence, again.attempts, again.last_error) == (
        head.id,
        1,
        1,
        "no answer",
    )
    assert reopened.sequence_for(again) == 1  # a retransmission carries the same number
    reopened.delivered(again.id, 1.0)
    following = reopened.head("a")
    assert following is not None and following.source_key == "e2" and reopened.sequence_for(following) == 2
    reopened.park(following.id, "DUH", 2.0)
    assert reopened.head("a") is None
    assert reopened.counts("a") == {"pending": 0, "delivered": 1, "parked": 1}
    assert reopened.counts("b") == {"pending": 1, "delivered": 0, "parked": 0}
    assert reopened.prune_delivered(before=1.5) == 1
    reopened.close()
