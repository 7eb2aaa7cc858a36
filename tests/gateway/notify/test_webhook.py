"""Webhook notifications against a real HTTP server on this machine that fails the first attempts.

Retries are data (the row's due time and back-off), so the test drives the worker at chosen moments.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.notify.channels import WebhookNotifier
from gateway.notify.worker import NotifyWorker
from gateway.storage.notifications import stage
from tests.gateway.lifecycle_harness import World, make_world

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Receiver(ThreadingHTTPServer):
    """Answers 503 to the first `failures` POSTs on /hook, 410 on /gone; records every request."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # path, content type, body
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers["Content-Type"], body))
        if self.path.startswith("/gone"):
            status = 410
        elif self.server.failures > 0:
            self.server.failures -= 1
            status = 503
        else:
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def worker(world: World, urls: list[str]) -> NotifyWorker:
    return NotifyWorker(world.settings, world.store, world.stations, world.metrics,
                        [WebhookNotifier(urls, timeout_s=5)])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_webhook_that_fails_at_first_gets_the_message_once_after_back_off(database_url: str,
                                                                              receiver: Receiver) -> None:
    port = receiver.server_address[1]
    hook, gone = f"http://127.0.0.1:{port}/hook?token=s3cret-hook", f"http://127.0.0.1:{port}/gone"
    world = make_world(database_url, notify_retry_s=5, notify_retry_max_s=60)
    alert_id = world.press(T0)
    notifier = worker(world, [hook, gone])

    assert notifier.run_once(T0) == 3  # the event, and its two messages
    assert [r[0] for r in receiver.requests] == ["/hook?token=s3cret-hook", "/gone"]
    assert notifier.run_once(at(4.9)) == 0, "the back-off is 5 s"
    assert notifier.run_once(at(5)) == 1  # the second attempt, answered 503 again
    assert notifier.run_once(at(14.9)) == 0, "then 10 s"
    assert notifier.run_once(at(15)) == 1
    assert notifier.run_once(at(1000)) == 0, "delivered: nothing more to send"
    hooks = [r for r in receiver.requests if r[0].startswith("/hook")]
    assert len(hooks) == 3 and all(r == hooks[0] for r in hooks), "the same document every attempt"
    _path, content_type, document = hooks[0]
    assert content_type == "application/json"
    assert (document["alert_id"], document["event"], document["type"]) == (alert_id, "new", "sos")
    assert document["text"]["en"].startswith("EMERGENCY SOS: ")
    assert document["text"]["id"].startswith("DARURAT SOS: ")

    log = {n.recipient: n for n in world.store.notification_log(alert_id)}
    assert len(log) == 2
    delivered, refused = sorted(log.values(), key=lambda n: n.state, reverse=True)
    assert (delivered.state, delivered.attempts, delivered.sent_at) == ("sent", 3, at(15))
    # a 4xx answer will not get better: given up at once, and said why (without the URL: it holds a token)
    assert (refused.state, refused.attempts) == ("failed", 1)
    assert refused.last_error is not None and refused.last_error.endswith("answered HTTP 410")
    assert "s3cret" not in repr(world.store.notification_log(alert_id))

    # a restart, and the same event staged again (a crash before its expansion was committed): no duplicate
    with world.store.sessions() as session:
        stage(session, [(alert_id, {"event": "new"})], at(2000))
        session.commit()
    again = make_world(database_url, import_sample=False)
    assert worker(again, [hook, gone]).run_once(at(2000)) == 1  # the event only
    assert len(receiver.requests) == 4 and len(again.store.notification_log(alert_id)) == 2


def test_a_webhook_given_up_after_the_attempts_allowed(database_url: str, receiver: Receiver) -> None:
    receiver.failures = 100
    world = make_world(database_url, notify_retry_s=1, notify_retry_max_s=2, notify_max_attempts=3)
    alert_id = world.press(T0)
    notifier = worker(world, [f"http://127.0.0.1:{receiver.server_address[1]}/hook"])
    for moment in (0, 1, 3, 100):
        notifier.run_once(at(moment))
    [entry] = world.store.notification_log(alert_id)
    assert (entry.state, entry.attempts, entry.last_error) == ("failed", 3, f"{entry.recipient} answered HTTP 503")
    assert len(receiver.requests) == 3
    assert world.metrics.get("notify_failures_total", channel="webhook") == 3


def test_an_unreachable_webhook_is_retried(database_url: str) -> None:
    world = make_world(database_url, notify_retry_s=1)
    alert_id = world.press(T0)
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    worker(world, [f"http://127.0.0.1:{port}/hook"]).run_once(T0)
    [entry] = world.store.notification_log(alert_id)
    assert (entry.state, entry.attempts) == ("pending", 1)
    assert entry.last_error == f"{entry.recipient} unreachable: ConnectionRefusedError"
