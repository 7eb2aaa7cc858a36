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

Cellular settings (``apn``, ``apn_user``, ``sms_to``, ``sms_after_s``; secrets
``apn_password``, ``sim_pin``) are checked by panic.cellcfg, loaded only when
config.json has one of them; ``cfg.modem`` holds them (None without).

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

from panic import flash

# The checks of config.json's object live in panic.cfgcheck (the console checks a configure with them
# without this module); settings is re-exported: config.settings(raw, default_device_id).
from panic.cfgcheck import settings  # noqa: F401

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


def load(default_device_id: str | None, where: str = "") -> Config:
    """Read and validate config.json and secrets.json (names prefixed with `where`)."""
    cfg = settings(_read(where + CONFIG_FILE, False), default_device_id)
    add_secrets(cfg, _read(where + SECRETS_FILE, True))
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
