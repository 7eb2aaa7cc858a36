"""Text an outsider chooses never reaches dispatch or the gateway's log raw (issue 6, hole 3).

The real gateway process on a real broker: the retained `status` message is
unsigned, so anyone who can publish it chooses its `fw`; a signed alert's
member names are the device's to choose.
"""

from __future__ import annotations

import json
import time

import pytest

from gateway.logsafe import printable
from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice

FORGED = "x\n2026-11-30 12:00:00,000 CRITICAL gateway.bridge: forged line\r\x1b[31m\u202e\x07"
EVIL_FW = b'{"state":"online","fw":"0.1.0\\u202e\\u0007\\u001b[31mEVIL","up":6}'  # as an outside audit sent it


def next_event(dispatch: MqttListener) -> dict[str, object]:
    event: dict[str, object] = json.loads(dispatch.next(10, "/dispatch/events")[1])
    assert_valid("dispatch-event.json", event)
    return event


def test_forged_status_and_member_names_reach_neither_dispatch_nor_the_log(
    stack: Stack, dispatch: MqttListener, device: ScriptedDevice
) -> None:
    status = device.topic("status")
    device.mqtt.publish(status, b'{"state":"online","fw":"0.1.0","up":5}')
    assert next_event(dispatch)["event"] == "device_online"
    device.mqtt.publish(status, EVIL_FW)
    device.mqtt.publish(status, b'{"state":"offline"}')  # same topic, so judged after the forged one
    assert next_event(dispatch)["event"] == "device_offline"

    device.send(device.alert_body(**{FORGED: 1}))  # signed by the device, refused: not a member
    rejected = next_event(dispatch)
    assert (rejected["event"], rejected["reason"]) == ("rejected", "bad_field")
    assert isinstance(rejected["detail"], str) and rejected["detail"].isprintable()

    device.send(device.alert_body())
    alert = json.loads(dispatch.next(10, "/dispatch/alerts")[1])
    assert_valid("dispatch-alert.json", alert)
    assert alert["device"]["firmware"] == "0.1.0"
    assert stack.gateway.request("GET", f"/devices/{device.id}")["firmware"] == "0.1.0"

    deadline = time.monotonic() + 10
    while "ignored status" not in stack.gateway.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = stack.gateway.log().splitlines()
    assert any("ignored status" in line and "bad_field" in line for line in lines)
    assert any("rejected bad_field message" in line for line in lines)
    for line in lines:
        assert line.isprintable(), f"raw control or bidi character in the log: {line!r}"
        assert not line.startswith("2026-11-30 12:00:00,000 CRITICAL"), "a forged log line"
        assert "forged line" not in line or "rejected bad_field message" in line


@pytest.mark.parametrize(("text", "shown"), [
    ("0.1.0", "0.1.0"),
    ("Warung Bu Sri — café ☕", "Warung Bu Sri — café ☕"),  # printable text stays as it is
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x1b[31mred\x07\x00\x7f\x85", "\\x1b[31mred\\x07\\x00\\x7f\\x85"),
    ("0.1.0\u202eLIVE\u2066\u200f\u061c", "0.1.0\\u202eLIVE\\u2066\\u200f\\u061c"),  # bidi controls
    ("a\u2028b\u2029c\ufeff\U000e0001", "a\\u2028b\\u2029c\\ufeff\\U000e0001"),
    ("back\\slash", "back\\slash"),
])
def test_printable_escapes_what_could_forge_or_disguise_a_line(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(shown) == shown  # a second pass changes nothing


def test_printable_cuts_long_text_before_escaping() -> None:
    assert printable("9" * 301, 24) == "9" * 23 + "…"
    assert printable("\n" * 10, 4) == "\\n\\n\\n…"
    assert printable(10**300, 10) == "1" + "0" * 8 + "…"
