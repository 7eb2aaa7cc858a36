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

Names cost heap for good: every name (and every string literal of up to 10
characters) this module holds is interned the first time it loads and stays
interned until the unit resets, and the running unit's fifth qstr pool is
nearly full (docs/benchmarks.md). So the answers are written as JSON text
from long literals (a member list such as ``"proto fw board"`` is one
string, not a name each), the ops are dispatched by their index in
``_OPS``, the functions reuse names the firmware interns anyway, and a
refusal is a ``cfgbase.ConfigError(code, message)``.
"""

import binascii
import gc
import json
import os

from panic import VERSION, cfgbase, console, flash, log, mem
from panic.cfgbase import ConfigError
from panic.sign import Signer, compare

from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.app import App

_OPS = const("hello info configure set_secrets challenge test_mode selftest reboot identify")
_ENVELOPE = const("v id ok error msg")
# Long strings, split when used: their short names would be interned for good (docs/firmware.md).
# sms_to: where SMS alerts go; brokers: a cluster's endpoint list (both re-point a live button).
_PROTECTED = const("device_id broker_host broker_port brokers sms_to")
_SECRETS = const("device_key mqtt_password wifi_password apn_password sim_pin")


def answer(app: App, text: bytes | None) -> tuple:
    """(answer line, action) for one request line; action is "reboot", the settings a configure must check
    (a dict, checked by panic.consolecfg) or ""."""
    rid = None
    act = ""
    mem.unload("panic.cfgcheck")  # left over from a configure whose check ran out of heap, if any
    try:
        if text is None:  # panic.console dropped a line over 400 bytes up to its newline
            raise ConfigError("too_long", "a request is at most 400 bytes before its newline", 400)
        try:
            req = json.loads(text)
        except Exception:
            req = None
        if not isinstance(req, dict):
            raise ConfigError("bad_json", "not a JSON object; send one JSON request per line")
        rid = req.get("id")
        if rid is not None and (not isinstance(rid, int) or isinstance(rid, bool)):
            rid = None
            raise ConfigError("bad_request", "id must be an integer")
        if req.get("v") != 1:
            raise ConfigError("bad_version", "this unit speaks console protocol v1")
        op = req.get("op")
        ops = _OPS.split()
        if not isinstance(op, str) or op not in ops:
            raise ConfigError("unknown_op", "unknown op; known: " + " ".join(sorted(ops)))
        more, act = run(app, req, ops.index(op), op)
        out = pieces(_ENVELOPE, (1, rid, True))
        out.update(more)
    except ConfigError as e:
        out = pieces(_ENVELOPE, (1, rid, False, e.args[0], e.args[1]))
        if len(e.args) > 2:
            out["max"] = e.args[2]  # too_long: the limit
        act = ""
    return json.dumps(out), act  # one string: an answer of ~700 bytes is never copied whole twice


def pieces(keys: str, values: tuple) -> dict:
    """{key: value}: `keys` space-separated in one literal (no name interned), zipped with `values`."""
    return dict(zip(keys.split(), values))


def read(path: str) -> dict:
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
        cfgbase.add_secrets(cfg, read(cfgbase.SECRETS_FILE))
    except ConfigError:
        return None
    return cfg.device_key


def device_id(app: App) -> str:
    dev = read(cfgbase.CONFIG_FILE).get("device_id")
    return str(dev) if cfgbase.valid_device_id(dev) else "pb-" + app.hw.unique_id()


def auth(app: App, req: dict, op: str) -> None:
    key = device_key()
    if key is None:
        return
    nonce = console.nonce
    console.nonce = ""  # single-use, whatever happens next
    proof = req.get("auth")
    if not isinstance(proof, str):
        raise ConfigError("auth_required", "this unit is registered: ask a challenge, answer with its HMAC in auth")
    want = Signer(key).mac("console", " ".join((device_id(app), nonce, op)).encode())
    if not nonce or not compare(proof.encode(), want):
        raise ConfigError("auth_failed", "wrong or stale proof: ask a new challenge")


def status(app: App) -> dict:
    """The readings object (protocol/console.md, `readings`)."""
    hw = app.hw
    link = app.link
    ind = app.ind
    wifi = hw.wifi
    tamper = getattr(hw, "tamper", None)
    ep = None
    if link is not None and app.cfg is not None:
        ep = app.cfg.brokers[link.ep]  # (host, port): a JSON list
    alerts = getattr(app, "alerts", None)
    gps = alerts.gps if alerts is not None else None
    fix = sats = age = None
    if gps is not None:
        age = gps.age_ms(log.uptime_ms())
        here = gps.loc(log.uptime_ms())
        fix = here is not None and here[3] == "gps"
        sats = gps.nmea.sats if age >= 0 and gps.nmea.sats >= 0 else None
        age = age if age >= 0 else None
    modem = getattr(app, "modem", None)  # a cellular driver, when one runs: its status() object
    box = app.outbox
    gc.collect()
    free = gc.mem_free()
    return pieces(
        "button power battery_mv tamper wifi wifi_rssi broker broker_ep indicator test_mode uptime_ms heap_free "
        "heap_low gps gps_sats gps_age_ms modem outbox",
        (hw.button.pressed(), hw.power(), hw.battery(), tamper.pressed() if tamper is not None else None,
         wifi.isconnected(), wifi.rssi(), link is not None and link.connected, ep,
         ind.state if ind is not None else None, app.test_mode, log.uptime_ms(), free,
         # the least free heap the supervisor's samples saw since boot (panic.mem.peak: never with this module)
         free + gc.mem_alloc() - mem.peak, fix, sats, age, modem.status() if modem is not None else None,
         len(box.entries) if box is not None else None))


def run(app: App, req: dict, i: int, op: str) -> tuple:
    """(answer members, action) for op number `i` of _OPS."""
    if i == 0:  # hello
        return pieces("proto fw device_id registered", (1, VERSION, device_id(app), device_key() is not None)), ""
    if i == 1:  # info
        key = device_key()
        sec = read(cfgbase.SECRETS_FILE)
        return pieces("proto fw board device_id registered key secrets config running readings", (
            1, VERSION, app.hw.name, device_id(app), key is not None,
            cfgbase.fingerprint(key) if key is not None else None, [k for k in _SECRETS.split() if k in sec],
            read(cfgbase.CONFIG_FILE), app.cfg is not None, status(app))), ""
    if i == 2:  # configure
        return settings(app, req, op)
    if i == 3:  # set_secrets
        return secret(app, req, op)
    if i == 4:  # challenge
        console.nonce = binascii.hexlify(os.urandom(16)).decode()
        return pieces("nonce device_id", (console.nonce, device_id(app))), ""
    if i == 5:  # test_mode
        on = req.get("on")
        if not isinstance(on, bool):
            raise ConfigError("bad_request", "on must be true or false")
        app.set_test_mode(on)  # in RAM only: a reboot ends it
        log.info("console", "test_mode on=%d" % on)
        return pieces("test_mode", (on,)), ""
    if i == 6:  # selftest
        st = os.statvfs(".")
        return pieces("flash_free running readings", (st[0] * st[3], app.cfg is not None, status(app))), ""
    if i == 7:  # reboot
        return pieces("rebooting", (True,)), "reboot"
    return led(app)


# The ops with more code have functions of their own (a function's bytecode is one block: a fragmented
# heap has room for several small ones sooner than for one big one), named with names interned anyway.
def settings(app: App, req: dict, op: str) -> tuple:
    """configure: the merged settings, for panic.consolecfg to check and write."""
    new = req.get("set")
    if not isinstance(new, dict):
        raise ConfigError("bad_request", "set must be a JSON object")
    old = read(cfgbase.CONFIG_FILE)
    merged = dict(old)
    for k in new:
        if new[k] is None:
            merged.pop(k, None)
        else:
            merged[k] = new[k]
    for k in _PROTECTED.split():
        if merged.get(k) != old.get(k):
            auth(app, req, op)  # first: a refused request never loads panic.config
            break
    # Checked and written by panic.consolecfg once this module is unloaded (panic.console._handle):
    # this module, panic.config and a running unit's state do not fit the heap at once.
    return {"reboot_needed": True}, merged


def secret(app: App, req: dict, op: str) -> tuple:
    """set_secrets: checked with panic.cfgbase's rules and written atomically; the answer holds the key's
    fingerprint only."""
    new = req.get("secrets")
    if not isinstance(new, dict):
        raise ConfigError("bad_request", "secrets must be a JSON object")
    for k in new:
        if k not in _SECRETS.split():
            raise ConfigError("invalid", "unknown secret %s" % k)
    if "device_key" in new or "mqtt_password" in new:  # a new Wi-Fi password cannot re-point the unit
        auth(app, req, op)
    merged = read(cfgbase.SECRETS_FILE)
    merged.update(new)
    for k in _SECRETS.split()[2:]:  # None: removed
        if merged.get(k, 0) is None:
            merged.pop(k)
    # A unit not registered yet may get its Wi-Fi password first: stand-ins for what is missing.
    check = dict(merged)
    check.setdefault("device_key", binascii.hexlify(bytes(32)).decode())
    check.setdefault("mqtt_password", "-")
    cfg = cfgbase.Config()
    try:
        cfgbase.add_secrets(cfg, check)
    except ConfigError as e:
        raise ConfigError("invalid", e.args[0])  # names the key, never the value
    fp = None
    if "device_key" in merged:
        merged["device_key"] = merged["device_key"].lower()
        fp = cfgbase.fingerprint(cfg.device_key)
    try:
        flash.write_atomic(cfgbase.SECRETS_FILE, json.dumps(merged).encode())
    except OSError as e:
        raise ConfigError("flash", "writing %s failed errno=%s; the old file is kept"
                          % (cfgbase.SECRETS_FILE, e.errno))
    log.info("console", "secrets written key=%s" % fp)
    return pieces("key reboot_needed", (fp, True)), ""


def led(app: App) -> tuple:
    """identify: the LED blinks its identify pattern and the buzzer beeps for 10 s (panic.identify, as the
    remote command does), so the technician can say whether both work."""
    ind = app.ind
    buzzer = app.hw.buzzer
    shown = ind is not None and ind.state != "sending"
    if shown:
        import asyncio

        from panic.identify import identify

        asyncio.create_task(identify(app))
        mem.unload("panic.identify")  # kept alive by its task only, then freed
    log.info("console", "identify led=%d" % shown)
    return pieces("led buzzer", (shown, shown and buzzer is not None and not ind.silent)), ""  # type: ignore[union-attr]
