"""panic/alerts.py under MicroPython: the alert body, and which acks are believed.

Acks are signed here with CPython's hmac (protocol/README.md), independently
of the firmware's signing code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEV = "pb-0123456789ab"
KEY = bytes(range(32))
ACK_TOPIC = f"panic/v1/dev/{DEV}/ack"
ALERT_TOPIC = f"panic/v1/dev/{DEV}/alert"

SCRIPT = f"""
import binascii
from panic.alerts import Alerts
from panic.outbox import Outbox
from panic.seq import SeqCounter
from panic.sign import Signer

class Clock:
    def utc(self):
        return 1700000000
class Wifi:
    def rssi(self):
        return -61
class Hardware:
    clock = Clock()
    wifi = Wifi()
    def battery(self):
        return 87
    def power(self):
        return "mains"

from panic import boot
changes = []
box = Outbox()
boot.entries(box, "panic/v1/dev/{DEV}/", Signer({KEY!r}).verify)
seq = SeqCounter()
boot.load_seq(seq, 0)
alerts = Alerts("{DEV}", Hardware(), seq, box, Signer({KEY!r}), lambda: None, changes.append)
for _ in range(2):
    s = alerts.raise_alert("sos")
    print("alert", s, binascii.hexlify(box.entries[-1].payload).decode())
with open("acks.txt") as f:
    for line in f:
        name, hexed = line.split()
        alerts.on_ack(binascii.unhexlify(hexed))
        print("after", name, ",".join(str(e.seq) for e in box.entries) or "-", alerts.latest_state,
              alerts.bad_sig, alerts.rejected)
"""


def signed(body: dict[str, Any], topic: str = ACK_TOPIC, key: bytes = KEY) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    sig = hmac.new(key, topic.encode() + b"\n" + raw, hashlib.sha256).hexdigest()
    return raw[:-1] + b',"sig":"' + sig.encode() + b'"}'


def ack(ref: int, state: str = "received", **extra: Any) -> dict[str, Any]:
    return {"v": 1, "dev": DEV, "ref": ref, "state": state, "ts": 1700000005, **extra}


ACKS: list[tuple[str, bytes]] = [
    ("forged_other_key", signed(ack(1), key=b"\x01" * 32)),
    ("forged_other_topic", signed(ack(1), topic="panic/v1/dev/pb-ffffffffffff/ack")),
    ("unsigned", json.dumps(ack(1)).encode()),
    ("other_device", signed(ack(1) | {"dev": "pb-ffffffffffff"})),
    ("unknown_state", signed(ack(1, "lost"))),
    ("sig_inside_signed", signed(ack(1, sig="00" * 32))),
    ("ref_not_int", signed(ack(1) | {"ref": "1"})),
    ("unknown_ref", signed(ack(99))),
    ("received_1", signed(ack(1))),
    ("received_1_again", signed(ack(1))),
    ("acknowledged_2_first", signed(ack(2, "acknowledged"))),
    ("dispatched_2", signed(ack(2, "dispatched"))),
    ("on_scene_2", signed(ack(2, "on_scene"))),
    ("false_alarm_2", signed(ack(2, "false_alarm"))),
]


def test_alert_body_and_ack_handling(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "acks.txt").write_text("".join(f"{name} {payload.hex()}\n" for name, payload in ACKS))
    out = run_micropython(SCRIPT, cwd=tmp_path).stdout

    alerts = [line.split() for line in out.splitlines() if line.startswith("alert ")]
    assert [int(a[1]) for a in alerts] == [1, 2]
    payload = bytes.fromhex(alerts[0][2])
    body = payload[:-74] + b"}"
    assert payload[-74:-66] == b',"sig":"'
    assert payload[-66:-2].decode() == hmac.new(KEY, ALERT_TOPIC.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    fields = json.loads(payload)
    up = fields.pop("up")
    assert isinstance(up, int) and up >= 0
    assert fields == {
        "v": 1, "dev": DEV, "seq": 1, "type": "sos", "ts": 1700000000, "loc": None, "bat": 87,
        "pwr": "mains", "net": "wifi", "rssi": -61, "sig": payload[-66:-2].decode(),
    }
    assert list(fields)[-1] == "sig"

    after = {parts[1]: parts[2:] for parts in (line.split() for line in out.splitlines() if line.startswith("after "))}
    # outbox entries, newest state, bad signatures, rejections
    assert after == {
        "forged_other_key": ["1,2", "None", "1", "1"],
        "forged_other_topic": ["1,2", "None", "2", "2"],
        "unsigned": ["1,2", "None", "2", "3"],
        "other_device": ["1,2", "None", "2", "4"],
        "unknown_state": ["1,2", "None", "2", "5"],
        "sig_inside_signed": ["1,2", "None", "2", "6"],
        "ref_not_int": ["1,2", "None", "2", "7"],
        "unknown_ref": ["1,2", "None", "2", "7"],  # ignored and logged, not a rejection
        "received_1": ["2", "received", "2", "7"],
        "received_1_again": ["2", "received", "2", "7"],
        "acknowledged_2_first": ["-", "acknowledged", "2", "7"],  # any state means the gateway has it
        "dispatched_2": ["-", "dispatched", "2", "7"],
        "on_scene_2": ["-", "on_scene", "2", "7"],  # the lifecycle's states (device-ack.json)
        "false_alarm_2": ["-", "false_alarm", "2", "7"],
    }, out
    assert "W " in out and "ack: rejected reason=bad_sig" in out
    assert "ack: rejected reason=no_sig" in out and "ack: rejected reason=dev_mismatch" in out
    assert "ack: ignored unknown ref=99" in out
    assert not list((tmp_path / "outbox").iterdir())
