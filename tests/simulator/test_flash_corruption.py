"""Corrupted flash: whatever is in a file the firmware reads, the button boots and an SOS gets through.

Every file the firmware reads at boot - ``config.json``, ``secrets.json``,
their known-good copies, ``board.json``, ``seq``, an outbox entry and the
``outbox`` directory itself - is damaged in each way of the matrix before the
real firmware boots in the simulator (``micropython -X heapsize=110K``):
truncated, garbage, oversize, wrong JSON types, non-UTF-8, a directory in
its place; and, separately, a completely full filesystem. After each: the
firmware boots (no reset loop), reports what it found (an ``E`` log line,
and ``fault`` on the indicator where the damage persists), and a held button
delivers a signed alert that the gateway's ack clears.

(Issue 7, finding 2: an outbox entry with a non-UTF-8 topic, a 200 KB outbox
file or a 100 KB / deeply nested config.json used to crash every boot.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import simulator.button
from simulator.button import SimulatedButton
from tests.simulator.conftest import Account
from tests.simulator.gateway import Gateway

MakeButton = Callable[..., SimulatedButton]
FAST = {"hold_ms": 200, "retry_min_ms": 500, "heartbeat_s": 600}

CORRUPTIONS = ("truncated", "garbage", "oversize", "wrong_types", "non_utf8", "directory")
FILES = ("config.json", "secrets.json", "known-good.config.json", "known-good.secrets.json", "board.json",
         "seq", "outbox entry", "outbox")
# Damage the firmware works around for good (it runs on the last good copy, drops the entry):
# the indicator shows fault while idle, until the flash is fixed.
LASTING_FAULT = {"config.json", "secrets.json", "outbox entry", "outbox"}
# What the E (or, for the simulator's own board file, W) line names.
REPORTED = {
    "config.json": r"^E \d+ config: invalid reason=.*running on the last good copy",
    "secrets.json": r"^E \d+ config: invalid reason=.*running on the last good copy",
    "board.json": r"^W \d+ sim: no board definition",
    "seq": r"^E \d+ seq: ",
    "outbox entry": r"^E \d+ outbox: discarding unusable entry",
    "outbox": r"^E \d+ outbox: discarding unusable entry file=\"outbox\" reason=\"not a directory\"",
}


def signed(key: bytes, topic: str, body: bytes) -> bytes:
    sig = hmac.new(key, topic.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return body[:-1] + f',"sig":"{sig}"}}'.encode()


def json_damage(original: bytes, how: str, wrong: dict[str, object]) -> bytes | None:
    """The bytes of a damaged JSON file (None: a directory goes in its place)."""
    if how == "truncated":
        return original[: len(original) // 2]
    if how == "garbage":
        return bytes(range(256)) * 4
    if how == "oversize":
        return json.dumps({**json.loads(original), "pad": "x" * 100_000}).encode()
    if how == "wrong_types":
        return json.dumps({**json.loads(original), **wrong}).encode()
    if how == "non_utf8":
        return original[:-1] + b', "\xff\xfe": "\xc3\x28"}'
    return None


def damage(flash: Path, target: str, how: str, account: Account) -> None:
    """Damage `target` in the flash directory in the way `how`."""
    if target == "outbox entry":
        # A pending alert of an earlier boot (seq 7), correctly signed, then damaged.
        topic = f"panic/v1/dev/{account.id}/alert"
        body = f'{{"v":1,"dev":"{account.id}","seq":7,"type":"sos","ts":null,"up":5}}'.encode()
        good = topic.encode() + b"\n" + signed(account.key, topic, body)
        wrong = topic.encode() + b"\n" + signed(account.key, topic, body.replace(b'"seq":7', b'"seq":"7"'))
        content: bytes | None = {
            "truncated": good[: len(good) // 2], "garbage": bytes(range(256)), "oversize": good + b" " * 200_000,
            "wrong_types": wrong, "non_utf8": b"panic/v1/dev/\xff\xfe/alert\n" + good.split(b"\n", 1)[1],
            "directory": None,
        }[how]
        path = flash / "outbox" / "0000000000000007.c"
        path.parent.mkdir(exist_ok=True)
    elif target == "outbox":
        content = {"truncated": b"", "garbage": bytes(range(256)), "oversize": b"x" * 200_000,
                   "wrong_types": b"[]", "non_utf8": b"\xff\xfe", "directory": b"\x00"}[how]
        path = flash / "outbox"
    elif target == "seq":
        content = {"truncated": b"", "garbage": bytes(range(256)), "oversize": b"9" * 200_000,
                   "wrong_types": b'{"seq": 12}', "non_utf8": b"\xff\xfe12", "directory": None}[how]
        path = flash / "seq"
    else:
        path = flash / target
        source = flash / target.removeprefix("known-good.")
        wrong: dict[str, object] = {
            "board.json": {"functions": [1, 2], "name": 5},
            "secrets.json": {"device_key": 12345, "mqtt_password": ["x"]},
        }.get(target.removeprefix("known-good."), {"broker_port": "1883", "hold_ms": True})
        content = json_damage(source.read_bytes(), how, wrong)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if content is None:
        path.mkdir()
        (path / "x").write_bytes(b"not removable: the directory is not empty")
    else:
        path.write_bytes(content)


def sos_gets_through(button: SimulatedButton, gateway: Gateway, confirmed: bool = True) -> None:
    mark = button.mark()
    button.press(400)
    alert = gateway.expect("alert")
    body = gateway.verified(alert)
    assert body["type"] == "sos" and body["dev"] == gateway.device_id
    gateway.ack(body["seq"])
    button.wait_for_log(rf"ack: delivered seq={body['seq']} ", since=mark)
    if confirmed:  # nothing left "sending": a damaged entry is not resent forever (finding 3)
        button.wait_for_indicator("received")


def remember_good_copies(flash: Path) -> None:
    """As the firmware does on a boot with good files (tests/firmware/test_config.py shows it)."""
    for name in ("config.json", "secrets.json"):
        shutil.copyfile(flash / name, flash / f"known-good.{name}")


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("target", FILES)
def test_damaged_file_boots_reports_and_the_sos_gets_through(
    make_button: MakeButton, gateway: Gateway, account: Account, target: str, how: str
) -> None:
    if target == "outbox" and how == "directory":
        pytest.skip("the outbox is a directory; a directory in place of an entry is the 'outbox entry' row")
    button = make_button(start=False, **FAST)
    remember_good_copies(button.flash_dir)
    damage(button.flash_dir, target, how, account)
    button.start()
    button.wait_for_log(r"link: connected", timeout=15)
    assert button.reboots == 0 and button.running
    if target in REPORTED:
        button.wait_for_log(REPORTED[target])
    if target in LASTING_FAULT:
        time.sleep(0.3)  # the indicator is refreshed when the link comes up
        assert button.indicator == "fault", button.tail()
    elif target != "seq":  # (a seq fault clears at the next reservation, when the first heartbeat goes)
        button.wait_for_indicator("idle")
    # A directory in place of seq cannot be replaced: the counter runs from RAM, a lasting fault.
    sos_gets_through(button, gateway, confirmed=(target, how) != ("seq", "directory"))
    if target.startswith("known-good.") and how != "directory":  # repaired from the current, good files
        name = target.removeprefix("known-good.")
        assert (button.flash_dir / target).read_bytes() == (button.flash_dir / name).read_bytes()
    assert button.reboots == 0


# The device's entry, on a full LittleFS (the ESP32's filesystem) in RAM: the provisioned
# files are copied onto it and the rest is filled. Its names are ones the firmware already
# has (or long strings): on the unix port the 621st qstr costs 7.4 KB of heap at once
# (docs/firmware.md, "Heap and qstrs"), which this wrapper must not be the one to add.
FULL_FLASH_ENTRY = """
import os, vfs
class Entry:  # a RAM block device, 256-byte blocks
    def __init__(self, size):
        self.data = bytearray(size * 256)
    def readblocks(self, n, buf, offset=0):
        buf[:] = self.data[n * 256 + offset : n * 256 + offset + len(buf)]
    def writeblocks(self, n, buf, offset=None):
        self.data[n * 256 + (offset or 0) : n * 256 + (offset or 0) + len(buf)] = buf
    def ioctl(self, kind, size):
        if kind == 4:
            return len(self.data) // 256
        if kind == 5:
            return 256
        if kind == 6:
            return 0
entries = [(path, open(path, "rb").read()) for path in ("config.json", "secrets.json")]
flash = Entry({blocks})
vfs.VfsLfs2.mkfs(flash)
vfs.mount(vfs.VfsLfs2(flash), "/flash-on-littlefs")
os.chdir("/flash-on-littlefs")
for path, data in entries:
    for where in ("", "known-good."):
        with open(where + path, "wb") as f:
            f.write(data)
del entries
n = 0
try:
    while True:
        with open("filling-the-flash-%d" % n, "wb") as f:
            n += 1
            f.write(bytes(256))
except OSError as e:
    print("W 0 sim: flash full errno=%d files=%d" % (e.errno, n))
exec(open({simmain!r}).read())
"""


def test_full_filesystem_boots_and_the_sos_gets_through_from_ram(
    make_button: MakeButton, gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = tmp_path / "device"
    device.mkdir()
    (device / "vhal.py").symlink_to(simulator.button.DEVICE_DIR / "vhal.py")
    blocks = 24
    (device / "simmain.py").write_text(FULL_FLASH_ENTRY.format(
        blocks=blocks, simmain=str(simulator.button.DEVICE_DIR / "simmain.py"),
    ))
    monkeypatch.setattr(simulator.button, "DEVICE_DIR", device)
    button = make_button(start=False, **FAST)
    # The RAM disk (6 KB) and its driver live in the interpreter's heap, not in the device's:
    # add them, so the firmware still has its 110 KB.
    button.heapsize = f"{110 + blocks * 256 // 1024 + 6}K"
    button.start()
    button.wait_for_log(r"sim: flash full errno=28")
    # The outbox directory cannot even be created: reported, and alerts will be kept in RAM.
    button.wait_for_log(r'^E \d+ outbox: cannot read the whole outbox; alerts stay in RAM exc=OSError err="28"')
    button.wait_for_log(r"link: connected", timeout=15)
    time.sleep(0.3)
    assert button.indicator == "fault", button.tail()
    mark = button.mark()
    button.press(400)
    button.wait_for_log(r"^E \d+ outbox: keeping in RAM only seq=\d+", since=mark)
    alert = gateway.expect("alert")
    seq = gateway.verified(alert)["seq"]
    gateway.ack(seq)
    button.wait_for_log(rf"ack: delivered seq={seq} ", since=mark)
    assert button.reboots == 0 and button.running
