"""panic/outbox.py under MicroPython: atomic entries that survive reboots, bounded, never losing an alert.

Each "boot" is a new MicroPython process on the same flash directory. The
full-flash case runs on LittleFS (the ESP32's filesystem) in a RAM block
device, so ENOSPC comes from the real filesystem.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import FIRMWARE

HELPERS = Path(__file__).resolve().parents[1] / "simulator" / "mpy_helpers"
DEV = "pb-0123456789ab"
TOPIC = f"panic/v1/dev/{DEV}/alert"
PREFIX = f"panic/v1/dev/{DEV}/"
KEY = bytes(range(32))

SETUP = f"""
from panic import boot
from panic.outbox import Outbox
from panic.sign import Signer
TOPIC = {TOPIC!r}
SIGNER = Signer({KEY!r})
def load(box, prefix):
    \"\"\"What the app does at boot; returns the number of damaged files.\"\"\"
    return boot.entries(box, prefix, SIGNER.verify)
def payload(seq):
    return SIGNER.sign(TOPIC, ('{{"v":1,"dev":"{DEV}","seq":%d,"type":"sos"}}' % seq).encode())
def show(box):
    print("entries", " ".join("%d%s%s" % (e.seq, "c" if e.critical else "n", "" if e.persisted else "*")
                              for e in box.entries))
    print("fault", int(box.fault))
"""


def signed(body: bytes, topic: str = TOPIC, key: bytes = KEY) -> bytes:
    """protocol/README.md's signature, computed with CPython's hmac (not the firmware's code)."""
    sig = hmac.new(key, topic.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return body[:-1] + f',"sig":"{sig}"}}'.encode()


def payload(seq: int) -> bytes:
    return signed(f'{{"v":1,"dev":"{DEV}","seq":{seq},"type":"sos"}}'.encode())


def name(seq: int, kind: str = "c") -> str:
    return f"{seq:016d}.{kind}"


def lines_starting(out: str, prefix: str) -> list[str]:
    return [line[len(prefix):].strip() for line in out.splitlines() if line.startswith(prefix)]


def files(flash: Path) -> list[str]:
    return sorted(p.name for p in (flash / "outbox").iterdir())


def test_entry_is_on_flash_when_add_returns_and_survives_reboot(
    run_micropython: Callable[..., Any], tmp_path: Path
) -> None:
    run_micropython(SETUP + f"""
box = Outbox(capacity=8)
load(box, {PREFIX!r})
box.add(3, TOPIC, payload(3), True)
box.add(5, TOPIC, payload(5), False)
box.add(9, TOPIC, payload(9), True)
show(box)
""", cwd=tmp_path)
    assert files(tmp_path) == [name(3), name(5, "n"), name(9)]  # no temp files left over
    assert (tmp_path / "outbox" / name(5, "n")).read_bytes() == TOPIC.encode() + b"\n" + payload(5)

    out = run_micropython(SETUP + f"""
box = Outbox(capacity=8)
load(box, {PREFIX!r})
for e in box.entries:
    print("entry", e.seq, e.topic, e.payload.decode())
box.remove(5)
show(box)
""", cwd=tmp_path).stdout
    assert lines_starting(out, "entry") == [f"{s} {TOPIC} {payload(s).decode()}" for s in (3, 5, 9)]
    assert lines_starting(out, "entries") == ["3c 9c"]
    assert files(tmp_path) == [name(3), name(9)]


def test_bounded_oldest_non_critical_dropped_first_critical_never(
    run_micropython: Callable[..., Any], tmp_path: Path
) -> None:
    out = run_micropython(SETUP + f"""
box = Outbox(capacity=4)
load(box, {PREFIX!r})
for seq, critical in ((1, True), (2, False), (3, True), (4, False)):
    box.add(seq, TOPIC, payload(seq), critical)
show(box)
box.add(5, TOPIC, payload(5), True)   # full: drops 2, the oldest non-critical
show(box)
box.add(6, TOPIC, payload(6), True)   # drops 4
show(box)
box.add(7, TOPIC, payload(7), True)   # only critical left: 7 is kept, in RAM
show(box)
box.remove(1)                          # room on flash again: 7 is written now
show(box)
""", cwd=tmp_path).stdout
    assert lines_starting(out, "entries") == [
        "1c 2n 3c 4n", "1c 3c 4n 5c", "1c 3c 5c 6c", "1c 3c 5c 6c 7c*", "3c 5c 6c 7c",
    ]
    assert lines_starting(out, "fault") == ["0", "0", "0", "1", "0"]
    assert files(tmp_path) == [name(3), name(5), name(6), name(7)]
    assert "outbox: dropped seq=2 reason=full critical=0" in out
    assert "outbox: keeping in RAM only seq=7" in out


def test_ram_only_entries_are_bounded_too(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    out = run_micropython(SETUP + f"""
box = Outbox(capacity=1)
load(box, {PREFIX!r})
box.add(1, TOPIC, payload(1), True)
for seq in range(2, 12):
    box.add(seq, TOPIC, payload(seq), seq != 4)
show(box)
""", cwd=tmp_path).stdout
    # 1 on flash + 8 more in RAM; beyond that the oldest RAM-only non-critical (4) goes, then the oldest RAM-only
    assert lines_starting(out, "entries") == ["1c 3c* 5c* 6c* 7c* 8c* 9c* 10c* 11c*"], out
    assert files(tmp_path) == [name(1)]


FULL_FLASH = f"""
import ramflash, os
ramflash.mount(blocks=24)
{SETUP}
box = Outbox(capacity=8)
load(box, {PREFIX!r})
box.add(1, TOPIC, payload(1), True)
n = 0
try:
    while True:
        with open("fill%d" % n, "wb") as f:
            n += 1
            f.write(bytes(256))
except OSError as e:
    print("filled errno", e.errno)
box.add(2, TOPIC, payload(2), True)     # ENOSPC: must stay, in RAM
show(box)
print("sendable", box.entries[-1].seq, box.entries[-1].payload == payload(2))
for i in range(n):
    os.remove("fill%d" % i)
box.remove(1)                            # space again: the RAM entry is written now
show(box)
print("files", " ".join(sorted(os.listdir("outbox"))))
"""


def test_full_flash_keeps_the_alert_in_ram(run_micropython: Callable[..., Any]) -> None:
    out = run_micropython(FULL_FLASH, path=[FIRMWARE, HELPERS]).stdout
    assert "filled errno 28" in out
    assert lines_starting(out, "entries") == ["1c 2c*", "2c"], out
    assert lines_starting(out, "fault") == ["1", "0"], out
    assert lines_starting(out, "sendable") == ["2 True"]
    assert lines_starting(out, "files") == [name(2)]
    assert any(line.startswith("E ") and "keeping in RAM only seq=2" in line and "errno=28" in line
               for line in out.splitlines()), out


def test_leftovers_and_foreign_files_are_cleaned_at_boot(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    box = tmp_path / "outbox"
    box.mkdir()
    (box / name(4)).write_bytes(TOPIC.encode() + b"\n" + payload(4))
    (box / (name(6) + ".tmp")).write_bytes(TOPIC.encode() + b"\n" + payload(6)[:20])  # power cut mid-write
    (box / name(7)).write_bytes(b"garbage")
    other = "panic/v1/dev/pb-ffffffffffff/alert"
    (box / name(8)).write_bytes(other.encode() + b"\n" + payload(8))
    out = run_micropython(SETUP + f"""
box = Outbox()
load(box, {PREFIX!r})
show(box)
""", cwd=tmp_path).stdout
    assert lines_starting(out, "entries") == ["4c"], out
    assert files(tmp_path) == [name(4)]
    assert "outbox: removed interrupted writes count=1" in out
    assert out.count("outbox: discarding unusable entry") == 2, out


def entry(seq: int, body: bytes | None = None, topic: str = TOPIC) -> bytes:
    return topic.encode() + b"\n" + (payload(seq) if body is None else body)


def test_names_hold_any_seq_up_to_the_protocol_cap(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """Finding 3: seq >= 10^10 made 12-digit names the next boot deleted - a pending alert lost."""
    big = (10**10, 2**53 - 1)
    run_micropython(SETUP + f"""
box = Outbox(capacity=8)
load(box, {PREFIX!r})
for seq in {big!r}:
    box.add(seq, TOPIC, payload(seq), True)
""", cwd=tmp_path)
    (tmp_path / "outbox" / "0000000007.c").write_bytes(entry(7))  # written by older firmware (10 digits)
    out = run_micropython(SETUP + f"""
box = Outbox(capacity=8)
load(box, {PREFIX!r})
for e in box.entries:
    print("entry", e.seq, e.payload == payload(e.seq))
box.remove(7)
box.remove({2**53 - 1})
show(box)
""", cwd=tmp_path).stdout
    assert lines_starting(out, "entry") == ["7 True", f"{10**10} True", f"{2**53 - 1} True"], out
    assert "discarding" not in out, out
    assert lines_starting(out, "entries") == [f"{10**10}c"]
    assert files(tmp_path) == [name(10**10)]


def test_damaged_entries_are_dropped_one_by_one_and_the_good_one_is_kept(
    run_micropython: Callable[..., Any], tmp_path: Path
) -> None:
    """Findings 2 and 3: nothing in one file stops the load or keeps the button "sending" forever."""
    box = tmp_path / "outbox"
    box.mkdir()
    (box / name(1)).mkdir()  # a directory named like an entry
    (box / name(2)).write_bytes(b"\xff\xfe/alert\n" + payload(2))  # non-UTF-8 topic
    (box / name(3)).write_bytes(entry(3) + b" " * 200_000)  # 200 KB
    (box / name(4)).write_bytes(entry(4, f'{{"v":1,"dev":"{DEV}","seq":4,"type":"sos"}}'.encode()))  # unsigned
    (box / name(5)).write_bytes(entry(5, signed(f'{{"v":1,"dev":"{DEV}","seq":5,"type":"sos"}}'.encode(), key=b"x" * 32)))
    (box / name(6)).write_bytes(entry(6, payload(66)))  # signed, but for another seq
    (box / name(8)).write_bytes(entry(8))  # the genuine pending alert behind them
    (box / "0000000000000009.c").mkdir()  # a non-empty directory cannot be removed: skipped
    (box / "0000000000000009.c" / "x").write_bytes(b"x")
    out = run_micropython(SETUP + f"""
import gc
box = Outbox(capacity=8)
damaged = load(box, {PREFIX!r})
show(box)
print("damaged", damaged)
print("free", gc.mem_free() > 0)
""", cwd=tmp_path).stdout
    assert lines_starting(out, "entries") == ["8c"], out
    assert lines_starting(out, "damaged") == ["7"], out
    reasons = [line.split("reason=")[1] for line in out.splitlines() if "discarding unusable entry" in line]
    assert sorted(reasons) == sorted([
        '"a directory"', '"unreadable exc=UnicodeError"', '"too big bytes=%d"' % (len(entry(3)) + 200_000),
        '"bad signature"', '"bad signature"', '"seq does not match the name"', '"a directory"',
    ]), out
    assert all(line.startswith("E ") for line in out.splitlines() if "discarding" in line)
    assert files(tmp_path) == [name(8), name(9)]  # the damaged files are gone, the full directory stays


def test_an_outbox_that_is_a_file_is_replaced(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "outbox").write_bytes(b"not a directory")
    out = run_micropython(SETUP + f"""
box = Outbox(capacity=8)
load(box, {PREFIX!r})
box.add(1, TOPIC, payload(1), True)
show(box)
""", cwd=tmp_path).stdout
    assert lines_starting(out, "entries") == ["1c"], out
    assert lines_starting(out, "fault") == ["0"], out
    assert files(tmp_path) == [name(1)]


def test_an_ack_retries_at_most_one_ram_only_entry(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """Finding 5: the ack path blocks the loop on flash; one removal frees room for one entry, so one write."""
    out = run_micropython(SETUP + f"""
box = Outbox(capacity=1)
load(box, {PREFIX!r})
for seq in range(1, 6):
    box.add(seq, TOPIC, payload(seq), True)   # 1 on flash, 2..5 in RAM (outbox full of critical entries)
show(box)
print("mark")
box.remove(1)
show(box)
""", cwd=tmp_path).stdout
    after = out.split("mark", 1)[1]
    assert lines_starting(out, "entries")[-1] == "2c 3c* 4c* 5c*", out
    assert "keeping in RAM only" not in after, after  # 3..5 are not tried again: no flash operation for them
    assert files(tmp_path) == [name(2)]


DELIVERY_ORDER = """
from panic.delivery import Delivery
from panic.outbox import Outbox, Entry
class Link:
    connected = True
    publish_timeout_ms = 5000
ob = Outbox("ob", 8)
for seq, crit in ((1, False), (2, False), (3, True), (4, False), (5, True)):
    ob.entries.append(Entry(seq, "t", b"p", crit))
d = Delivery(ob, Link(), 1000, 2000, None)
order = []
e = d._next_due()
while e is not None:
    order.append(e.seq)
    ob.entries.remove(e)
    e = d._next_due()
print("order", order)
"""


def test_an_sos_is_sent_before_the_events_waiting_with_it(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """Events are below an SOS in the outbox for sending too: when several entries are due at once (the link
    came back), the critical ones (sos, silent_sos, cancel) go first, oldest first, then the others."""
    out = run_micropython(DELIVERY_ORDER, cwd=tmp_path).stdout
    assert "order [3, 5, 1, 2, 4]" in out.splitlines(), out
