"""`panic-provision`: from a blank ESP32 to a registered, tested button over one USB cable.

    panic-provision ports
    panic-provision flash --port P [--image micropython.bin] [--chip esp32]
    panic-provision info --port P
    panic-provision configure --port P [--broker HOST:PORT ...] [--wifi-ssid S] [--set KEY=VALUE ...]
    panic-provision register --port P --gateway URL --owner ID --premises ID --broker HOST:PORT
    panic-provision check --port P [--yes]
    panic-provision rekey --port P --gateway URL
    panic-provision test-alert --port P --gateway URL
    panic-provision batch FILE.csv --gateway URL --broker HOST:PORT

The technician token comes from PANIC_TOKEN or --token-file, never from a
flag (it would show in `ps`). The device key and broker password go from the
gateway's answer straight into the unit over the console: they are never
printed, logged or written on this computer. docs/provisioning.md is the
technician's guide.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial
from serial.tools import list_ports

from provision.console import Console, DeviceError, PortError, port_problem
from provision.gateway import Gateway, GatewayError, token
from provision.rawrepl import RawRepl, ReplError, copy_deploy, romfs_file
from provision.texts import Texts, language

# USB VID:PID of the bridges ESP32 boards carry
ESP32_USB = {(0x10C4, 0xEA60): "CP210x", (0x1A86, 0x7523): "CH340", (0x1A86, 0x55D4): "CH9102",
             (0x303A, 0x1001): "ESP32-S3 USB-JTAG", (0x0403, 0x6001): "FTDI"}
# where the MicroPython image goes, per chip (esptool write_flash offset)
IMAGE_OFFSET = {"esp32": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0"}


class Failed(Exception):
    """A problem already explained to the technician (args[0] is the text)."""


TLS_SCHEME = "mqtts://"


def _broker(text: str) -> tuple[str, int, bool]:
    """HOST:PORT, or mqtts://HOST:PORT for an endpoint reached over TLS: (host, port, tls)."""
    tls = text.startswith(TLS_SCHEME)
    host, sep, port = text.removeprefix(TLS_SCHEME).rpartition(":")
    if not sep or not host or "/" in host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT or mqtts://HOST:PORT, got {text!r}")
    return host, int(port), tls


def _setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


# -- verbs -------------------------------------------------------------------

def ports(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        kind = ESP32_USB.get((p.vid or 0, p.pid or 0))
        mark = f"  <- ESP32? ({kind})" if kind else ""
        ident = f"{p.vid:04X}:{p.pid:04X}" if p.vid is not None and p.pid is not None else "-"
        out(f"{p.device}  {ident}  {p.description}{mark}")
    return 0


def esptool_commands(port: str, image: Path, chip: str, baud: int = 460800) -> list[list[str]]:
    """The exact esptool runs `flash` makes (verified on hardware only; tests hold the arguments)."""
    base = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud)]
    return [[*base, "erase-flash"], [*base, "write-flash", "-z", IMAGE_OFFSET[chip], str(image)]]


def romfs_command(port: str, image: Path) -> list[str]:
    """The mpremote run that writes a ROMFS image (`panic-fw build --romfs`) to the unit's romfs partition.

    mpremote's own `romfs deploy` (raw REPL, vfs.rom_ioctl). Not yet run on an ESP32; tests hold the arguments.
    """
    return [sys.executable, "-m", "mpremote", "connect", port, "romfs", "deploy", str(image)]


def flash(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    commands = esptool_commands(args.port, args.image, args.chip) if args.image is not None else []
    try:  # before anything is erased or written: a deploy folder as panic-fw build made it
        image = romfs_file(args.deploy)
    except ReplError as e:
        raise Failed(t("fail") + f": {e}") from None
    if image is not None:  # the package as a ROMFS image: into its partition first, then the files
        commands.append(romfs_command(args.port, image))
    for cmd in commands:
        out("$ " + " ".join(cmd[2:]))
        if subprocess.run(cmd, check=False).returncode != 0:
            raise Failed(t("fail") + ": " + " ".join(cmd[2:]))
    try:
        port = serial.Serial(args.port, 115200, timeout=0.5, exclusive=True)
    except serial.SerialException as e:
        raise PortError(port_problem(e), args.port) from None
    with port:
        repl = RawRepl(port)
        try:
            repl.enter()
            copy_deploy(repl, args.deploy, out)
        except ReplError as e:
            raise Failed(t("fail") + f": {e}") from None
        finally:
            repl.leave()
    return 0


def _board_modem(board: str | None) -> str | None:
    """The modem model of a board definition this checkout knows (hardware/board.json), by board name."""
    path = Path(__file__).resolve().parents[1] / "hardware" / "board.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    modem = data.get("modem") if isinstance(data, dict) and data.get("name") == board else None
    return str(modem["model"]) if isinstance(modem, dict) and modem.get("model") else None


def seen_now(r: dict[str, Any], board: str | None, t: Texts) -> list[tuple[str, str]]:
    """What the unit sees now, one (name, text) per reading (protocol/console.md, `readings`)."""
    rows = [("button", t("pressed") if r.get("button") else t("not_pressed"))]
    tamper = r.get("tamper")
    rows.append(("tamper", t("no_sensor") if tamper is None else t("open") if tamper else t("closed")))
    mv = r.get("battery_mv")
    rows.append(("power", f"{r.get('power')}, {t('battery')} " + (t("unknown") if mv is None else f"{mv} mV")))
    if r.get("gps") is None:
        rows.append(("gps", t("no_receiver")))
    else:
        age, sats = r.get("gps_age_ms"), r.get("gps_sats")
        sats_text = "?" if sats is None else str(sats)
        if r.get("gps"):
            rows.append(("gps", t("gps_fix", sats=sats_text, age=round((age or 0) / 1000))))
        elif age is not None:
            rows.append(("gps", t("gps_old", age=round(age / 1000))))
        else:
            rows.append(("gps", t("gps_none")))
    modem = r.get("modem")
    if isinstance(modem, dict):
        rssi = modem.get("rssi")
        text = f"{modem.get('model')}: {modem.get('reg')}" + ("" if rssi is None else f", rssi {rssi} dBm")
        rows.append(("modem", text + (f", {modem['operator']}" if modem.get("operator") else "")))
    else:
        rows.append(("modem", t("modem_unused", model=_board_modem(board) or t("unknown"))))
    rows.append(("wifi", t("wifi_up", rssi=r.get("wifi_rssi")) if r.get("wifi") else t("wifi_down")))
    ep = r.get("broker_ep")
    where = f"{ep[0]}:{ep[1]}" if isinstance(ep, list) and len(ep) == 2 else "-"
    rows.append(("broker", t("broker_up", ep=where) if r.get("broker") else t("broker_down", ep=where)))
    rows.append(("heap", t("heap", free=r.get("heap_free"), low=r.get("heap_low"))))
    return rows


def info(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    with Console(args.port) as con:
        answer = con.request("info")
    for key in ("device_id", "fw", "board", "registered", "key", "secrets", "running"):
        out(f"{key:12} {answer.get(key)}")
    out(f"{'config':12} {json.dumps(answer.get('config'), sort_keys=True)}")
    out(t("sees_now") + ":")
    for name, text in seen_now(answer.get("readings") or {}, answer.get("board"), t):
        out(f"  {name:10} {text}")
    return 0


def with_proof(con: Console, gw: Gateway | None, op: str, **fields: Any) -> dict[str, Any]:
    """`op` on the unit; when a registered unit wants a proof, the gateway makes it with the unit's key
    (POST /devices/{id}/console-proof), so the key never comes here (protocol/console.md)."""
    try:
        return con.request(op, **fields)
    except DeviceError as e:
        if e.code != "auth_required" or gw is None:
            raise
    challenge = con.request("challenge")
    proof = gw.call("POST", f"/devices/{challenge['device_id']}/console-proof",
                    {"nonce": challenge["nonce"], "op": op})
    return con.request(op, auth=proof["auth"], **fields)


def _configure(con: Console, gw: Gateway | None, settings: dict[str, Any]) -> None:
    if settings:
        with_proof(con, gw, "configure", set=settings)
    wifi_password = os.environ.get("PANIC_WIFI_PASSWORD")
    if wifi_password is not None:
        con.request("set_secrets", secrets={"wifi_password": wifi_password})


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = dict(getattr(args, "set", []) or [])
    brokers = getattr(args, "broker", None) or []
    if len(brokers) == 1 and not brokers[0][2]:
        settings["broker_host"], settings["broker_port"], _ = brokers[0]
    elif brokers:  # a cluster's endpoints, in the order the unit tries them (docs/scaling.md), or one over TLS
        settings["brokers"] = [{"host": host, "port": port, **({"tls": True} if tls else {})}
                               for host, port, tls in brokers]
    if getattr(args, "wifi_ssid", None):
        settings["wifi_ssid"] = args.wifi_ssid
    return settings


def configure(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    if args.wifi_password_prompt:
        os.environ["PANIC_WIFI_PASSWORD"] = getpass.getpass("Wi-Fi password: ")
    gw = Gateway(args.gateway, token(args.token_file)) if args.gateway else None
    with Console(args.port) as con:
        _configure(con, gw, _settings(args))
        out(t("configured"))
        con.request("reboot")
        con.wait_up()
    return 0


def _readings(con: Console) -> dict[str, Any]:
    """The unit's readings now for a polling loop; {} when it could not answer this time for lack of heap
    (`internal`, already asked twice: the loop asks again)."""
    try:
        return con.request("info").get("readings") or {}
    except DeviceError as e:
        if e.code != "internal":
            raise
        return {}


def _online(con: Console, dev: str, t: Texts, out: Callable[[str], None], wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        readings = _readings(con)
        if readings.get("broker"):
            out(t("online", dev=dev))
            return
        if time.monotonic() > deadline:
            raise Failed(t("not_online", dev=dev, s=int(wait)))
        time.sleep(0.5)


def register(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    gw = Gateway(args.gateway, token(args.token_file))
    with Console(args.port) as con:
        return register_unit(con, gw, args.owner, args.premises, _settings(args), t, out, args.wait)


def register_unit(con: Console, gw: Gateway, owner: str, premises: str, settings: dict[str, Any], t: Texts,
              out: Callable[[str], None], wait: float) -> int:
    unit = con.request("info")
    dev = str(unit["device_id"])
    known = gw.device(dev)  # also proves the gateway and the token before anything is written
    if unit.get("registered"):
        if known is None or known.get("key_fingerprint") != unit.get("key") or known.get("status") != "active":
            raise Failed(t("elsewhere", dev=dev, key=unit.get("key")))
        if (known.get("owner_id"), known.get("premises_id")) != (owner, premises):
            raise Failed(t("gateway_error", msg=f"{dev} belongs to owner {known.get('owner_id')} / premises "
                                                  f"{known.get('premises_id')}, not {owner} / {premises}"))
        out(t("already", dev=dev, key=unit.get("key")))
        if not (unit.get("readings") or {}).get("broker"):
            con.request("reboot")
            con.wait_up()
        _online(con, dev, t, out, wait)
        return 0
    # Unregistered: settings first (checked by the unit), then the credentials; a cable pulled
    # anywhere before set_secrets leaves an unregistered unit, and running this again re-issues
    # (the gateway's registration of a device never heard from is retry-safe).
    con.request("configure", set={**settings, "device_id": dev})  # the id the key is issued for, kept on flash
    issued = gw.call("POST", "/devices", {"device_id": dev, "owner_id": owner, "premises_id": premises})
    secrets = {"device_key": issued.pop("device_key"), "mqtt_password": issued.pop("mqtt_password")}
    try:
        answer = con.request("set_secrets", secrets=secrets)
    finally:
        secrets.clear()
    if answer.get("key") != issued.get("key_fingerprint"):
        raise Failed(t("device_error", code="key_mismatch", msg="the unit stored another key; run register again"))
    out(t("registered", dev=dev, key=answer.get("key")))
    out(t("rebooting"))
    con.request("reboot")
    con.wait_up()
    _online(con, dev, t, out, wait)
    return 0


def _ask(question: str, args: argparse.Namespace, out: Callable[[str], None]) -> bool | None:
    """The technician's y/n answer; None (not confirmed) with --yes or without a terminal to ask on."""
    if args.yes or (not sys.stdin.isatty() and not args.ask):
        return None
    out(question + " [y/n]")
    answer = sys.stdin.readline().strip().lower()
    return answer[:1] in ("y", "j") if answer else None  # y(es) / y(a) / j(a); nothing: not confirmed


def rekey(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    """New device key and broker password for a registered unit, straight from the gateway into the unit.

    The gateway issues them with the proof of the key the unit holds now (POST /devices/{id}/console-rekey);
    they go into one `set_secrets` and are never printed, logged or written here. A cut anywhere is
    completed by running the same command again: until the unit stores the new key it still holds the old
    one, and the gateway proves with that one and issues anew. Once the unit is back on the broker with the
    new key and has delivered what it signed with the old one (outbox empty), the old key is refused."""
    gw = Gateway(args.gateway, token(args.token_file))
    with Console(args.port) as con:
        unit = con.request("info")
        dev, old = str(unit["device_id"]), unit.get("key")
        if not unit.get("registered"):
            raise Failed(t("not_registered", dev=dev))
        known = gw.device(dev)  # proves the gateway and the token before anything changes
        if known is None:
            raise Failed(t("elsewhere", dev=dev, key=old))
        challenge = con.request("challenge")
        issued = gw.call("POST", f"/devices/{dev}/console-rekey",
                         {"nonce": challenge["nonce"], "key_fingerprint": old})
        secrets = {"device_key": issued.pop("device_key"), "mqtt_password": issued.pop("mqtt_password")}
        try:
            answer = con.request("set_secrets", secrets=secrets, auth=issued["auth"])
        finally:
            secrets.clear()
        if answer.get("key") != issued.get("key_fingerprint"):
            raise Failed(t("device_error", code="key_mismatch", msg="the unit stored another key; run rekey again"))
        out(t("rekeyed", dev=dev, old=old, key=answer.get("key")))
        out(t("rebooting"))
        con.request("reboot")
        con.wait_up()
        _online(con, dev, t, out, args.wait)
        deadline = time.monotonic() + args.wait
        while _readings(con).get("outbox", 1):
            if time.monotonic() > deadline:
                out(t("grace_kept", dev=dev))
                return 0
            time.sleep(0.5)
    gw.call("DELETE", f"/devices/{dev}/previous-key")
    out(t("old_key_refused", old=old))
    return 0


def check(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    """Self-test: the unit's readings judged here, the LED/buzzer and a press confirmed by the technician.
    A step nobody confirmed (--yes, no terminal) is NOT CONFIRMED, never a pass."""
    rows: list[tuple[str, bool | None, str]] = []
    with Console(args.port) as con:
        st = con.request("selftest")
        r = st.get("readings") or {}
        seen = dict(seen_now(r, None, t))
        rows.append(("config", bool(st.get("running")), "running" if st.get("running") else "no valid config"))
        rows.append(("power", r.get("power") in ("mains", "battery"), seen["power"]))
        rows.append(("tamper", r.get("tamper") is not True, seen["tamper"]))
        if r.get("gps") is not None:  # a board without a receiver has no GPS row
            rows.append(("gps", bool(r.get("gps")), seen["gps"]))
        modem = r.get("modem")
        if isinstance(modem, dict):
            rows.append(("modem", modem.get("reg") in ("home", "roaming"), seen["modem"]))
        else:
            rows.append(("modem", None, t("not_checked") + ": " + t("modem_unused", model=_board_modem(
                con.request("info").get("board")) or t("unknown"))))
        rows.append(("wifi", bool(r.get("wifi")), seen["wifi"]))
        rows.append(("broker", bool(r.get("broker")), seen["broker"]))
        low = r.get("heap_low")
        rows.append(("heap", int(low if low is not None else r.get("heap_free") or 0) > 8192, seen["heap"]))
        shown = con.request("identify")
        if not shown.get("led"):
            rows.append(("led", False, t("led_not_shown")))
        else:
            said = _ask(t("led_ask"), args, out)
            rows.append(("led", said, t("said_yes") if said else t("said_no") if said is False else t("not_confirmed")))
            if shown.get("buzzer"):
                said = _ask(t("buzzer_ask"), args, out)
                rows.append(("buzzer", said,
                             t("said_yes") if said else t("said_no") if said is False else t("not_confirmed")))
            else:
                rows.append(("buzzer", None, t("no_buzzer")))
        if not args.no_press:
            out(t("press_now"))
            deadline = time.monotonic() + args.wait
            pressed = False
            while not pressed and time.monotonic() < deadline:
                pressed = bool(_readings(con).get("button"))
                time.sleep(0.05)
            rows.append(("button", pressed, "pressed" if pressed else "no press seen"))

    def verdict(ok: bool | None) -> str:
        return t("pass") if ok else t("fail") if ok is False else t("unconfirmed")

    _table(out, ["check", "result", "detail"], [[n, verdict(ok), d] for n, ok, d in rows])
    failed = [n for n, ok, _ in rows if ok is False]
    unconfirmed = [n for n, ok, _ in rows if ok is None and n in ("led", "buzzer")]
    return 1 if failed else 3 if unconfirmed else 0


def test_alert(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    gw = Gateway(args.gateway, token(args.token_file))
    with Console(args.port) as con:
        dev = str(con.request("hello")["device_id"])
        before = {a["alert_id"] for a in gw.call("GET", f"/alerts?device_id={dev}&limit=50")}
        con.request("test_mode", on=True)
        try:
            out(t("press_now"))
            deadline = time.monotonic() + args.wait
            while True:
                new = [a for a in gw.call("GET", f"/alerts?device_id={dev}&limit=50") if a["alert_id"] not in before]
                if new:
                    break
                if time.monotonic() > deadline:
                    raise Failed(t("test_none", dev=dev, s=int(args.wait)))
                time.sleep(0.3)
        finally:
            con.request("test_mode", on=False)
    alert = new[-1]
    if alert["type"] != "test":
        raise Failed(t("test_not_marked", alert=alert["alert_id"], type=alert["type"]))
    out(t("test_ok", alert=alert["alert_id"]))
    return 0


def _table(out: Callable[[str], None], head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    for row in [head, ["-" * w for w in widths], *rows]:
        out("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())


def _next_port(known: set[str], out: Callable[[str], None], t: Texts, wait: float) -> str:
    out(t("wait_port"))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for p in list_ports.comports():
            if p.device not in known:
                return str(p.device)
        time.sleep(0.5)
    raise Failed(t("port_missing", port="(next)"))


def batch(args: argparse.Namespace, t: Texts, out: Callable[[str], None]) -> int:
    """One unit per CSV row (owner, premises, port or "next"); a log of done rows makes it resumable."""
    gw = Gateway(args.gateway, token(args.token_file))
    rows = list(csv.DictReader(args.file.open(newline="")))
    log_path = args.log or args.file.with_suffix(".log")
    done: dict[int, dict[str, Any]] = {}
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            logged = json.loads(line)
            if logged.get("status") == "ok":
                done[int(logged["row"])] = logged
    results: list[list[str]] = []
    known = {p.device for p in list_ports.comports()}
    settings = _settings(args)
    for n, row in enumerate(rows, 1):
        bar = "#" * n + "." * (len(rows) - n)
        out(f"[{bar}] " + t("row", n=n, total=len(rows), what=f"{row['owner']} / {row['premises']}"))
        if n in done:
            out("  " + t("skip_done"))
            results.append([str(n), str(done[n].get("device_id")), t("pass"), t("skip_done")])
            continue
        entry: dict[str, Any] = {"row": n}
        try:
            port = row.get("port") or "next"
            if port == "next":
                port = _next_port(known, out, t, args.wait)
                known.add(port)
            with Console(port) as con:
                entry["device_id"] = con.request("hello")["device_id"]
                register_unit(con, gw, row["owner"], row["premises"], settings, t, lambda s: out("  " + s), args.wait)
            entry["status"] = "ok"
            results.append([str(n), str(entry["device_id"]), t("pass"), ""])
        except (Failed, PortError, DeviceError, GatewayError) as e:
            entry["status"] = "failed"
            entry["error"] = explain(e, t)
            out("  " + entry["error"])
            results.append([str(n), str(entry.get("device_id", "-")), t("fail"), entry["error"]])
        with log_path.open("a") as f:
            f.write(json.dumps(entry) + "\n")
    out(t("summary") + ":")
    _table(out, ["row", "device", "result", "detail"], results)
    return 0 if all(r[2] == t("pass") for r in results) else 1


# -- command line ----------------------------------------------------------------------------------

def explain(e: Exception, t: Texts) -> str:
    if isinstance(e, PortError):
        return t(e.args[0], port=e.args[1])
    if isinstance(e, DeviceError):
        return t("device_error", code=e.code, msg=e.msg)
    if isinstance(e, GatewayError):
        key, detail = e.args
        return t(key, url=detail, msg=detail)
    return str(e.args[0]) if e.args else type(e).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panic-provision", description="Provision panic buttons over serial.")
    parser.add_argument("--lang", choices=["en", "id"], help="language of the messages (default: the locale)")
    sub = parser.add_subparsers(dest="verb", required=True)

    def verb(name: str, help_text: str, port: bool = True, gateway: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        if port:
            p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 (see `ports`)")
        if gateway:
            p.add_argument("--gateway", required=True, help="gateway API URL, e.g. https://gw.example.org")
            p.add_argument("--token-file", type=Path, help="file holding the technician token (else PANIC_TOKEN)")
        p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the unit (default 30)")
        return p

    verb("ports", "list serial ports, ESP32 boards marked", port=False)
    p = verb("flash", "write MicroPython and copy the compiled firmware")
    p.add_argument("--image", type=Path, help="MicroPython .bin for the chip (omit to copy the firmware only)")
    p.add_argument("--chip", choices=sorted(IMAGE_OFFSET), default="esp32")
    p.add_argument("--deploy", type=Path, default=Path("build/deploy"), help="deploy folder from `panic-fw build`")
    verb("info", "what the unit is and sees now")
    for name, text, gw in (("configure", "write settings (checked on the unit)", False),
                           ("register", "register at the gateway and write the credentials", True)):
        p = verb(name, text, gateway=gw)
        if not gw:
            p.add_argument("--gateway", help="gateway API URL: a registered unit's broker or id changes only with "
                                             "a proof the gateway makes with the unit's key")
            p.add_argument("--token-file", type=Path, help="file holding the technician token (else PANIC_TOKEN)")
        p.add_argument("--broker", type=_broker, action="append",
                       help="HOST:PORT of the MQTT broker the unit uses (mqtts://HOST:PORT: over TLS); repeat "
                            "for each endpoint of a clustered broker, in the order the unit tries them")
        p.add_argument("--wifi-ssid")
        p.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE")
        if name == "register":
            p.add_argument("--owner", required=True)
            p.add_argument("--premises", required=True)
        else:
            p.add_argument("--wifi-password-prompt", action="store_true",
                           help="ask for the Wi-Fi password (or set PANIC_WIFI_PASSWORD)")
    p = verb("check", "self-test with a pass/fail table")
    p.add_argument("--no-press", action="store_true", help="skip the button-press step")
    p.add_argument("--yes", action="store_true",
                   help="do not ask about the LED and buzzer (batch): they are reported NOT CONFIRMED")
    p.add_argument("--ask", action="store_true", help="ask about the LED and buzzer even without a terminal")
    verb("rekey", "new device key and broker password from the gateway, written with the current key's proof",
         gateway=True)
    verb("test-alert", "test mode, a real press, confirmed at the gateway", gateway=True)
    p = verb("batch", "many units in a row from a CSV file (owner,premises,port)", port=False, gateway=True)
    p.add_argument("file", type=Path)
    p.add_argument("--log", type=Path, help="resumable log (default FILE.log)")
    p.add_argument("--broker", type=_broker, action="append", help="as for register; repeatable")
    p.add_argument("--wifi-ssid")
    p.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE")
    return parser


VERBS: dict[str, Callable[[argparse.Namespace, Texts, Callable[[str], None]], int]] = {
    "ports": ports, "flash": flash, "info": info, "configure": configure, "register": register,
    "check": check, "rekey": rekey, "test-alert": test_alert, "batch": batch,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    t = Texts(language(args.lang))

    def out(text: str) -> None:
        print(text, flush=True)

    try:
        return VERBS[args.verb](args, t, out)
    except (Failed, PortError, DeviceError, GatewayError) as e:
        print(explain(e, t), file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
