"""`panic-demo`: the whole path on this machine, with real parts at every layer.

Mosquitto (the project's config, its own port) → the gateway on SQLite →
the sample Bandar Lampung stations imported (`panic-gateway stations import`)
→ registration through the API → the real firmware under the MicroPython unix
port as a simulated button → press → the enriched alert as dispatch sees it,
routed to the nearest station with candidates, also on that station's topic
→ nobody answers within the (shortened) escalation time, so the alert is
escalated to the next station and the parent → police acknowledge, dispatch a
unit, arrive, resolve, and the button's indicator follows each step; the
alert's timeline as the API keeps it. Then everything is shut down.

``--sms`` shows the path of last resort instead (docs/sms.md): the gateway
reads an emulated GSM modem, the button's modem is another one on the same
emulated operator (simulator/smspath.py); the button's data link is cut, the
alert goes out as a signed SMS after ``sms_after_s``, reaches dispatch with
``network: "sms"``, the gateway's signed ack SMS lights the button; police
acknowledge and dispatch a unit, and with its data still down the button
shows each state, texted by the gateway as signed ack SMS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provision.console import Console
from provision.gateway import Gateway
from provision.texts import Texts
from provision.tool import register_unit
from simulator.button import SimulatedButton
from simulator.smspath import SmsPath
from simulator.stack import DEMO_OWNER, BaseStack, MqttListener, NatsStack, Stack

ROOT = Path(__file__).resolve().parents[1]
DEVICE_ID = "pb-24a160c0ffee"
SAMPLE_STATIONS = ROOT / "gateway" / "stations" / "sample_bandar_lampung.csv"
# 60 s in production ("within a minute"); shortened so the demo shows an escalation quickly.
ESCALATE_AFTER_S = 3
STATION_ALERTS = "panic/v1/dispatch/stations/+/alerts"
# 30 s in production (config sms_after_s); the shortest the configuration allows, so the demo is quick.
SMS_AFTER_S = 5


class Narrator:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def step(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)


def run(state_dir: Path, broker_port: int | None, hold_ms: int, broker_kind: str = "mosquitto") -> int:
    say = Narrator()
    if state_dir.exists():
        shutil.rmtree(state_dir)
    gateway_env = {"PANIC_ESCALATE_AFTER_S": str(ESCALATE_AFTER_S)}
    stack: BaseStack = (NatsStack(state_dir, gateway_env=gateway_env) if broker_kind == "nats"
                        else Stack(state_dir, broker_port=broker_port, gateway_env=gateway_env))
    endpoints = getattr(stack.broker_config, "endpoints", None)
    button: SimulatedButton | None = None
    try:
        say.step(f"starting a 3-node NATS cluster (broker/nats.py), MQTT on {endpoints}" if endpoints else
                 f"starting Mosquitto with broker/mosquitto.conf.in on 127.0.0.1:{stack.broker_config.port}")
        stack.broker.start()
        stack.gateway.start()
        say.step(f"started the gateway on SQLite ({stack.gateway.state_dir / 'gateway.db'}), API on "
                 f"{stack.gateway.url}")
        imported = import_stations(stack)
        say.step(f"imported the sample stations ({SAMPLE_STATIONS.relative_to(ROOT)}, illustrative positions, "
                 f"not real data) with `panic-gateway stations import`: {imported}")
        dispatch = stack.dispatch()
        say.step("dispatch subscribed to panic/v1/dispatch/alerts and panic/v1/dispatch/events")
        station_desk = MqttListener(stack.broker_config, "dispatch", stack.broker_config.dispatch_password,
                                    [STATION_ALERTS])
        say.step(f"a station desk subscribed to {STATION_ALERTS}")

        flash = state_dir / "button-flash"
        SimulatedButton.blank(flash)
        button = SimulatedButton(flash, log_file=state_dir / "button.log", unique_id=DEVICE_ID[3:], console_pty=True)
        button.start()
        say.step(f"button: a blank unit, the real firmware (firmware/) under micropython -X heapsize=110K, "
                 f"its serial console on {button.console_path}")
        owner = stack.gateway.request("POST", "/owners", DEMO_OWNER)
        assert button.console_path is not None
        # Which broker the unit is to use: one endpoint, or a cluster's in the order to try them.
        where: dict[str, Any] = ({"brokers": [{"host": h, "port": p} for h, p in endpoints]} if endpoints else
                                 {"broker_host": stack.broker_config.host, "broker_port": stack.broker_config.port})
        with Console(button.console_path) as console:
            register_unit(console, Gateway(stack.gateway.url, stack.gateway.token), owner["id"],
                          owner["premises"][0]["id"], where,
                          Texts("en"), lambda text: say.step("panic-provision: " + text), 30)
        say.step(f"registered {DEVICE_ID} to '{owner['id']}' (POST /owners, then panic-provision register over the "
                 "console: the key went from the gateway's answer into the unit, never onto this disk)")
        button.wait_for_indicator("idle", timeout=30)
        say.step("button: online and idle")

        say.step(f"pressing SOS: holding the button for {hold_ms / 1000:.1f} s (a bump does nothing)")
        pressed = time.monotonic()
        button.press(hold_ms)
        _topic, payload = dispatch.next(30, "/dispatch/alerts")
        alert = json.loads(payload)
        say.step(f"dispatch received alert {alert['alert_id']} "
                 f"{time.monotonic() - pressed - hold_ms / 1000:.2f} s after the hold completed:")
        print(json.dumps(alert, indent=2, ensure_ascii=False), flush=True)
        say.step(f"routed from the {alert['location']['source']} location to {describe(alert['station'])}; "
                 "candidates: " + ", ".join(describe(c) for c in alert["candidates"]))
        station_topic, _payload = station_desk.next(30)
        say.step(f"the station desk received it on {station_topic}")
        station_desk.close()

        button.wait_for_indicator("received", timeout=30)
        say.step("button: the gateway confirmed receipt (indicator 'received'; outbox now "
                 f"{len(button.outbox())} entries)")

        escalated = next_revision(dispatch, lambda a: a["escalation"] is not None)
        level = escalated["escalation"]
        say.step(f"nobody acknowledged within {ESCALATE_AFTER_S} s (PANIC_ESCALATE_AFTER_S, 60 s by default): "
                 f"rev {escalated['rev']} escalates to level {level['level']}, to "
                 + ", ".join(str(s) for s in level["stations"]) + f" ({level['reason']})")

        alert_id = alert["alert_id"]
        ack = {"alert_id": alert_id, "state": "acknowledged", "by": "Polsek Tanjung Karang, desk 2",
               "note": "unit 7 en route"}
        dispatch.publish("panic/v1/dispatch/ack", json.dumps(ack).encode())
        say.step(f"dispatch acknowledged {alert_id} on panic/v1/dispatch/ack")
        button.wait_for_indicator("acknowledged", timeout=30)
        say.step("button: police acknowledged (indicator 'acknowledged')")
        for state, note, shown in (("dispatched", "unit 7 on the way", "on_the_way"),
                                   ("on_scene", "officers at the shop", "on_the_way"),
                                   ("resolved", "a robbery attempt; suspect detained", "idle")):
            stack.gateway.request("POST", f"/alerts/{alert_id}/ack",
                                  {"state": state, "by": "Polsek Tanjung Karang, desk 2", "note": note})
            revision = next_revision(dispatch, lambda a, s=state: a["state"] == s)  # type: ignore[misc]
            button.wait_for_indicator(shown, timeout=30)
            say.step(f"police: {state} (POST /alerts/{{id}}/ack; rev {revision['rev']} on dispatch); "
                     f"button indicator '{shown}'")
        timeline = stack.gateway.request("GET", f"/alerts/{alert_id}")["timeline"]
        say.step("the alert's timeline (GET /alerts/{id}): " + "; ".join(
            f"{entry['state']}" + (f" level {entry['escalation']}" if entry["escalation"] else "")
            + (f" by {entry['by']}" if entry["by"] else "") for entry in timeline))
        return finish(say, button, dispatch)
    except Exception as exc:
        return failed(say, exc, state_dir)
    finally:
        stop_all(say, state_dir, button, stack.stop)


def run_sms(state_dir: Path, broker_port: int | None, hold_ms: int) -> int:
    """The SMS path of last resort, end to end (see the module docstring)."""
    say = Narrator()
    if state_dir.exists():
        shutil.rmtree(state_dir)
    path = SmsPath().start()
    stack = Stack(state_dir, broker_port=broker_port, gateway_env=path.gateway_env())
    button: SimulatedButton | None = None
    try:
        say.step(f"an emulated operator (simulator/modem): the gateway's SIM800L {path.gateway_modem.number} on "
                 f"{path.gateway_modem.path}, the button's A7670E {path.button_modem.number}")
        say.step(f"starting Mosquitto on 127.0.0.1:{stack.broker_config.port} and the gateway, its SMS ingress on "
                 f"PANIC_SMS_PORT={path.gateway_modem.path}")
        stack.start()
        path.wait_gateway_ready()
        import_stations(stack)
        dispatch = stack.dispatch()
        say.step("dispatch subscribed to panic/v1/dispatch/alerts")
        button = path.button(stack, state_dir / "button-flash", DEVICE_ID, log_file=state_dir / "button.log",
                             sms_after_s=SMS_AFTER_S, hold_ms=1500)
        button.start()
        button.wait_for_indicator("idle", timeout=60)
        say.step("button: the real firmware as a cellular unit ships it, a ROMFS image beside a 110K heap "
                 "(micropython -X heapsize=110K plus the image: simulator/device/romboot.py)")
        say.step(f"button {DEVICE_ID}: online over Wi-Fi and idle; its SIM {path.button_modem.number} registered "
                 f"with the device, SMS to {path.gateway_modem.number} after {SMS_AFTER_S} s without data "
                 "(sms_to, sms_after_s)")
        button.wifi(False)
        button.wait_for_log(r"link: .*lost|link: disconnected", timeout=30)
        say.step("data cut: the button's Wi-Fi is down (and it has no other data bearer)")
        say.step(f"pressing SOS: holding the button for {hold_ms / 1000:.1f} s")
        button.press(hold_ms)
        pressed = time.monotonic()
        sms = path.wait_for("to_gateway", 1, timeout=120)[0]
        say.step(f"the alert went out as a signed SMS {time.monotonic() - pressed:.1f} s after the press "
                 f"({len(sms.text)} characters): {sms.text}")
        _topic, payload = dispatch.next(60, "/dispatch/alerts")
        alert = json.loads(payload)
        say.step(f"dispatch received alert {alert['alert_id']} with network '{alert['device']['network']}', "
                 f"{time.monotonic() - pressed:.1f} s after the press:")
        print(json.dumps(alert, indent=2, ensure_ascii=False), flush=True)
        ack = path.wait_for("to_button", 1, timeout=60)[0]
        say.step(f"the gateway answered with a signed ack SMS: {ack.text}")
        button.wait_for_indicator("received", timeout=60)
        say.step("button: the ack SMS checked (device key, MAC), the alert left the outbox "
                 f"(indicator 'received'; outbox now {len(button.outbox())} entries)")
        dispatch.publish("panic/v1/dispatch/ack", json.dumps({
            "alert_id": alert["alert_id"], "state": "acknowledged", "by": "Polsek Tanjung Karang, desk 2",
            "note": "unit 7 en route"}).encode())
        next_revision(dispatch, lambda a: a["state"] == "acknowledged")
        say.step("dispatch acknowledged it on panic/v1/dispatch/ack; the button still has no data link")
        state_sms = path.wait_for("to_button", 2, timeout=60)[1]
        say.step(f"the gateway texted the new state, signed, as the alert came by SMS: {state_sms.text}")
        button.wait_for_indicator("acknowledged", timeout=60)
        say.step("button: the state SMS checked (device key, MAC): the indicator shows 'acknowledged', "
                 "with no data link")
        stack.gateway.request("POST", f"/alerts/{alert['alert_id']}/ack",
                              {"state": "dispatched", "by": "Polsek Tanjung Karang, desk 2", "note": "unit 7"})
        state_sms = path.wait_for("to_button", 3, timeout=60)[2]
        button.wait_for_indicator("on_the_way", timeout=60)
        say.step(f"police: dispatched (POST /alerts/{{id}}/ack); by SMS: {state_sms.text}; button indicator "
                 "'on_the_way' (each state is texted once: a retried acknowledgement sends nothing)")
        mark = button.mark()
        button.wifi(True)
        button.wait_for_log(r"link: connected", timeout=60, since=mark)
        say.step("data is back: the button's MQTT session resumes; the states it already shows come over MQTT too")
        return finish(say, button, dispatch)
    except Exception as exc:
        return failed(say, exc, state_dir)
    finally:
        stop_all(say, state_dir, button, stack.stop, path.close)


def stop_all(say: Narrator, state_dir: Path, button: SimulatedButton | None, *stops: Callable[[], object]) -> None:
    """Everything a demo started, stopped: the button first (a unit losing power), then `stops` in order."""
    if button is not None:
        button.stop()
    for stop in stops:
        stop()
    say.step(f"everything stopped; logs kept in {state_dir}")


def finish(say: Narrator, button: SimulatedButton, dispatch: MqttListener) -> int:
    memory = button.memory()
    if memory:
        say.step(f"button heap: {memory}")
    dispatch.close()
    say.step("demo complete; shutting down")
    return 0


def failed(say: Narrator, exc: Exception, state_dir: Path) -> int:
    say.step(f"demo FAILED: {type(exc).__name__}: {exc}")
    for name in ("gateway/gateway.log", "broker/mosquitto.log", "button.log"):
        path = state_dir / name
        if path.exists():
            print(f"--- last lines of {path}:\n" + "\n".join(path.read_text().splitlines()[-25:]), file=sys.stderr)
    return 1


def next_revision(dispatch: MqttListener, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The next alert revision on dispatch that `wanted` accepts (events and other revisions pass by)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _topic, payload = dispatch.next(max(0.1, deadline - time.monotonic()), "/dispatch/alerts")
        revision: dict[str, Any] = json.loads(payload)
        if wanted(revision):
            return revision
    raise TimeoutError("the expected alert revision did not reach dispatch")


def import_stations(stack: BaseStack) -> str:
    """The sample stations into the gateway's database, as an operator would import a real list."""
    done = subprocess.run([sys.executable, "-m", "gateway.main", "stations", "--database-url",
                           stack.gateway.env["PANIC_DATABASE_URL"], "import", str(SAMPLE_STATIONS)],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"stations import failed: {done.stderr.strip()}")
    return done.stdout.strip().rsplit(": ", 1)[-1]  # "9 created, 0 updated, ..."


def describe(station: dict[str, object] | None) -> str:
    if station is None:
        return "no station (unrouted)"
    return f"{station['name']} [{station['id']}] {station['distance_m']} m"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panic-demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "demo", help="state and logs (default var/demo)")
    parser.add_argument("--broker-port", type=int, default=None, help="broker port (default: a free one)")
    parser.add_argument("--hold-ms", type=int, default=2500, help="how long to hold SOS (default 2500)")
    parser.add_argument("--broker", choices=("mosquitto", "nats"), default="mosquitto",
                        help="one Mosquitto (default) or a 3-node NATS cluster (docs/scaling.md)")
    parser.add_argument("--sms", action="store_true",
                        help="show the SMS path of last resort: data cut, the alert by SMS (docs/sms.md)")
    args = parser.parse_args(argv)
    if args.sms:
        return run_sms(args.dir.resolve(), args.broker_port, args.hold_ms)
    return run(args.dir.resolve(), args.broker_port, args.hold_ms, args.broker)


if __name__ == "__main__":
    sys.exit(main())
