"""The forwarder against pysiaalarm, a real and independent DC-09 receiver in its own process."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.run import stop_process
from gateway.dc09 import Dc09Event, Dc09Forwarder, ReceiverConfig, contact_id_for
from gateway.dc09.account import AccountScheme
from tests.gateway.dc09.harness import KEY_HEX, PYSIA_KEY, ROOT, PysiaReceiver, receiver_config, wait_until

DEVICE = "pb-3c71bf4a9e10"
ACCOUNT = AccountScheme().account_for(DEVICE)
GATEWAY_ACCOUNT = AccountScheme().gateway_account

# (type, restore) -> (Contact ID code, qualifier, zone/user, pysiaalarm's SIA code for it)
EVENTS = [
    ("sos", False, "120", "1", "001", "PA"),
    ("silent_sos", False, "122", "1", "001", "HA"),
    ("cancel", False, "406", "1", "001", "OC"),
    ("test", False, "601", "1", "000", "RX"),
    ("tamper", False, "137", "1", "001", "TA"),
    ("tamper", True, "137", "3", "001", "TR"),
    ("power_lost", False, "301", "1", "000", "AT"),
    ("power_lost", True, "301", "3", "000", "AR"),
    ("battery_low", False, "302", "1", "000", "YT"),
    ("battery_low", True, "302", "3", "000", "YR"),
]


def event(n: int, alert_type: str = "sos", restore: bool = False, device: str = DEVICE) -> Dc09Event:
    return Dc09Event(f"alert:{device}:{n}", device, contact_id_for(alert_type, restore))


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_every_type_arrives_with_its_code_and_account(
    receivers: Callable[..., PysiaReceiver],
    forwarders: Callable[..., Dc09Forwarder],
    protocol: str,
    encrypted: bool,
) -> None:
    receiver = receivers([ACCOUNT], protocol=protocol, key=PYSIA_KEY if encrypted else None)
    forwarder = forwarders([receiver_config(receiver, key=KEY_HEX if encrypted else None)])
    for n, (alert_type, restore, *_) in enumerate(EVENTS, start=1):
        assert forwarder.submit(event(n, alert_type, restore)) == 1

    got = receiver.take(len(EVENTS))
    assert [(e["event_type"], e["qualifier"], e["ri"], e["code"]) for e in got] == [
        (code, qualifier, zone, sia) for _, _, code, qualifier, zone, sia in EVENTS
    ]
    assert {(e["account"], e["partition"], e["encrypted"], e["receiver"], e["line"]) for e in got} == {
        (ACCOUNT, "01", encrypted, "R1", "L1")
    }
    assert [int(e["sequence"]) for e in got] == list(range(1, len(EVENTS) + 1))


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_receiver_down_then_back_gets_everything_in_order_once(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder], protocol: str
) -> None:
    receiver = receivers([ACCOUNT], protocol=protocol)
    forwarder = forwarders([receiver_config(receiver)])
    forwarder.submit(event(1))
    assert [e["sequence"] for e in receiver.take(1)] == ["0001"]

    receiver.kill()
    for n in range(2, 8):
        forwarder.submit(event(n, "silent_sos" if n % 2 else "sos"))
    wait_until(lambda: forwarder.metrics.get("dc09_retry_total", receiver="arc") >= 3)
    assert forwarder.queue.counts("arc")["pending"] == 6
    receiver.start()  # same port

    got = receiver.take(6)
    assert [e["event_type"] for e in got] == ["122" if n % 2 else "120" for n in range(2, 8)]
    assert [e["sequence"] for e in got] == [f"{n:04d}" for n in range(2, 8)]
    assert receiver.quiet(1.0) == []
    assert forwarder.queue.counts("arc") == {"pending": 0, "parked": 0}  # settled during quiet()
    assert forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 7


def test_nothing_lost_across_a_gateway_restart_while_the_receiver_is_down(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder]
) -> None:
    receiver = receivers([ACCOUNT])
    receiver.kill()
    config = receiver_config(receiver)
    first = forwarders([config])
    for n in range(1, 5):
        first.submit(event(n))
    wait_until(lambda: first.metrics.get("dc09_retry_total", receiver="arc") >= 1)
    first.stop()

    receiver.start()
    second = forwarders([config])  # same database: the gateway restarted
    assert second.submit(event(2)) == 0  # the same event submitted again while pending is not queued twice
    got = receiver.take(4)
    assert [e["sequence"] for e in got] == ["0001", "0002", "0003", "0004"]
    assert receiver.quiet(1.0) == []


@pytest.mark.parametrize("skew_s", [-600, 600])
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_nak_for_time_resyncs_the_clock_and_delivers(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder], skew_s: int, encrypted: bool
) -> None:
    receiver = receivers([ACCOUNT], key=PYSIA_KEY if encrypted else None)
    forwarder = forwarders(
        [receiver_config(receiver, key=KEY_HEX if encrypted else None)], clock=lambda: time.time() + skew_s
    )
    forwarder.submit(event(1, "silent_sos"))

    got = receiver.take(1)
    assert (got[0]["event_type"], got[0]["account"]) == ("122", ACCOUNT)
    wait_until(lambda: forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 1)  # reported after ACK
    status, _ = forwarder.status()["arc"]
    assert abs(status.clock_offset_s + skew_s) <= 2
    assert forwarder.metrics.get("dc09_nak_total", receiver="arc") == 1
    assert forwarder.metrics.get("dc09_resync_total", receiver="arc") == 1
    # later messages carry the corrected time at once
    forwarder.submit(event(2))
    assert [e["event_type"] for e in receiver.take(1)] == ["120"]
    assert forwarder.metrics.get("dc09_nak_total", receiver="arc") == 1


def test_wrong_key_is_a_clear_error_and_the_queue_is_kept(
    receivers: Callable[..., PysiaReceiver],
    forwarders: Callable[..., Dc09Forwarder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = receivers([ACCOUNT, GATEWAY_ACCOUNT], key=PYSIA_KEY)
    wrong = "A5" * 16
    forwarder = forwarders([receiver_config(receiver, key=wrong)])
    forwarder.submit(event(1))
    forwarder.submit(event(2, "tamper"))

    wait_until(lambda: forwarder.metrics.get("dc09_nak_total", receiver="arc") >= 6)  # link-test probes included
    status, counts = forwarder.status()["arc"]
    assert status.last_error is not None and "AES key" in status.last_error
    assert counts == {"pending": 2, "parked": 0}
    assert receiver.quiet(0.5) == []
    assert "AES key" in caplog.text
    assert wrong not in caplog.text and wrong.lower() not in caplog.text
    forwarder.stop()

    fixed = forwarders([receiver_config(receiver, key=KEY_HEX)])
    assert [e["event_type"] for e in receiver.take(2)] == ["120", "137"]
    wait_until(lambda: fixed.metrics.get("dc09_delivered_total", receiver="arc") == 2)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_link_test_null_messages_from_the_gateway_account(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder], encrypted: bool
) -> None:
    receiver = receivers([GATEWAY_ACCOUNT], key=PYSIA_KEY if encrypted else None)
    forwarder = forwarders([receiver_config(receiver, link_test_s=0.2, key=KEY_HEX if encrypted else None)])
    tests = receiver.take(2, kind="NULL")
    assert {(e["account"], e["encrypted"], e["code"]) for e in tests} == {(GATEWAY_ACCOUNT, encrypted, "RP")}
    wait_until(lambda: forwarder.metrics.get("dc09_link_test_total", receiver="arc") >= 2)
    assert forwarder.status()["arc"][0].link_up is True


class GatewayProcess:
    """tests/gateway/dc09/forwarder_process.py: a forwarder that can be SIGKILLed."""

    def __init__(self, gateway_db: str, config: ReceiverConfig) -> None:
        receivers = json.dumps([config.model_dump(mode="json")])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.dc09.forwarder_process", gateway_db, receivers],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def submit(self, n: int, alert_type: str = "sos") -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{n} {alert_type}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == f"QUEUED {n}\n"

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)


def test_nothing_lost_when_the_gateway_is_killed_while_the_receiver_is_down(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder], gateway_db: str
) -> None:
    receiver = receivers([ACCOUNT])
    receiver.kill()
    config = receiver_config(receiver)
    gateway = GatewayProcess(gateway_db, config)
    for n in range(1, 5):
        gateway.submit(n, "silent_sos" if n == 3 else "sos")
    gateway.kill()

    receiver.start()
    forwarders([config])  # the restarted gateway, same database
    got = receiver.take(4)
    assert [(e["sequence"], e["event_type"]) for e in got] == [
        ("0001", "120"),
        ("0002", "120"),
        ("0003", "122"),
        ("0004", "120"),
    ]
    assert receiver.quiet(1.0) == []


def test_gateway_killed_mid_stream_resumes_in_order(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder], gateway_db: str
) -> None:
    receiver = receivers([ACCOUNT])
    config = receiver_config(receiver)
    gateway = GatewayProcess(gateway_db, config)
    count = 200
    for n in range(1, count + 1):
        gateway.submit(n)
    gateway.kill()  # while it sends: submitting outruns one-at-a-time delivery

    restarted = forwarders([config])
    left = restarted.queue.counts("arc")["pending"]
    assert left > 0, left
    wait_until(lambda: restarted.queue.counts("arc")["pending"] == 0)
    seen = [int(e["sequence"]) for e in receiver.quiet(1.0)]
    # in order; the one message in flight at the kill may come twice, with the same sequence number
    assert sorted(set(seen)) == list(range(1, count + 1)) and seen == sorted(seen)
    assert len(seen) - len(set(seen)) <= 1


def test_a_locked_queue_database_does_not_kill_the_sender(
    receivers: Callable[..., PysiaReceiver], forwarders: Callable[..., Dc09Forwarder], tmp_path: Path
) -> None:
    receiver = receivers([ACCOUNT, GATEWAY_ACCOUNT])
    forwarder = forwarders([receiver_config(receiver, link_test_s=0.1, retry_max_s=0.2)])
    receiver.take(1, kind="NULL")
    other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the next link test's sequence number fails
    wait_until(lambda: (forwarder.status()["arc"][0].last_error or "").startswith("internal error"), timeout_s=30)
    other.execute("ROLLBACK")
    other.close()

    forwarder.submit(event(1))
    assert [e["event_type"] for e in receiver.take(1)] == ["120"]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_an_account_the_receiver_does_not_know_is_parked_and_the_others_go_through(
    receivers: Callable[..., PysiaReceiver],
    forwarders: Callable[..., Dc09Forwarder],
    caplog: pytest.LogCaptureFixture,
    encrypted: bool,
) -> None:
    stranger = "pb-0000000000ff"
    receiver = receivers([ACCOUNT, GATEWAY_ACCOUNT], key=PYSIA_KEY if encrypted else None)
    forwarder = forwarders([receiver_config(receiver, key=KEY_HEX if encrypted else None)])
    forwarder.submit(event(1, device=stranger))
    forwarder.submit(event(2, "silent_sos"))

    assert [(e["account"], e["event_type"]) for e in receiver.take(1)] == [(ACCOUNT, "122")]
    wait_until(lambda: forwarder.queue.counts("arc") == {"pending": 0, "parked": 1})
    # the sender counts a delivery just after committing it: wait for the count, then hold it exact
    wait_until(lambda: forwarder.metrics.get("dc09_delivered_total", receiver="arc") >= 1)
    assert forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 1
    assert f"refuses account {AccountScheme().account_for(stranger)}" in caplog.text
