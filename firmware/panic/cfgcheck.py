"""config.json's rules: ``settings(raw, default_device_id)``, boot-only and on demand.

``settings`` turns config.json's object into a ``Config`` or raises
ConfigError naming the key (panic.config re-exports it: the boot reads the
file with it). A module of its own so that the serial console checks a new
configuration with exactly the boot's rules without loading the rest of
panic.config (reading, known-good copies): on a running unit the heap has
room for this module and panic.consolecfg, not for all of panic.config
(docs/benchmarks.md). Unloaded after boot (panic.boot) and after each
console configure (panic.consolecfg).
"""

from micropython import const

from panic import mem
from panic.cfgbase import CONFIG_FILE, SECRETS_FILE, Config, ConfigError, valid_device_id

# name, default (None: optional)
_STRS = const((("wifi_ssid", None), ("ntp_host", "pool.ntp.org")))
_OTHER = const(("device_id", "broker_host", "brokers"))


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
    # cfg.modem: the cellular settings (panic.cellcfg), set only on a button that has any (getattr)
    for key in raw:
        # startswith allocates nothing (key.encode()[:3] left garbage among the boot's live objects: a
        # damaged secrets.json's boot then had no 724-byte block for panic.gps); a long module name in a str
        if key.startswith("apn") or key.startswith("sms") or key.startswith("sim"):
            mem.sample()  # a collection: the boot's garbage (json, bounds) out of the way of panic.cellcfg's code
            cfg.modem = __import__("panic.cellcfg", None, None, ("settings",)).settings(raw, known)
            break
    cfg.unknown_keys = [k for k in raw if k not in known]  # likely typos: logged, not fatal
    return cfg
