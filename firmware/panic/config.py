"""Configuration and secrets, read from flash once at boot.

``config.json`` (not secret; may be read back)::

    {"device_id": "pb-0123456789ab", "broker_host": "mqtt.example.org",
     "broker_port": 1883, "wifi_ssid": "shop", "heartbeat_s": 30, "hold_ms": 2000}

``device_id`` defaults to ``pb-`` + the chip's unique id; ``broker_host`` is
required unless ``brokers`` lists the broker's endpoints in the order to try
them (1 to 4 of ``{"host": ..., "port": 1883, "tls": false}``; ``port`` and
``tls`` optional; ``"tls": true`` needs the broker's CA as ``ca.der`` on the
flash, see panic/tls.py), which
replaces ``broker_host``/``broker_port``; every other key is optional, with the default and the allowed
range in panic/bounds.py (timing knobs exist so installers and tests can shorten them).

``secrets.json`` (never printed, never read back; ``fingerprint()`` is)::

    {"device_key": "<64 hex>", "mqtt_password": "...", "wifi_password": "..."}

``load()`` raises ConfigError with a message that names the file and the key
but never contains a secret value. The result is a plain ``Config`` object
(no methods, so this module can be unloaded after boot to free its heap).

Nothing in these files can crash the boot: a file over 4 KB is refused
before it is read (it could not fit in the heap), and a directory, non-UTF-8
bytes or JSON nested too deep for the parser are a ConfigError like any
other bad content.

``boot()`` is what the app uses: once both files have loaded they are
copied to ``known-good.config.json`` / ``known-good.secrets.json`` (only
when they changed, so the flash is not rewritten at every boot). When the
current files are damaged later - truncated, garbage, a directory, too big -
the button runs on that last good copy: it still calls for help, and the app
reports the fault. Without a good copy the current files' error stands.
"""

import json

from panic import flash, mem
from micropython import const

# What panic.consolereq needs too lives in panic.cfgbase (the console loads it without this module).
from panic.cfgbase import (  # noqa: F401  (re-exported: config.ConfigError, config.fingerprint, ...)
    CONFIG_FILE,
    SECRETS_FILE,
    Config,
    ConfigError,
    add_secrets,
    fingerprint,
    valid_device_id,
)

# name, default (None: optional)
_STRS = const((("wifi_ssid", None), ("ntp_host", "pool.ntp.org")))
_OTHER = const(("device_id", "broker_host", "brokers"))


def _read(path: str, secret: bool) -> dict:
    try:
        raw = flash.read(path, 4096)  # a full configuration is about 500 bytes
    except OSError as e:
        if e.errno == 27:  # EFBIG
            raise ConfigError("%s is over 4096 bytes" % path)
        if e.errno == 21:  # EISDIR
            raise ConfigError("%s is a directory" % path)
        raise ConfigError("%s unreadable errno=%s" % (path, e.errno))
    if raw is None:
        raise ConfigError("%s missing" % path)
    try:
        obj = json.loads(raw)
    except Exception as e:  # ValueError; UnicodeError, MemoryError, RuntimeError (nested too deep)
        # The parser's message could quote the file; for secrets it must not.
        raise ConfigError("%s is not valid JSON%s" % (path, "" if secret else ": %s" % repr(e)))
    if not isinstance(obj, dict):
        raise ConfigError("%s must hold a JSON object" % path)
    return obj


def _bad(key: str, what: str) -> ConfigError:
    return ConfigError("%s: %s %s" % (CONFIG_FILE, key, what))


def _brokers(raw: dict, port: int) -> list:
    eps = raw.get("brokers")
    if eps is None:
        host = raw.get("broker_host")
        if not isinstance(host, str) or not host:
            raise _bad("broker_host", "missing")
        return [(host, port)]
    if "broker_host" in raw or "broker_port" in raw or not isinstance(eps, list) or not 0 < len(eps) < 5:
        raise _bad("brokers", "must be a list of 1..4 endpoints, without broker_host/broker_port")
    out = []
    for ep in eps:
        if not isinstance(ep, dict):
            ep = {}  # no host: refused below
        host = ep.get("host")
        p = ep.get("port", 1883)
        tls = ep.get("tls", False)
        if (type(host) is not str or not host or type(p) is not int or not 0 < p < 65536
                or type(tls) is not bool or len(ep) > 1 + ("port" in ep) + ("tls" in ep)):
            raise _bad("brokers", "entries must be {host, port 1..65535, tls true/false}")
        # A TLS endpoint's host carries the scheme (panic.mqttc strips it, and
        # loads panic.tls only then): (host, port) pairs stay what panic.link
        # takes. The format is over 10 characters so that it is not interned
        # (a new name on every button's heap for good; docs/firmware.md, TLS).
        out.append(("mqtts://%.255s" % host if tls else host, p))
    return out


def load(default_device_id: str | None, where: str = "") -> Config:
    """Read and validate config.json and secrets.json (names prefixed with `where`)."""
    cfg = settings(_read(where + CONFIG_FILE, False), default_device_id)
    add_secrets(cfg, _read(where + SECRETS_FILE, True))
    return cfg


def settings(raw: dict, default_device_id: str | None) -> Config:
    """A Config from config.json's object (no secrets yet); ConfigError when a value is wrong.

    Also what the serial console (panic.consolereq) checks a new configuration with."""
    cfg = Config()
    known: list[str] = list(_OTHER)  # and every key read below (annotated: not only these two literals)
    from panic.bounds import _INTS

    mem.unload("panic.bounds")  # at once: this frame holds what it needs of it

    for key, default, low, high in _INTS:
        known.append(key)
        v = raw.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < low or v > high:
            raise _bad(key, "must be an integer in %d..%d" % (low, high))
        setattr(cfg, key, v)
    for key, text in _STRS:
        known.append(key)
        text = raw.get(key, text)
        if text is not None and not isinstance(text, str):
            raise _bad(key, "must be a string")
        setattr(cfg, key, text)
    cfg.unknown_keys = [k for k in raw if k not in known]  # likely typos: logged, not fatal
    for key in ("device_key", "mqtt_password", "wifi_password"):
        if key in raw:
            raise _bad(key, "belongs in " + SECRETS_FILE)
    dev = raw.get("device_id", default_device_id)
    if not valid_device_id(dev):
        raise _bad("device_id", "must match pb-<12 lowercase hex>")
    cfg.device_id = dev
    cfg.brokers = _brokers(raw, cfg.broker_port)
    cfg.broker_host, cfg.broker_port = cfg.brokers[0]
    if cfg.retry_max_ms < cfg.retry_min_ms or cfg.reconnect_max_ms < cfg.reconnect_min_ms:
        raise _bad("retry_max_ms/reconnect_max_ms", "must not be below the matching _min_ms")
    if cfg.cancel_ms <= cfg.hold_ms:
        raise _bad("cancel_ms", "must be above hold_ms")
    return cfg


def boot(default_device_id: str | None) -> tuple:
    """(Config or None, key fingerprint, error); never raises.

    `error` is "" when the current files are good. Otherwise it says what is
    wrong with them, and the Config is the last good one - or None when
    there is no good copy either.
    """
    try:
        cfg, error = _load(default_device_id)
        return cfg, fingerprint(cfg.device_key), error
    except ConfigError as e:
        return None, "", str(e.args[0]) if e.args else "invalid"
    except Exception as e:  # nothing in a file may stop the boot (MemoryError, ...)
        return None, "", "load failed exc=%s err=%s" % (type(e).__name__, e)


def _load(default_device_id: str | None) -> tuple:
    where = "known-good."  # prefix of the copies' names
    try:
        cfg = load(default_device_id)
    except ConfigError as e:
        try:
            return load(default_device_id, where), e.args[0]
        except ConfigError:
            raise e
    for path in (CONFIG_FILE, SECRETS_FILE):
        # Copy unless the copy holds the same bytes. The file has just loaded, so it is
        # readable and small; a full flash keeps the old copy (if any).
        try:
            data = flash.read(path, 4096)
            try:
                ok = flash.read(where + path, 4096) == data
            except OSError:
                ok = False
            if not ok and data is not None:
                flash.write_atomic(where + path, data)
        except OSError:
            pass  # a full flash: the old copy (if any) stays; the app reports the flash elsewhere
    return cfg, ""
