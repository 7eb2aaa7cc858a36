"""Serial console requests (protocol/console.md): imported for one line, then unloaded.

Every request is a JSON object ``{"v":1,"op":...,"id":...}``; every answer is
one JSON object with ``v``, ``id`` (echoed), ``ok`` and either the result or
``error`` (a code) and ``msg`` (what to do). Nothing here ever writes a
secret into an answer or the log: ``set_secrets`` is write-only, ``info``
shows the key's fingerprint only.

Settings are checked with panic.config's own rules (the same code the boot
uses) before anything is written, and each file is replaced atomically
(panic.flash.write_atomic): a power cut leaves the old file or the new one.

A unit that holds a valid device key is *registered*: changing its secrets,
broker or device id then needs ``auth`` = hex HMAC-SHA256(current key,
``console\\n<device_id> <nonce> <op>``) with a nonce from ``challenge``
(single-use). A unit never registered needs nothing.
"""

import binascii
import gc
import json
import os

from panic import VERSION, cfgbase, console, flash, log, mem
from panic.sign import Signer, compare

from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.app import App

_PROTECTED = const(("device_id", "broker_host", "broker_port"))


class _Refused(Exception):
    """args: (error code, message)."""


def handle(app: App, text: bytes) -> tuple:
    """(answer line, action) for one request line; action is "reboot" or ""."""
    rid = None
    try:
        try:
            req = json.loads(text)
        except Exception:
            raise _Refused("bad_json", "not a JSON object; send one JSON request per line")
        if not isinstance(req, dict):
            raise _Refused("bad_json", "not a JSON object; send one JSON request per line")
        rid = req.get("id")
        if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool)):
            rid = None
            raise _Refused("bad_request", "id must be an integer")
        if req.get("v") != 1:
            raise _Refused("bad_version", "this unit speaks console protocol v1")
        op = req.get("op")
        fn = _OPS.get(op) if isinstance(op, str) else None
        if fn is None:
            raise _Refused("unknown_op", "unknown op; known: " + " ".join(sorted(_OPS)))
        out = fn(app, req)
        action = out.pop("_check", "reboot" if op == "reboot" else "")  # configure: the settings to check
    except _Refused as e:
        out = {"ok": False, "error": e.args[0], "msg": e.args[1]}
        action = ""
    finally:
        mem.unload("panic.config")
    out["v"] = 1
    out["id"] = rid
    if "ok" not in out:
        out["ok"] = True
    return json.dumps(out), action


def _dict(req: dict, name: str) -> dict:
    d = req.get(name)
    if not isinstance(d, dict):
        raise _Refused("bad_request", "%s must be a JSON object" % name)
    return d


def _file(path: str) -> dict:
    """A settings file's object, {} when missing or unusable (the console is how to fix it)."""
    try:
        d = json.loads(flash.read(path, 4096) or b"{}")
        return d if isinstance(d, dict) else {}
    except Exception:
        return {}


def device_key() -> bytes | None:
    """The current device key, None on a unit never registered."""
    cfg = cfgbase.Config()
    try:
        cfgbase.add_secrets(cfg, _file(cfgbase.SECRETS_FILE))
    except cfgbase.ConfigError:
        return None
    return cfg.device_key


def device_id(app: App) -> str:
    dev = _file(cfgbase.CONFIG_FILE).get("device_id")
    return str(dev) if cfgbase.valid_device_id(dev) else "pb-" + app.hw.unique_id()


def auth(app: App, req: dict, op: str) -> None:
    key = device_key()
    if key is None:
        return
    nonce = console.nonce
    console.nonce = ""  # single-use, whatever happens next
    proof = req.get("auth")
    if not isinstance(proof, str):
        raise _Refused("auth_required", "this unit is registered: ask a challenge, answer with its HMAC in auth")
    want = Signer(key).mac("console", ("%s %s %s" % (device_id(app), nonce, op)).encode())
    if not nonce or not compare(proof.encode(), want):
        raise _Refused("auth_failed", "wrong or stale proof: ask a new challenge")


def readings(app: App) -> dict:
    hw = app.hw
    link = app.link
    ind = app.ind
    wifi = hw.wifi
    gc.collect()
    r = {
        "button": hw.button.pressed(),
        "power": hw.power(),
        "battery_mv": hw.battery(),
        "wifi": wifi.isconnected(),
        "wifi_rssi": wifi.rssi(),
        "broker": link is not None and link.connected,
        "indicator": ind.state if ind is not None else None,
        "test_mode": app.test_mode,
        "uptime_ms": log.uptime_ms(),
        "heap_free": gc.mem_free(),
    }
    tamper = getattr(hw, "tamper", None)
    r["tamper"] = tamper.pressed() if tamper is not None else None
    return r


def hello(app: App, req: dict) -> dict:
    return {"proto": 1, "fw": VERSION, "device_id": device_id(app), "registered": device_key() is not None}


def info(app: App, req: dict) -> dict:
    key = device_key()
    sec = _file(cfgbase.SECRETS_FILE)
    cfg = app.cfg
    return {
        "proto": 1,
        "fw": VERSION,
        "board": app.hw.name,
        "device_id": device_id(app),
        "registered": key is not None,
        "key": cfgbase.fingerprint(key) if key is not None else None,
        "secrets": sorted(k for k in ("device_key", "mqtt_password", "wifi_password") if k in sec),
        "config": _file(cfgbase.CONFIG_FILE),
        "running": cfg is not None,
        "readings": readings(app),
    }


def configure(app: App, req: dict) -> dict:
    new = _dict(req, "set")
    old = _file(cfgbase.CONFIG_FILE)
    merged = dict(old)
    for k in new:
        if new[k] is None:
            merged.pop(k, None)
        else:
            merged[k] = new[k]
    for k in _PROTECTED:
        if merged.get(k) != old.get(k):
            auth(app, req, "configure")  # first: a refused request never loads panic.config
            break
    # Checked and written by panic.consolecfg once this module is unloaded (panic.console._request):
    # this module, panic.config and a running unit's state do not fit the heap at once.
    return {"reboot_needed": True, "_check": merged}


def _set_secrets(app: App, req: dict) -> dict:
    new = _dict(req, "secrets")
    for k in new:
        if k not in ("device_key", "mqtt_password", "wifi_password"):
            raise _Refused("invalid", "unknown secret %s" % k)
    if "device_key" in new or "mqtt_password" in new:  # a new Wi-Fi password cannot re-point the unit
        auth(app, req, "set_secrets")
    merged = _file(cfgbase.SECRETS_FILE)
    merged.update(new)
    if merged.get("wifi_password", 0) is None:
        merged.pop("wifi_password")
    # A unit not registered yet may get its Wi-Fi password first: stand-ins for what is missing.
    check = dict(merged)
    check.setdefault("device_key", "0" * 64)
    check.setdefault("mqtt_password", "-")
    cfg = cfgbase.Config()
    try:
        cfgbase.add_secrets(cfg, check)
    except cfgbase.ConfigError as e:
        raise _Refused("invalid", e.args[0])  # names the key, never the value
    key = None
    if "device_key" in merged:
        merged["device_key"] = merged["device_key"].lower()
        key = cfgbase.fingerprint(cfg.device_key)
    write(cfgbase.SECRETS_FILE, merged)
    log.info("console", "secrets written key=%s" % key)
    return {"key": key, "reboot_needed": True}


def write(path: str, obj: dict) -> None:
    try:
        flash.write_atomic(path, json.dumps(obj).encode())
    except OSError as e:
        raise _Refused("flash", "writing %s failed errno=%s; the old file is kept" % (path, e.errno))


def challenge(app: App, req: dict) -> dict:
    console.nonce = binascii.hexlify(os.urandom(16)).decode()
    return {"nonce": console.nonce, "device_id": device_id(app)}


def test_mode(app: App, req: dict) -> dict:
    on = req.get("on")
    if not isinstance(on, bool):
        raise _Refused("bad_request", "on must be true or false")
    app.set_test_mode(on)  # in RAM only: a reboot ends it
    log.info("console", "test_mode on=%d" % on)
    return {"test_mode": on}


def selftest(app: App, req: dict) -> dict:
    st = os.statvfs(".")
    return {"readings": readings(app), "flash_free": st[0] * st[3], "running": app.cfg is not None}


def reboot(app: App, req: dict) -> dict:
    return {"rebooting": True}


_OPS = {
    "hello": hello,
    "info": info,
    "configure": configure,
    "set_secrets": _set_secrets,
    "challenge": challenge,
    "test_mode": test_mode,
    "selftest": selftest,
    "reboot": reboot,
}
