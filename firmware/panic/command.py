"""Remote commands (``panic/v1/dev/{id}/cmd``): verified, executed once, answered on ``…/result``.

On demand: App._on_message imports this module when a command arrives and
unloads it (panic.mem.unload) as soon as ``handle`` returns, so it costs no
heap while the button waits. Nothing of it outlives ``handle``: the answer
is sent by a task of panic.app, identify's blinking runs in panic.identify.

A command (protocol/README.md, "Commands") is signed by the gateway with
the device key, like an ack, and carries its own counter ``cseq``. Checks,
in order, each with its reason code::

    no_sig, bad_sig   the signature envelope and the HMAC (panic/sign.py)
    bad_json          not a JSON object
    bad_field         members and types: v, dev, cseq, cmd, args, ts, exp, nothing else
    dev_mismatch      for another device
    replay            cseq not above the last accepted one (file ``cseq``)
    expired           the device's clock is known and past ``exp``
    unknown_cmd       not one of _COMMANDS
    bad_args          arguments the command does not take (config: only _CONFIG_KEYS, integers)
    out_of_range      a config value outside panic/bounds.py's bounds, or a hold_ms not below cancel_ms
                      (each the command's value, else the current one: the boot would refuse that config.json)
    failed            the flash could not be written: nothing was done

A rejected command changes nothing (not even the stored cseq) and is
logged ``W <up> cmd: rejected reason=<code> cseq=<n>``. An accepted one
first stores its cseq (atomically, panic/flash.py), so it is never
executed twice, not even after a reboot; then it runs and is answered::

    locate    the result carries ``loc`` (the GPS fix, or null without one)
    test      raises a ``test`` alert; the result carries its ``seq``
    identify  the indicator blinks ``identify`` and the buzzer beeps for 10 s (panic/identify.py; not while an
              alert is being sent, and no beep in silent mode); any state change ends it
    config    changes heartbeat_s and the gesture timings (hold_ms, cancel_ms, cancel_window_s, taps_ms):
              written to config.json (atomically), then applied
    reboot    answers, then resets the device

Every command, accepted or not, is answered with a signed result on
``panic/v1/dev/{id}/result`` (QoS 1): ``status`` ``ok`` or ``rejected`` and
the ``reason``. A result that cannot be sent (no link) is logged and not
retried: the gateway then shows the command ``expired``.
"""

import asyncio
import json

from panic import flash, log, mem, messages
from panic.sign import SigError

from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.app import App

# const() and "_" names: none of these names is interned (a qstr stays for good, docs/firmware.md).
_CSEQ_FILE = const("cseq")
_COMMANDS = const(("locate", "test", "identify", "config", "reboot"))
# The settings a command may change; bounds in panic/bounds.py.
_CONFIG_KEYS = const(("heartbeat_s", "hold_ms", "cancel_ms", "cancel_window_s", "taps_ms"))
_MEMBERS = const(("v", "dev", "cseq", "cmd", "args", "ts", "exp"))


class Rejected(Exception):
    """args[0] is the reason code; args[1], when present, the command it concerns."""


def _int(v: object, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def last_cseq(path: str = _CSEQ_FILE) -> int:
    """The last accepted cseq (0: none yet); Rejected("failed") when the file is damaged."""
    try:
        raw = flash.read(path, 32)
        return 0 if raw is None else int(raw)
    except (OSError, ValueError):
        # Atomic writes make this impossible; if it happens, refusing every command is safer
        # than accepting old ones again. Re-provisioning writes a fresh file.
        log.error("cmd", "%s unreadable" % path)
        raise Rejected("failed")


def check(signer: object, topic: str, dev: str, payload: bytes, last: int, utc: int | None) -> dict:
    """The command, if `payload` passes every check above but `failed`; else Rejected(reason)."""
    try:
        signed = signer.verify(topic, payload)  # type: ignore[attr-defined]
    except SigError as e:
        raise Rejected(e.args[0])
    try:
        c = json.loads(signed)
    except ValueError:
        raise Rejected("bad_json")
    if not isinstance(c, dict):
        raise Rejected("bad_json")
    for k in c:
        if k not in _MEMBERS:
            raise Rejected("bad_field")  # a `sig` inside the signed part among them
    if (
        len(c) != len(_MEMBERS)
        or c["v"] != 1
        or not isinstance(c["dev"], str)
        or not _int(c["cseq"], 1, 9007199254740991)
        or not isinstance(c["cmd"], str)
        or not isinstance(c["args"], dict)
        or not _int(c["ts"], 0, 0xFFFFFFFF)
        or not _int(c["exp"], 0, 0xFFFFFFFF)
    ):
        raise Rejected("bad_field")
    # From here on a rejection names the command's cseq and cmd: the gateway matches it up.
    if c["dev"] != dev:
        raise Rejected("dev_mismatch", c)
    if c["cseq"] <= last:
        raise Rejected("replay", c)
    if utc is not None and utc > c["exp"]:
        raise Rejected("expired", c)
    if c["cmd"] not in _COMMANDS:
        raise Rejected("unknown_cmd", c)
    args = c["args"]
    if c["cmd"] != "config":
        if args:
            raise Rejected("bad_args", c)
        return c
    if not args:
        raise Rejected("bad_args", c)
    from panic.bounds import _INTS

    mem.unload("panic.bounds")  # at once: this frame holds what it needs of it

    for k in args:
        v = args[k]
        if k not in _CONFIG_KEYS or not isinstance(v, int) or isinstance(v, bool):
            raise Rejected("bad_args", c)
        for name, _default, low, high in _INTS:
            if name == k and not low <= v <= high:
                raise Rejected("out_of_range", c)
    return c


def result(
    dev: str, cseq: int | None, cmd: str | None, reason: str | None, utc: int | None, up: int, more: str = "",
) -> bytes:
    """A result body (without its sig). cseq and cmd only when they passed the type checks."""
    return ('{"v":1,"dev":"%s","cseq":%s,"cmd":%s,"status":"%s","reason":%s,"ts":%s,"up":%d%s}' % (
        dev, "null" if cseq is None else cseq,
        '"%s"' % cmd if cmd in _COMMANDS else "null", "ok" if reason is None else "rejected",
        "null" if reason is None else '"%s"' % reason, "null" if utc is None or not 0 <= utc <= 0xFFFFFFFF else utc,
        min(max(up, 0), 9007199254740991), more,
    )).encode()


def handle(app: App, topic: str, payload: bytes) -> tuple | None:
    """Check, persist, execute one command; its answer (topic, signed body, reboot) for the caller to send."""
    alerts, link, cfg = app.alerts, app.link, app.cfg
    if alerts is None or link is None or cfg is None:
        return None
    dev = cfg.device_id
    utc = app.hw.clock.utc()
    c: dict = {}
    more = ""
    reboot = False
    try:
        c = check(alerts.signer, topic, dev, payload, last_cseq(), utc)
        cmd = c["cmd"]
        if cmd == "config":
            a = c["args"]
            # panic.cfgcheck's rule across two settings: a hold that reaches the cancel would make the
            # next boot refuse config.json (and run on the last good copy, with a fault).
            if a.get("cancel_ms", cfg.cancel_ms) <= a.get("hold_ms", cfg.hold_ms):
                raise Rejected("out_of_range", c)
            _write_config(a)
        try:
            flash.write_atomic(_CSEQ_FILE, ("%d\n" % c["cseq"]).encode())
        except OSError as e:
            log.error("cmd", "cseq not stored errno=%s" % e.errno)
            raise Rejected("failed")
        log.info("cmd", "accepted cseq=%d cmd=%s" % (c["cseq"], cmd))
        if cmd == "config":
            _apply(app, c["args"])
        elif cmd == "test":
            seq = alerts.raise_alert("test")
            if not seq:  # seq counter exhausted (logged by alerts): no alert, though the cseq is spent
                raise Rejected("failed", c)
            more = ',"seq":%d' % seq
        elif cmd == "locate":
            more = ',"loc":' + loc(app)
        elif cmd == "identify":
            from panic.identify import identify  # a task of its own module: this one is unloaded after handle

            asyncio.create_task(identify(app))
        else:
            reboot = True
        reason = None
    except Rejected as e:
        reason = e.args[0]
        if len(e.args) > 1:
            c = e.args[1]
        log.warn("cmd", "rejected reason=%s cseq=%s bytes=%d" % (reason, c.get("cseq"), len(payload)))
    body = result(dev, c.get("cseq"), c.get("cmd"), reason, utc, log.uptime_ms(), more)
    rtopic = messages.topic(dev, "result")
    return rtopic, alerts.signer.sign(rtopic, body), reboot


def _write_config(args: dict) -> None:
    """Set `args` in config.json, atomically; the other settings stay as they are."""
    try:
        raw = json.loads(flash.read("config.json", 4096) or b"")
        if not isinstance(raw, dict):
            raise ValueError
        for k in args:
            raw[k] = args[k]
        flash.write_atomic("config.json", json.dumps(raw).encode())
    except Exception as e:  # unreadable, damaged (the app may run on its last good copy), full flash
        log.error("cmd", "config.json not written exc=%s" % type(e).__name__)
        raise Rejected("failed")


def _apply(app: App, args: dict) -> None:
    cfg = app.cfg
    for k in args:
        setattr(cfg, k, args[k])
        log.info("cmd", "config %s=%d" % (k, args[k]))
    if app.beat is not None:
        app.beat._interval_ms = cfg.heartbeat_s * 1000  # type: ignore[union-attr]
    b = app.button
    if b is not None:  # cancel_window_s is read from cfg at each alert (panic.app)
        b.hold_ms, b.cancel_ms, b.taps_ms = cfg.hold_ms, cfg.cancel_ms, cfg.taps_ms  # type: ignore[union-attr]


def loc(app: App) -> str:
    """The current fix as `loc` JSON, as an alert would carry it; null without one.

    The GPS object is the one the alerts use (``Alerts.gps``, from the GPS
    task: ``loc(uptime_ms)`` -> (lat_e7, lon_e7, acc_m, src, age_s) or None);
    a firmware or board without one answers null and logs ``gps=none``.
    """
    gps = getattr(app.alerts, "gps", None) or getattr(app, "gps", None)
    now = log.uptime_ms()
    fix = gps.loc(now) if gps is not None else None
    if fix is None:
        log.info("cmd", "locate loc=null gps=%s" % ("nofix" if gps is not None else "none"))
        return "null"
    from panic import fix as fixmod

    return fixmod.location(fix)
