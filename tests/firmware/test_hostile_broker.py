"""The real firmware against a broker that misbehaves (tests/firmware/hostile_broker.py).

One simulated button (the unmodified firmware under `micropython -X
heapsize=110K`, simulator/button.py) is pointed at the hostile broker for the
whole module. Each case makes the broker misbehave in one way while an SOS is
pressed, then lets it behave: the SOS must reach it, signed, and only the
gateway's properly signed ack may clear it from the outbox. The device must
never crash or reboot on the way.

The fuzz case runs `PANIC_FUZZ_ITERATIONS` connections of seeded nonsense
(default 20, a few seconds; raise it locally, e.g. 2000) with seed
`PANIC_FUZZ_SEED` (default 7; a failure prints the seed to rerun with).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.button import SimulatedButton
from tests.firmware.hostile_broker import (
    HostileBroker,
    Misbehaviour,
    byte_by_byte,
    connack,
    fuzz,
    packet,
    publish,
    refuse,
    reset_mid_packet,
    send_then_close,
    silent,
)
from tests.simulator.gateway import sign, verify

# Quick back-off and retransmission, so a case takes a second or two.
CONFIG: dict[str, Any] = {
    "hold_ms": 100, "reconnect_min_ms": 50, "reconnect_max_ms": 300, "retry_min_ms": 300, "retry_max_ms": 1000,
    "heartbeat_s": 30,
    "repeat_ms": 0, "cancel_window_s": 0,  # one device, many presses: each one an sos, raised at once
}


@dataclass(frozen=True)
class Device:
    id: str
    key: bytes
    password: str
    button: SimulatedButton
    broker: HostileBroker

    def topic(self, leaf: str) -> str:
        return f"panic/v1/dev/{self.id}/{leaf}"

    def ack(self, ref: int, key: bytes | None = None, dev: str | None = None) -> bytes:
        """The gateway's ack for alert `ref`, signed as protocol/README.md says."""
        body = {"v": 1, "dev": dev or self.id, "ref": ref, "state": "received", "ts": int(time.time())}
        return sign(key or self.key, self.topic("ack"), body)

    def press(self) -> tuple[int, int]:
        """Press SOS; (seq of the alert, log position before it)."""
        mark = self.button.mark()
        self.button.press(150)
        seq = int(self.button.wait_for_log(r"alert: raised seq=(\d+)", since=mark)[1])
        return seq, mark

    def expect_alert(self, seq: int, timeout: float = 30) -> None:
        """The alert arrives, signed with the device key; it stays in the outbox until acked."""
        msg = self.broker.expect("alert", timeout, where=lambda m: json.loads(m.payload)["seq"] == seq)
        body = verify(self.key, msg.topic, msg.payload)
        assert (body["type"], msg.qos) == ("sos", 1)
        assert [p.name for p in self.button.outbox()] == [f"{seq:016d}.c"]

    def confirm(self, seq: int, since: int) -> bytes:
        """Send the real ack; the outbox empties. Returns the ack's bytes."""
        ack = self.ack(seq)
        self.broker.send("ack", ack)
        self.button.wait_for_log(rf"ack: delivered seq={seq} ", timeout=15, since=since)
        assert self.button.outbox() == []
        return ack

    def sos_gets_through(self, seq: int, since: int) -> None:
        self.expect_alert(seq)
        self.confirm(seq, since)

    def wait_count(self, regex: str, n: int, since: int, timeout: float = 15) -> list[str]:
        """Wait for `n` log lines matching `regex` after `since`; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.button.lines[since:] if re.search(regex, line)]
            if len(found) >= n or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def log_since(self, mark: int) -> str:
        return "\n".join(self.button.lines[mark:])


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    device_id, key, password = "pb-" + secrets.token_hex(6), secrets.token_bytes(32), secrets.token_urlsafe(18)
    flash: Path = tmp_path_factory.mktemp("hostile") / "flash"
    with HostileBroker(device_id, password) as broker:
        SimulatedButton.provision(flash, device_id=device_id, device_key_hex=key.hex(), mqtt_password=password,
                                  broker_host="127.0.0.1", broker_port=broker.port, **CONFIG)
        button = SimulatedButton(flash, log_file=flash.parent / "button.log")
        button.start()
        try:
            dev = Device(device_id, key, password, button, broker)
            button.wait_for_indicator("idle", timeout=30)
            yield dev
            log = "\n".join(button.lines)
            assert key.hex() not in log and password not in log, "a secret was printed"
        finally:
            button.stop()
        assert broker.errors == [], broker.errors


@pytest.fixture
def healthy(device: Device) -> Iterator[Device]:
    """Each case starts on a live session with an empty outbox, and ends without a crash or reboot."""
    device.broker.wait_subscribed()
    assert device.button.outbox() == []
    mark = device.button.mark()
    reboots = device.button.reboots
    yield device
    assert device.button.reboots == reboots, "the device rebooted"
    crashed = re.search(r"task died|fatal|Traceback|MemoryError", device.log_since(mark))
    assert crashed is None, device.log_since(mark)
    device.broker.forget()


# --------------------------------------------------------------------------
# The connection itself


CONNECTION_CASES: dict[str, tuple[Misbehaviour, int, str]] = {
    # name: (misbehaviour, connections it lasts, a log line the device writes about it)
    "refused": (refuse(5), 2, r"link: refused code=5"),
    "refused_with_an_unknown_code": (refuse(0x42), 1, r"link: refused code=66"),
    "garbage_connack": (send_then_close(b"\x99\x7fgarbage" + bytes(range(120))), 2, r"connect failed"),
    "truncated_connack_closed": (send_then_close(connack()[:2]), 1, r"connect failed"),
    "truncated_connack_reset": (send_then_close(connack()[:3], how="reset"), 1, r"connect failed"),
    "silent_after_one_byte": (silent(connack()[:1]), 1, r"connect failed err=.* exc=OSError"),
    "reset_mid_packet": (reset_mid_packet(), 2, r"connection lost|connect failed"),
}


@pytest.mark.parametrize("name", CONNECTION_CASES)
def test_sos_gets_through_after_a_bad_connection(healthy: Device, name: str) -> None:
    act, connections, logged = CONNECTION_CASES[name]
    broker = healthy.broker
    start = broker.misbehaved
    broker.misbehave(act, connections)
    broker.drop()
    seq, mark = healthy.press()  # while the broker misbehaves
    broker.wait_misbehaved(start + connections)
    healthy.sos_gets_through(seq, mark)
    assert re.search(logged, healthy.log_since(mark)), healthy.log_since(mark)


def test_sos_gets_through_byte_by_byte(healthy: Device) -> None:
    """Every byte to the device in its own segment: CONNACK, SUBACKs, PUBACKs and the ack."""
    broker = healthy.broker
    broker.misbehave(byte_by_byte())
    broker.drop()
    seq, mark = healthy.press()
    healthy.sos_gets_through(seq, mark)
    broker.drop()  # the next case gets a connection at full speed


# --------------------------------------------------------------------------
# Messages the device cannot or will not take


def _messages(dev: Device, pid: int) -> dict[str, tuple[bytes, str, bool]]:
    # name: (packet, the reason the device logs, whether it is PUBACKed)
    own = dev.topic("cmd")
    return {
        "oversize_1mb": (publish(own, bytes(1 << 20), pid=pid), "discarded reason=too_big", True),
        "message_4k": (publish(own, bytes(range(256)) * 16, pid=pid), "discarded reason=too_big", True),
        "qos2": (publish(dev.topic("ack"), b"{}", qos=2, pid=pid), "discarded reason=qos2", False),
        "non_utf8_topic": (publish(own.encode()[:-3] + b"\xff\xfe", b"{}", pid=pid), "discarded reason=topic", True),
        "topic_64k": (publish(b"a" * 65535, b"{}", pid=pid), "discarded reason=too_big", True),
        "topic_of_another_device": (publish(f"panic/v1/dev/pb-{'0' * 12}/ack", b"{}", pid=pid),
                                    "discarded reason=topic", True),
        "topic_longer_than_the_packet": (packet(0x32, b"\xff\xf0" + bytes(10)), "discarded reason=malformed", False),
        "stray_packets": (packet(0x62, pid.to_bytes(2, "big")) + connack() + packet(0x40, bytes(3)),
                          "skipped packet type=0x62", False),
    }


MESSAGE_CASES = ["oversize_1mb", "message_4k", "qos2", "non_utf8_topic", "topic_64k", "topic_of_another_device",
                 "topic_longer_than_the_packet", "stray_packets"]


@pytest.mark.parametrize("name", MESSAGE_CASES)
def test_sos_gets_through_after_a_message_it_cannot_take(healthy: Device, name: str) -> None:
    """The message is read off the wire, PUBACKed if QoS 1, discarded with a log line, and the
    session goes on. The broker keeps it in the device's session as Mosquitto would (resent
    after every CONNACK until PUBACKed): before the fix, that wedged the device for good."""
    broker = healthy.broker
    pid = broker.new_pid()
    data, reason, acked = _messages(healthy, pid)[name]
    mark = healthy.button.mark()
    broker.inject(data, pid)
    if acked:
        broker.wait_acked(pid)
    broker.drop()  # a new session: whatever is still unacked comes first
    seq, since = healthy.press()
    healthy.sos_gets_through(seq, since)
    assert "mqtt: " + reason in healthy.log_since(mark)


# --------------------------------------------------------------------------
# Acks that must not clear the outbox


def test_forged_unknown_and_replayed_acks_leave_the_alert_in_the_outbox(healthy: Device) -> None:
    first, mark = healthy.press()
    healthy.expect_alert(first)
    old_ack = healthy.confirm(first, mark)

    seq, mark = healthy.press()
    healthy.expect_alert(seq)
    wrong_key = secrets.token_bytes(32)
    for payload in (
        healthy.ack(seq, key=wrong_key),  # forged
        healthy.ack(seq + 1000),  # unknown alert
        old_ack,  # replayed: a genuine ack, for the alert before
        healthy.ack(seq, dev=f"pb-{'0' * 12}"),  # another device's
        json.dumps({"v": 1, "dev": healthy.id, "ref": seq, "state": "received", "ts": 0}).encode(),  # unsigned
        b"\xff\x00 not even json",
    ):
        healthy.broker.send("ack", payload)
    verdicts = healthy.wait_count(r"W \d+ ack: rejected|ack: ignored|ack: state|ack: delivered", 6, since=mark)
    assert [re.sub(r"^\w \d+ ", "", v) for v in verdicts] == [
        "ack: rejected reason=bad_sig bad_sig=1",
        f"ack: ignored unknown ref={seq + 1000} state=received",
        f"ack: state seq={first} state=received",
        "ack: rejected reason=dev_mismatch bad_sig=1",
        "ack: rejected reason=no_sig bad_sig=1",
        "ack: rejected reason=no_sig bad_sig=1",
    ]
    assert [p.name for p in healthy.button.outbox()] == [f"{seq:016d}.c"]
    assert healthy.button.indicator == "sending"
    healthy.confirm(seq, mark)


def test_ack_queued_while_the_device_was_off_is_taken_after_a_reboot(healthy: Device) -> None:
    """Power cut with an alert pending; the gateway's ack waits in the device's session. At the
    next boot the broker delivers it right after the CONNACK, before the new session's SUBSCRIBE:
    the client must take it then (not discard it as a topic it has not subscribed to yet)."""
    seq, _ = healthy.press()
    healthy.expect_alert(seq)
    healthy.button.kill()
    healthy.broker.wait(lambda: not healthy.broker.connected, "the device's connection closed")
    healthy.broker.send("ack", healthy.ack(seq))  # nobody connected: kept for the session
    healthy.button.start()
    healthy.button.wait_for_log(rf"ack: delivered seq={seq} ", timeout=20)
    assert healthy.button.outbox() == []
    assert "mqtt: discarded" not in "\n".join(healthy.button.lines)


# --------------------------------------------------------------------------
# Fuzz


def test_fuzz(healthy: Device) -> None:
    iterations = int(os.environ.get("PANIC_FUZZ_ITERATIONS", "20"))
    seed = int(os.environ.get("PANIC_FUZZ_SEED", "7"))
    broker = healthy.broker
    start = broker.misbehaved
    before = healthy.button.memory()
    broker.misbehave(fuzz(random.Random(seed), [healthy.topic("ack"), healthy.topic("cmd")]), iterations)
    broker.drop()
    seq, mark = healthy.press()
    try:
        broker.wait_misbehaved(start + iterations, timeout=30 + iterations)
        healthy.sos_gets_through(seq, mark)
    except AssertionError as e:
        raise AssertionError(f"fuzz seed {seed}, {iterations} iterations: {e}") from e
    print(f"\nfuzz: seed={seed} connections={iterations} heap before={before} after={healthy.button.memory()}")

