"""Chaos soak: many buttons' alerts while the gateway, the broker and dispatch fail at random.

    .venv/bin/python bench/chaos.py [--alerts 1000] [--seconds 120] [--devices 40] [--buttons 2]
                                    [--seed N] [--postgres [ADMIN_URL]] [--keep DIR]

Everything real, on loopback: Mosquitto with the project's config, `panic-gateway` as a child
process (SQLite, or a fresh PostgreSQL database with `--postgres`), devices registered through the
HTTP API, a dispatch desk on a persistent session that sends a receipt for every revision, and
`--buttons` real firmware buttons (simulator/button.py) pressed now and then beside the scripted
devices (their alerts are counted on top of `--alerts`).

The devices are scripted but behave on the wire as the firmware does (protocol/README.md, "Device
session"): client id = username = device id, clean_session false, the retained offline will, the
retained birth on every connect, subscriptions to their own `ack` and `cmd`, signed heartbeats
(QoS 0) and alerts (QoS 1) from one seq counter. Each alert stays in the device's outbox until the
gateway's signed `received` ack and is sent again, the same bytes, after `retry_min`, doubling to
`retry_max`, and at once on every reconnect.

Meanwhile, at seeded random moments (each printed as it happens), one of:
- the gateway is SIGKILLed and restarted;
- the broker is SIGKILLed and restarted;
- the dispatch desk disconnects and comes back;
- the desk disconnects, the broker is SIGKILLed and restarted while it is away, the desk comes back.

After the last press the run drains (bounded by `--drain`), then prints what was pressed, what
reached dispatch, and
- lost: pressed alerts dispatch never got;
- double: copies of an alert_id + rev beyond the first that do NOT carry `"redelivery": true`
  (a documented redelivery is not a double), split into those the broker replayed after a
  SIGKILL and the rest. Mosquitto saves its sessions as a periodic snapshot, so a broker killed
  within a second or two after the desk took (and PUBACKed) its queued copies restores them from
  the snapshot and delivers them again, byte for byte: `redelivery` says what the gateway
  published, and the gateway published them once. A repeat counts as a broker replay when the
  first copy arrived less than SNAPSHOT_S before a broker SIGKILL and the repeat after that
  broker's restart;
- unacked: alerts still in a device's outbox;
- phantom: alerts dispatch got that nobody pressed;
all of which must be 0 (exit status 1 otherwise; broker replays are shown, not failed), and the timings.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.gateway_load import signed
from broker.run import BrokerConfig
from simulator.button import SimulatedButton
from simulator.scratch_db import scratch_postgres
from simulator.stack import Stack

OFFLINE = b'{"state":"offline"}'
POSTGRES_ADMIN_URL = os.environ.get("PANIC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# The firmware buttons' settings: the scripted devices' timing, shorter holds.
BUTTON_HOLD_MS = 1000
BUTTON_CONFIG: dict[str, Any] = {"hold_ms": BUTTON_HOLD_MS, "retry_min_ms": 1000, "retry_max_ms": 8000,
                                 "reconnect_min_ms": 200, "reconnect_max_ms": 2000, "keepalive_s": 30,
                                 "heartbeat_s": 10}
# Mosquitto's snapshot can be this old when it is killed (autosave_interval 1; ~2 s seen).
SNAPSHOT_S = 5.0
# The gateway's receipt back-off, shortened from 10 s → 5 min so that the drain is bounded; the
# mechanism is the same.
GATEWAY_ENV = {"PANIC_DISPATCH_RECEIPT_RETRY_S": "2", "PANIC_DISPATCH_RECEIPT_RETRY_MAX_S": "8",
               "PANIC_LOG_LEVEL": "INFO"}


@dataclass(frozen=True)
class Timing:
    """The device's retransmission and heartbeat timing (firmware defaults: 2 s → 60 s, 30 s)."""
    retry_min: float = 1.0
    retry_max: float = 8.0
    heartbeat: float = 10.0
    keepalive: int = 30


@dataclass
class Pending:
    """One alert in a device's outbox: the exact bytes, sent again until acked."""
    seq: int
    payload: bytes
    pressed: float
    due: float
    backoff: float = 0.0
    sends: int = 0


class Device:
    """A registered button on the wire as the firmware is (see the module docstring)."""

    def __init__(self, broker: BrokerConfig, device_id: str, password: str, key: bytes, timing: Timing,
                 heartbeat_phase: float) -> None:
        self.id, self.key, self.timing = device_id, key, timing
        self.seq = 0
        self.outbox: dict[int, Pending] = {}
        self.acked: dict[int, float] = {}  # seq -> when the signed `received` ack arrived
        self.bad_acks = 0
        self.next_heartbeat = time.monotonic() + heartbeat_phase
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(device_id, password)
        self.client.will_set(self.topic("status"), OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=4)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect_async(broker.host, broker.port, keepalive=timing.keepalive)
        self.client.loop_start()

    def topic(self, leaf: str) -> str:
        return f"panic/v1/dev/{self.id}/{leaf}"

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        birth = json.dumps({"state": "online", "fw": "0.1.0", "up": 1}, separators=(",", ":")).encode()
        client.publish(self.topic("status"), birth, qos=1, retain=True)
        client.subscribe([(self.topic("ack"), 1), (self.topic("cmd"), 1)])
        with self.lock:  # a fresh session: everything pending goes out now
            for entry in self.outbox.values():
                entry.due = 0.0

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not message.topic.endswith("/ack"):
            return
        payload = bytes(message.payload)
        signed_part = payload[:-74] + b"}"
        expected = hmac.new(self.key, message.topic.encode() + b"\n" + signed_part, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(payload[-74:], f',"sig":"{expected}"}}'.encode()):
            self.bad_acks += 1
            return
        ack = json.loads(payload)
        with self.lock:
            if ack["dev"] == self.id and ack["ref"] in self.outbox:
                del self.outbox[ack["ref"]]  # any valid state means the gateway committed it
                self.acked[ack["ref"]] = time.monotonic()

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _body(self, seq: int) -> dict[str, object]:
        return {"v": 1, "dev": self.id, "seq": seq, "ts": int(time.time()), "up": int(time.monotonic() * 1000),
                "bat": 90, "pwr": "mains", "net": "wifi", "rssi": -60}

    def press(self) -> str:
        """A new alert, signed and in the outbox before anything is sent; returns its alert_id."""
        with self.lock:
            seq = self._next_seq()
            body = self._body(seq) | {"type": "sos", "loc": None}
            now = time.monotonic()
            self.outbox[seq] = Pending(seq, signed(self.key, self.topic("alert"), body), now, now)
        return f"{self.id}:{seq}"

    def tick(self, now: float) -> None:
        """Send what is due: alerts with back-off (the same bytes every time), a heartbeat now and then."""
        if not self.client.is_connected():
            return
        with self.lock:
            due = [e for e in self.outbox.values() if e.due <= now]
            for entry in due:
                self.client.publish(self.topic("alert"), entry.payload, qos=1)
                entry.sends += 1
                entry.backoff = self.timing.retry_min if entry.sends == 1 else min(entry.backoff * 2,
                                                                                    self.timing.retry_max)
                entry.due = now + entry.backoff
            if now >= self.next_heartbeat:
                self.next_heartbeat = now + self.timing.heartbeat
                seq = self._next_seq()
                self.client.publish(self.topic("hb"), signed(self.key, self.topic("hb"), self._body(seq)), qos=0)

    def unacked(self) -> int:
        with self.lock:
            return len(self.outbox)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FirmwareButton:
    """A real button: the firmware under `micropython -X heapsize=110K` (simulator/button.py),
    pressed now and then from a thread of its own; its alerts count with the scripted devices'."""

    def __init__(self, stack: Stack, flash: Path, device_id: str) -> None:
        issued = stack.register_button(device_id)
        SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                                  broker_port=stack.broker_config.port, **BUTTON_CONFIG)
        self.id = device_id
        self.button = SimulatedButton(flash)
        self.button.start()
        self.button.wait_for_indicator("idle", timeout=60)
        self.errors = 0

    def run(self, tally: Tally, rng: random.Random, until: float, stop: threading.Event) -> None:
        while not stop.wait(rng.uniform(3.0, 10.0)) and time.monotonic() < until:
            mark = self.button.mark()
            try:
                self.button.press(BUTTON_HOLD_MS + 300)
                held = time.monotonic() - 0.3
                seq = self.button.wait_for_log(r"outbox: stored seq=(\d+)", timeout=15, since=mark).group(1)
            except Exception as exc:  # a device that stops answering is a finding, not a crash of the soak
                self.errors += 1
                print(f"  button {self.id}: {exc!r}", flush=True)
                continue
            tally.pressed[f"{self.id}:{seq}"] = held

    def unacked(self) -> int:
        return len(self.button.outbox())


@dataclass
class Copy:
    rev: int
    redelivery: bool
    mqtt_dup: bool
    at: float


class DispatchDesk:
    """A dispatch consumer as docs/protocol.md asks: fixed client id, persistent session, QoS 1,
    a receipt for every revision once it is recorded. It can be taken away and brought back."""

    CLIENT_ID = "chaos-dispatch-desk"

    def __init__(self, broker: BrokerConfig) -> None:
        self.broker = broker
        self.copies: dict[str, list[Copy]] = defaultdict(list)
        self.lock = threading.Lock()
        self.client: mqtt.Client | None = None
        self.connect()

    def connect(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.CLIENT_ID, clean_session=False,
                             protocol=mqtt.MQTTv311)
        client.username_pw_set("dispatch", self.broker.dispatch_password)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.on_connect = lambda c, *_: c.subscribe("panic/v1/dispatch/alerts", qos=1)
        client.on_message = self._on_message
        client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        client.loop_start()
        self.client = client

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        record = json.loads(message.payload)
        with self.lock:
            self.copies[record["alert_id"]].append(
                Copy(record["rev"], bool(record.get("redelivery")), bool(message.dup), time.monotonic()))
        receipt = {"alert_id": record["alert_id"], "rev": record["rev"], "by": self.CLIENT_ID}
        client.publish("panic/v1/dispatch/receipt", json.dumps(receipt), qos=1)

    def snapshot(self) -> dict[str, list[Copy]]:
        with self.lock:
            return {k: list(v) for k, v in self.copies.items()}


class Chaos:
    """Faults at seeded random moments, one at a time, each printed."""

    KINDS = ("gateway_kill", "broker_kill", "dispatch_away", "broker_kill_while_dispatch_away")

    def __init__(self, stack: Stack, desk: DispatchDesk, rng: random.Random, start: float) -> None:
        self.stack, self.desk, self.rng, self.start = stack, desk, rng, start
        self.done: Counter[str] = Counter()
        self.timeline: list[tuple[float, str]] = []
        self.broker_down: list[tuple[float, float]] = []  # (killed, listening again), monotonic
        self.windows: list[tuple[float, float]] = []  # (fault began, everything back), monotonic

    def say(self, text: str) -> None:
        self.timeline.append((time.monotonic() - self.start, text))
        print(f"  t={time.monotonic() - self.start:6.1f}s  {text}", flush=True)

    def plan(self, seconds: float, gap: tuple[float, float]) -> list[tuple[float, str]]:
        """Moments and kinds: every kind in each round of four, rounds shuffled, until `seconds`."""
        out: list[tuple[float, str]] = []
        at = self.rng.uniform(*gap) / 2
        while at < seconds:
            kinds = list(self.KINDS)
            self.rng.shuffle(kinds)
            for kind in kinds:
                if at >= seconds:
                    break
                out.append((at, kind))
                at += self.rng.uniform(*gap)
        return out

    def run(self, plan: list[tuple[float, str]], stop: threading.Event) -> None:
        for at, kind in plan:
            if stop.wait(max(0.0, self.start + at - time.monotonic())):
                return
            began = time.monotonic()
            getattr(self, kind)()
            self.windows.append((began, time.monotonic()))
            self.done[kind] += 1

    def gateway_kill(self) -> None:
        gateway = self.stack.gateway
        assert gateway.process is not None
        pid = gateway.process.pid
        gateway.process.kill()
        gateway.process.wait()
        gateway.process = None
        down = self.rng.uniform(0.0, 3.0)
        self.say(f"chaos: SIGKILL gateway (pid {pid}); down {down:.1f} s")
        time.sleep(down)
        gateway.start(timeout=60)
        self.say("chaos: gateway restarted")

    def _kill_broker(self) -> None:
        broker = self.stack.broker
        assert broker.process is not None
        pid = broker.process.pid
        killed = time.monotonic()
        broker.process.kill()
        broker.process.wait()
        if broker.process.stderr:
            broker.process.stderr.close()
        broker.process = None
        down = self.rng.uniform(0.5, 3.0)
        self.say(f"chaos: SIGKILL broker (pid {pid}); down {down:.1f} s")
        time.sleep(down)
        broker.start()
        self.broker_down.append((killed, time.monotonic()))
        self.say("chaos: broker restarted")

    def broker_kill(self) -> None:
        self._kill_broker()

    def dispatch_away(self) -> None:
        away = self.rng.uniform(2.0, 8.0)
        self.desk.disconnect()
        self.say(f"chaos: dispatch desk disconnected for {away:.1f} s")
        time.sleep(away)
        self.desk.connect()
        self.say("chaos: dispatch desk reconnected")

    def broker_kill_while_dispatch_away(self) -> None:
        self.desk.disconnect()
        self.say("chaos: dispatch desk disconnected (alerts queue up for it at the broker)")
        time.sleep(self.rng.uniform(1.0, 4.0))
        self._kill_broker()
        time.sleep(self.rng.uniform(0.5, 3.0))
        self.desk.connect()
        self.say("chaos: dispatch desk reconnected")


@dataclass
class Tally:
    pressed: dict[str, float] = field(default_factory=dict)  # alert_id -> press time
    scripted_done: threading.Event = field(default_factory=threading.Event)  # every scheduled press made


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.999999) - 1))]


def spread(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (f"median {statistics.median(values) * 1e3:8.1f} ms   p99 {percentile(values, 0.99) * 1e3:8.1f} ms   "
            f"max {max(values) * 1e3:8.1f} ms   (n={len(values)})")


@contextlib.contextmanager
def database(postgres: str | None, state_dir: Path) -> Iterator[str]:
    """SQLite in the state directory, or a fresh PostgreSQL database dropped afterwards."""
    if postgres is None:
        yield f"sqlite:///{state_dir / 'gateway' / 'gateway.db'}"
        return
    with scratch_postgres(postgres, "panic_chaos") as url:
        yield url


def register(stack: Stack, count: int, rng: random.Random, timing: Timing) -> list[Device]:
    devices = []
    for _ in range(count):
        device_id = "pb-" + "".join(rng.choice("0123456789abcdef") for _ in range(12))
        issued = stack.register_button(device_id)
        devices.append(Device(stack.broker_config, device_id, issued["mqtt_password"],
                              bytes.fromhex(issued["device_key"]), timing, rng.uniform(0, timing.heartbeat)))
    return devices


def drive(devices: list[Device], presses: list[tuple[float, int]], tally: Tally, start: float,
          stop: threading.Event) -> None:
    """Press on schedule and keep every device's delivery going until `stop`."""
    upcoming = iter(presses)
    nxt = next(upcoming, None)
    while not stop.is_set():
        now = time.monotonic()
        while nxt is not None and start + nxt[0] <= now:
            alert_id = devices[nxt[1]].press()
            tally.pressed[alert_id] = time.monotonic()
            nxt = next(upcoming, None)
        if nxt is None:
            tally.scripted_done.set()
        for device in devices:
            device.tick(now)
        stop.wait(0.02)


def report(devices: list[Device], buttons: list[FirmwareButton], desk: DispatchDesk, tally: Tally, chaos: Chaos,
           drained_in: float | None, seconds: float) -> bool:
    copies = desk.snapshot()
    names = {b.id for b in buttons}
    pressed = tally.pressed
    lost = sorted(set(pressed) - set(copies))
    phantom = sorted(set(copies) - set(pressed))
    double, replayed, redelivered = 0, 0, 0
    for found in copies.values():
        by_rev: dict[int, list[Copy]] = defaultdict(list)
        for c in found:
            by_rev[c.rev].append(c)
        for same in by_rev.values():
            plain = [c for c in same if not c.redelivery]
            redelivered += len(same) - len(plain)
            double += max(0, len(plain) - 1)
            replayed += sum(1 for c in plain[1:] if any(killed - SNAPSHOT_S < plain[0].at < killed <= back <= c.at
                                                        for killed, back in chaos.broker_down))
    unacked = sum(d.unacked() for d in devices) + sum(b.unacked() for b in buttons)
    to_dispatch = [min(c.at for c in copies[a]) - pressed[a] for a in pressed if a in copies]
    # Pressed with every part up: outside a fault, and not within a few seconds before one.
    calm = [min(c.at for c in copies[a]) - pressed[a] for a in pressed if a in copies and not any(
        began - 3.0 <= pressed[a] <= back for began, back in chaos.windows)]
    acked_at = {f"{d.id}:{seq}": t for d in devices for seq, t in d.acked.items()}
    to_ack = [acked_at[a] - pressed[a] for a in pressed if a in acked_at]
    total_copies = sum(len(v) for v in copies.values())
    print()
    print(f"chaos: {dict(chaos.done)}")
    print(f"alerts pressed          {len(pressed)} over {seconds:.0f} s by {len(devices)} scripted devices "
          f"and {len(buttons)} firmware buttons ({sum(1 for a in pressed if a.split(':')[0] in names)} by those)")
    print(f"delivered to dispatch   {len(pressed) - len(lost)} alerts in {total_copies} copies "
          f"({redelivered} flagged redelivery)")
    print(f"lost                    {len(lost)}" + (f"   e.g. {lost[:5]}" if lost else ""))
    print(f"double                  {double}   = {replayed} replayed by the broker after a SIGKILL "
          f"+ {double - replayed} other")
    print(f"unacked                 {unacked}")
    print(f"phantom                 {len(phantom)}")
    print(f"bad acks at devices     {sum(d.bad_acks for d in devices)}; firmware buttons not answering "
          f"{sum(b.errors for b in buttons)}")
    print(f"press → dispatch (first copy)  {spread(to_dispatch)}")
    print(f"  of those pressed with all up  {spread(calm)}")
    print(f"press → signed ack at device   {spread(to_ack)}")
    print("drained after last press       " + (f"{drained_in:.1f} s" if drained_in is not None else "NOT drained"))
    return not (lost or double - replayed or unacked or phantom)


def dump(path: Path, desk: DispatchDesk, tally: Tally, chaos: Chaos, start: float) -> None:
    """What happened, for a closer look at a loss or a double (times in s from the start)."""
    path.write_text(json.dumps({
        "faults": chaos.timeline,
        "pressed": {a: t - start for a, t in tally.pressed.items()},
        "copies": {a: [[c.rev, c.redelivery, c.mqtt_dup, c.at - start] for c in found]
                   for a, found in desk.snapshot().items()},
    }))
    print(f"details in {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=1000, help="alerts pressed in all (default 1000)")
    parser.add_argument("--seconds", type=float, default=120.0, help="pressing lasts this long (default 120)")
    parser.add_argument("--devices", type=int, default=40, help="scripted devices (default 40)")
    parser.add_argument("--buttons", type=int, default=2,
                        help="real firmware buttons (MicroPython) besides the scripted devices (default 2)")
    parser.add_argument("--seed", type=int, default=None, help="seed of every random choice (default: random)")
    parser.add_argument("--gap", type=float, nargs=2, default=(6.0, 14.0), metavar=("MIN", "MAX"),
                        help="seconds between faults (default 6 14)")
    parser.add_argument("--drain", type=float, default=120.0, help="longest wait after the last press (default 120)")
    parser.add_argument("--postgres", nargs="?", const=POSTGRES_ADMIN_URL, default=None, metavar="ADMIN_URL",
                        help=f"run the gateway on a fresh PostgreSQL database (default server {POSTGRES_ADMIN_URL})")
    parser.add_argument("--keep", type=Path, default=None, help="state directory to keep (logs, database)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    timing = Timing()
    print(f"chaos soak: seed {seed}, {args.alerts} alerts over {args.seconds:g} s from {args.devices} devices, "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}; device retry {timing.retry_min:g}→{timing.retry_max:g} s, "
          f"gateway receipt retry {GATEWAY_ENV['PANIC_DISPATCH_RECEIPT_RETRY_S']}→"
          f"{GATEWAY_ENV['PANIC_DISPATCH_RECEIPT_RETRY_MAX_S']} s", flush=True)
    with contextlib.ExitStack() as cleanup:
        state = args.keep or Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        url = cleanup.enter_context(database(args.postgres, state))
        stack = cleanup.enter_context(Stack(state, database_url=url, gateway_env=GATEWAY_ENV))
        devices = register(stack, args.devices, rng, timing)
        for device in devices:
            cleanup.callback(device.close)
        buttons = [FirmwareButton(stack, state / f"button-{i}", "pb-" + "".join(rng.choice("0123456789abcdef")
                                                                                  for _ in range(12)))
                   for i in range(args.buttons)]
        for button in buttons:
            cleanup.callback(button.button.stop)
        desk = DispatchDesk(stack.broker_config)
        cleanup.callback(desk.disconnect)
        presses = sorted((rng.uniform(0, args.seconds), rng.randrange(args.devices)) for _ in range(args.alerts))
        time.sleep(2)  # sessions up
        start = time.monotonic()
        tally, stop_chaos, stop_driving = Tally(), threading.Event(), threading.Event()
        chaos = Chaos(stack, desk, rng, start)
        plan = chaos.plan(args.seconds, tuple(args.gap))
        print(f"{len(plan)} faults planned: " + ", ".join(f"{k}@{t:.1f}s" for t, k in plan), flush=True)
        chaos_thread = threading.Thread(target=chaos.run, args=(plan, stop_chaos), daemon=True)
        driver = threading.Thread(target=drive, args=(devices, presses, tally, start, stop_driving), daemon=True)
        pressers = [threading.Thread(target=b.run, args=(tally, random.Random(rng.random()), start + args.seconds,
                                                          stop_chaos), daemon=True) for b in buttons]
        chaos_thread.start()
        driver.start()
        for presser in pressers:
            presser.start()
        chaos_thread.join()  # the last fault ends before the drain starts
        for presser in pressers:
            presser.join()
        tally.scripted_done.wait()
        last_press = max(tally.pressed.values())
        print(f"  t={time.monotonic() - start:6.1f}s  pressing done; draining", flush=True)
        drained_in = None
        while time.monotonic() - last_press < args.drain:
            delivered = desk.snapshot()
            if all(d.unacked() == 0 for d in devices) and set(tally.pressed) <= set(delivered):
                drained_in = time.monotonic() - last_press
                break
            time.sleep(0.5)
        time.sleep(5)  # late copies (a redelivery in flight) still count
        stop_driving.set()
        driver.join()
        ok = report(devices, buttons, desk, tally, chaos, drained_in, args.seconds)
        if args.keep:
            dump(args.keep / "chaos.json", desk, tally, chaos, start)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
