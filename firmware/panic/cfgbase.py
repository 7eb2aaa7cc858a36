"""The part of panic.config the serial console needs on a running unit: file names, the Config
class, the secrets check, the key fingerprint and the device id check.

A module of its own so that a console request (panic.consolereq, on demand) loads ~2 KB here
instead of all of panic.config (~6 KB on the simulated 64-bit heap); panic.config imports these
names from here, so ``config.ConfigError`` and the others still work. Unloaded with whatever
imported it (panic.mem.unload).
"""

import binascii
import hashlib

CONFIG_FILE = "config.json"  # not const(): panic.consolereq writes these files
SECRETS_FILE = "secrets.json"


class ConfigError(Exception):
    pass


class Config:
    """Validated settings; secrets only in device_key, mqtt_password, wifi_password and modem's
    apn_password and sim_pin."""

    device_id: str
    broker_host: str  # the first of brokers
    broker_port: int
    brokers: list  # [(host, port)], tried in this order
    wifi_ssid: str | None
    ntp_host: str | None
    heartbeat_s: int
    hold_ms: int
    keepalive_s: int
    retry_min_ms: int
    retry_max_ms: int
    reconnect_min_ms: int
    reconnect_max_ms: int
    outbox_max: int
    seq_block: int
    wdt_ms: int
    cancel_ms: int
    cancel_window_s: int
    taps_ms: int
    repeat_ms: int
    device_key: bytes
    mqtt_password: str
    wifi_password: str | None
    unknown_keys: list
    modem: dict | None  # panic.cellcfg: apn, apn_user, sms_to, sms_after_s, apn_password, sim_pin


def fingerprint(key: bytes) -> str:
    """First 8 hex digits of sha256(key): identifies a key without revealing it."""
    return binascii.hexlify(hashlib.sha256(key).digest()[:4]).decode()


def _is_hex(text: str) -> bool:
    """Only lowercase hex digits (iterating bytes yields ints: nothing is allocated)."""
    for c in text.encode():
        if not (48 <= c <= 57 or 97 <= c <= 102):
            return False
    return True


def valid_device_id(dev: object) -> bool:
    return isinstance(dev, str) and len(dev) == 15 and dev[:3] == "pb-" and _is_hex(dev[3:])


def add_secrets(cfg: Config, sec: dict) -> None:
    """Check secrets.json's object and put its values into `cfg`; ConfigError names the key, never a value."""
    key_hex = sec.get("device_key")
    if not isinstance(key_hex, str) or len(key_hex) != 64 or not _is_hex(key_hex.lower()):
        raise ConfigError("%s: device_key must be 64 hex digits" % SECRETS_FILE)
    cfg.device_key = binascii.unhexlify(key_hex.lower())
    password = sec.get("mqtt_password")
    if not isinstance(password, str) or not password:
        raise ConfigError("%s: mqtt_password missing" % SECRETS_FILE)
    cfg.mqtt_password = password
    wifi_password = sec.get("wifi_password")
    if wifi_password is not None and not isinstance(wifi_password, str):
        raise ConfigError("%s: wifi_password must be a string" % SECRETS_FILE)
    cfg.wifi_password = wifi_password
    if "apn_password" in sec or "sim_pin" in sec:  # allocates nothing (two short names interned)
        __import__("panic.cellcfg", None, None, ("settings",)).add_secrets(cfg, sec)

