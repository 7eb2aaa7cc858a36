"""The SMS path of last resort (panic/smsout.py) under MicroPython, against emulated modems over real ptys.

The firmware's own Delivery task (panic/delivery.py) runs with a real outbox,
signer, Alerts and the AT engine (panic/modem.py) on an emulated A7670E; the
link has no data session. The test plays the gateway's side with the
gateway's own SMS code (gateway/sms/format.py): it reads what reached the
gateway's number, checks it is the same alert as the MQTT bytes in the
outbox, and answers with signed ack SMS through the emulated network.
End to end with the simulated button and the real gateway: tests/simulator/test_sms_fallback.py.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.sms import format as smsformat
from simulator.button import DEVICE_DIR, FIRMWARE_DIR, micropython_binary
from simulator.compiled import firmware_path
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network, Sms
from tests.firmware.ptyuart import PTY_UART

Run = Callable[..., Any]
BUTTON = "+6281200000002"
GATEWAY = "+6281100000001"
OTHER_GATEWAY = "+6281100000009"
DEV = "pb-3c71bf4a9e10"
KEY = bytes(range(32))
LOC = (-54291234, 1052612345, 6, "gps", 1)

# The device side: the real Delivery task with SMS configured; ends when the outbox is empty or after `limit_s`.
DEVICE = PTY_UART + """
import asyncio, binascii, json, time
from panic import fix, log, messages
from panic.alerts import Alerts
from panic.cellular import Cell, texts
from panic.delivery import Delivery
from panic.outbox import Outbox
from panic.sign import Signer
from panic.supervisor import Supervisor

class Wdt:
    def feed(self):
        pass

class Hw:  # the board's modem, as panic.hal gives it (no PPP: as on the unix port, the simulator)
    modem_model = "A7670E"
    modem_pwrkey = None
    modem_reset = None
    gps_uart = None

    def __init__(self):
        self.modem_uart = PtyUart(%(path)r)

    def ppp(self, uart):
        return None

class Cfg:
    wifi_ssid = None
    modem = {"sms_to": %(to)r, "sms_after_s": %(after)d, "apn": %(apn)r, "apn_user": None,
            "apn_password": None, "sim_pin": None}

class Link:  # no MQTT session
    connected = False
    publish_timeout_ms = 5000

    async def publish(self, topic, payload, qos):
        raise OSError(107)

dev = %(dev)r
signer = Signer(binascii.unhexlify(%(key)r))
topic = messages.topic(dev, "alert")
outbox = Outbox()
for seq, kind, ref, loc in %(alerts)r:
    body = messages.alert(dev, seq, kind, 1795800000, 5430518, 64, "battery", "wifi", -83, ref,
                          "null" if loc is None else fix.location(loc))
    outbox.add(seq, topic, signer.sign(topic, body), True)
sup = Supervisor(Wdt())
link = Link()
cell = Cell(Cfg(), Hw(), sup)
d = Delivery(outbox, link, 1000, 8000, sup)
states = []
alerts = Alerts(dev, None, None, outbox, signer, d.wake, states.append)
d.smsout = (alerts, cell)

def died(loop, context):
    print("DIED", repr(context["exception"]))

async def main():
    asyncio.get_event_loop().set_exception_handler(died)
    print("SYNC", await cell.modem.sync(5000))
%(before)s
    asyncio.create_task(d.run())
    asyncio.create_task(texts(d))  # panic.cellular starts it so on a button with sms_to
    end = time.ticks_add(time.ticks_ms(), %(limit)d)
    while (%(until)s) and time.ticks_diff(end, time.ticks_ms()) > 0:
%(during)s
        await asyncio.sleep_ms(50)
    await asyncio.sleep_ms(300)
    import sys
    print("RESULT", json.dumps({"left": [e.seq for e in outbox.entries], "states": states,
                                "bad_sig": alerts.bad_sig, "up": cell.up,
                                "loaded": [m for m in ("panic.smsout", "panic.smsfmt") if m in sys.modules]}))

asyncio.run(main())
"""


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.network = Network()
        self.button = EmulatedModem(self.network, BUTTON, "A7670E").start()
        self.gateways = [EmulatedModem(self.network, n, "SIM800L").start() for n in (GATEWAY, OTHER_GATEWAY)]
        assert self.button.booted.wait(5)

    def close(self) -> None:
        for m in (self.button, *self.gateways):
            m.close()

    def to_gateway(self, number: str = GATEWAY) -> list[Sms]:
        return [s for s in self.network.sent if s.sender == BUTTON and s.to == number]

    def ack(self, ref: int, *, key: bytes = KEY, dev: str = DEV, state: str = "received",
            sender: str = GATEWAY) -> None:
        self.network.inject(sender, BUTTON, smsformat.ack_text(key, dev, ref, state, 1795800005))

    def when(self, condition: Callable[[], bool], action: Callable[[], None]) -> None:
        """Play `action` (from another thread) as soon as `condition` holds, while the device runs."""

        def watch() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if condition():
                    action()
                    return
                time.sleep(0.02)

        threading.Thread(target=watch, daemon=True).start()

    def run(self, run_micropython: Run, alerts: list[tuple[int, str, int | None, Any]], *, after: int = 1,
            to: tuple[str, ...] = (GATEWAY,), limit_ms: int = 20000, before: str = "", during: str = "",
            apn: str | None = None, until: str = "outbox.entries") -> tuple[dict[str, Any], str]:
        flash = self.tmp_path / f"flash-{secrets.token_hex(3)}"
        (flash / "outbox").mkdir(parents=True)
        script = DEVICE % {"to": list(to), "after": after, "dev": DEV, "key": KEY.hex(), "alerts": alerts,
                           "path": self.button.path, "apn": apn, "before": before or "    pass", "during": during or "",
                           "limit": limit_ms, "until": until}
        # The compiled firmware, as a unit runs it (compiling panic.smsout on the device heap is no unit's case)
        compiled = firmware_path(FIRMWARE_DIR, DEVICE_DIR, micropython_binary(), from_source=False)
        out = run_micropython(script, cwd=flash, timeout=120, path=compiled).stdout
        assert "SYNC True" in out and "DIED" not in out, out
        result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
        return result, out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def mqtt_body(seq: int, kind: str, ref: int | None, loc: tuple[int, int, int, str, int] | None) -> dict[str, Any]:
    lat, lon, acc, src, age = loc if loc else (0, 0, 0, "", 0)
    return {"v": 1, "dev": DEV, "seq": seq, "ts": 1795800000, "up": 5430518, "bat": 64, "pwr": "battery",
            "rssi": -83, "type": kind, **({"ref": ref} if ref else {}),
            "loc": {"lat": smsformat._degrees(str(lat)), "lon": smsformat._degrees(str(lon)), "acc": acc, "src": src,
                    "age": age} if loc else None}


def test_an_unacked_alert_goes_out_as_the_same_alert_by_sms_and_the_ack_sms_ends_it(
        world: World, run_micropython: Run) -> None:
    alerts = [(7, "sos", None, LOC), (8, "cancel", 7, None)]
    world.when(lambda: len(world.to_gateway()) >= 2, lambda: (world.ack(7), world.ack(8, state="acknowledged")))
    result, out = world.run(run_micropython, alerts)
    assert result["left"] == [] and result["states"] == ["received", "acknowledged"], out
    sent = world.to_gateway()
    assert len(sent) == 2, sent  # one each: the acks came before any resend was due
    for sms, (seq, kind, ref, loc) in zip(sent, alerts, strict=True):
        parsed = smsformat.parse_alert(sms.text)
        smsformat.verify(parsed, KEY)  # signed with the device key, as the gateway checks it
        body = smsformat.parse_body(parsed)
        expected = mqtt_body(seq, kind, ref, loc)
        # the same alert as the MQTT bytes in the outbox: seq, type and readings, the coordinates exact
        got = {k: body[k] for k in expected}
        if got["loc"] is not None:
            got["loc"] = {k: str(v) if k in ("lat", "lon") else v for k, v in got["loc"].items()}
        assert got == expected
    commands = world.button.received_commands
    assert "AT+CMGF=1" in commands and f'AT+CMGS="{GATEWAY}"' in commands
    assert "AT+CMGR=0" in commands and "AT+CMGD=0" in commands
    assert world.button.slots == {}  # every SMS read was deleted from the SIM
    assert "sms: sent seq=7 to=+6281100000001 try=1" in out and "ack: delivered seq=7 state=received" in out


def test_a_lost_sms_is_sent_again_on_the_back_off_until_acked(world: World, run_micropython: Run) -> None:
    world.network.lose_sms(1)
    world.when(lambda: len(world.to_gateway()) >= 2, lambda: world.ack(3))
    result, out = world.run(run_micropython, [(3, "sos", None, None)])
    assert result["left"] == [], out
    first, second = world.to_gateway()
    assert first.text == second.text  # the same bytes: one alert at the gateway, a duplicate at most
    assert "sms: sent seq=3 to=+6281100000001 try=2" in out


def test_forged_foreign_and_garbage_sms_are_ignored_and_the_alert_is_resent(
        world: World, run_micropython: Run) -> None:
    def forge() -> None:
        world.ack(5, key=bytes(32))  # another key: bad_sig
        world.ack(5, dev="pb-0000000000aa")  # another device's ack: dev_mismatch
        world.network.inject("+6281999999999", BUTTON, "Promo: 10GB for 5000")  # an operator's notice
        world.network.inject(GATEWAY, BUTTON, "PB1 K 3c71bf4a9e10 5 R")  # truncated

    world.when(lambda: len(world.to_gateway()) >= 1, forge)
    world.when(lambda: len(world.to_gateway()) >= 2, lambda: world.ack(5))
    result, out = world.run(run_micropython, [(5, "sos", None, None)])
    assert result["left"] == [] and result["states"] == ["received"], out
    assert len(world.to_gateway()) >= 2  # the forgeries did not stop the resend
    for reason in ("bad_sig", "dev_mismatch", "bad_sms"):
        assert f"reason={reason}" in out, out
    assert out.count("sms: ignored slot=") == 4
    assert world.button.slots == {}


def test_every_configured_number_gets_it_and_either_ack_ends_it(world: World, run_micropython: Run) -> None:
    world.when(lambda: len(world.to_gateway(OTHER_GATEWAY)) >= 1, lambda: world.ack(4, sender=OTHER_GATEWAY))
    result, out = world.run(run_micropython, [(4, "sos", None, None)], to=(GATEWAY, OTHER_GATEWAY))
    assert result["left"] == [], out
    assert len(world.to_gateway()) == 1 and len(world.to_gateway(OTHER_GATEWAY)) == 1


def test_a_data_session_is_paused_for_the_sms_and_resumed_after(world: World, run_micropython: Run) -> None:
    # panic.cell's data session is up (CONNECT) but carries nothing: pause (+++), AT+CMGS, resume (ATO);
    # the ack SMS (no +CMTI in data mode) is found by listing the SIM.
    before = ("    cell.connect(None, None)\n"
              "    while not cell.up:\n"
              "        await asyncio.sleep_ms(50)\n"
              "    print('UP')")
    world.when(lambda: len(world.to_gateway()) >= 1, lambda: world.ack(9))
    result, out = world.run(run_micropython, [(9, "sos", None, None)], before=before, apn="internet")
    assert "UP" in out and result["left"] == [] and result["up"] is True, out
    commands = world.button.received_commands
    dial = commands.index("ATD*99#")
    sent = commands.index(f'AT+CMGS="{GATEWAY}"')
    assert dial < sent and commands[sent + 1] == "ATO"  # straight back to the session
    assert world.button.mode == "data"  # and the session still there


def test_the_link_coming_back_ends_sms_and_keeps_the_alert(world: World, run_micropython: Run) -> None:
    # The data link returns 3 s before the end (after the first SMS, at 1 s): the task goes back to MQTT,
    # the alert stays in the outbox until an ack removes it.
    during = ("        if time.ticks_diff(time.ticks_ms(), end) > -3000:\n"
              "            link.connected = True\n")
    result, out = world.run(run_micropython, [(6, "sos", None, None)], limit_ms=6000, during=during)
    assert result["left"] == [6], out
    assert len(world.to_gateway()) == 1
    assert "sms: done link=1 waiting=1" in out


def test_states_after_received_are_read_by_loading_sms_again_and_never_step_back(
        world: World, run_micropython: Run) -> None:
    # "received" ends the alert's SMS (the outbox is empty: the module unloads); police acknowledge later and
    # the gateway texts that state: its +CMTI loads the module again to read it, and the indicator follows.
    # A "received" read after it (SMS overtake each other) is a step back: ignored.
    def later() -> None:
        time.sleep(2)  # the module is unloaded by now (checked below: it ran, and unloaded, more than once)
        world.ack(2, state="acknowledged")
        time.sleep(2)
        world.ack(2, state="received")
        world.ack(2, state="dispatched")

    world.when(lambda: len(world.to_gateway()) >= 1, lambda: (world.ack(2), later()))
    result, out = world.run(run_micropython, [(2, "sos", None, None)], limit_ms=30000,
                            until='outbox.entries or "dispatched" not in states')
    assert result["left"] == [] and result["states"] == ["received", "acknowledged", "dispatched"], out
    assert "sms: ack seq=2 state=acknowledged" in out and "ack: state seq=2 state=acknowledged" in out
    assert "sms: stale seq=2 state=received shown=acknowledged" in out
    assert out.count("sms: no data link") >= 2, out  # loaded again for the later states
    assert result["loaded"] == [], out  # and unloaded again (panic.mem) once they were read
    assert len(world.to_gateway()) == 1  # nothing sent again
    assert world.button.slots == {}
