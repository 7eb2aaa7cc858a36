"""panic/config.py under MicroPython: clear errors for bad configuration, never a secret in them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KEY = "9f" * 32
PASSWORD = "hunter2-mqtt-Pa55"
WIFI = "wifi-Secret-77"

LOAD = """
from panic import config
try:
    c = config.load("pb-00000000000a")
    print("ok", c.device_id, c.broker_host, c.broker_port, c.heartbeat_s, c.hold_ms, c.retry_min_ms,
          c.wifi_ssid, " ".join(c.unknown_keys) or "-", config.fingerprint(c.device_key))
except config.ConfigError as e:
    print("error", e.args[0])
"""


def write(flash: Path, config: Any = None, secrets: Any = None) -> None:
    if config is not None:
        (flash / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if secrets is not None:
        (flash / "secrets.json").write_text(secrets if isinstance(secrets, str) else json.dumps(secrets))


def load(run: Callable[..., Any], flash: Path) -> str:
    out: str = run(LOAD, cwd=flash).stdout.strip()
    assert KEY not in out and PASSWORD not in out and WIFI not in out, out
    return out


GOOD_SECRETS = {"device_key": KEY, "mqtt_password": PASSWORD, "wifi_password": WIFI}


def test_defaults_and_fingerprint(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    write(tmp_path, {"broker_host": "10.0.0.2", "wifi_ssid": "shop", "hodl_ms": 5}, GOOD_SECRETS)
    fingerprint = hashlib.sha256(bytes.fromhex(KEY)).hexdigest()[:8]
    # device_id defaults to pb- + the chip id; the typo'd key is reported, not fatal
    expected = f"ok pb-00000000000a 10.0.0.2 1883 30 2000 2000 shop hodl_ms {fingerprint}"
    assert load(run_micropython, tmp_path) == expected


def test_several_broker_endpoints_in_order(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    write(tmp_path, {"brokers": [{"host": "n1.example", "port": 8883, "tls": False}, {"host": "n2.example"}]},
          GOOD_SECRETS)
    out = run_micropython("from panic import config\nc = config.load('pb-00000000000a')\n"
                          "print(c.brokers, c.broker_host, c.broker_port)", cwd=tmp_path).stdout.strip()
    assert out == "[('n1.example', 8883), ('n2.example', 1883)] n1.example 8883"
    write(tmp_path, {"broker_host": "h", "broker_port": 1884})  # the one-endpoint form
    out = run_micropython("from panic import config\nprint(config.load('pb-00000000000a').brokers)",
                          cwd=tmp_path).stdout
    assert out.strip() == "[('h', 1884)]"


def test_a_tls_endpoint_is_marked_for_the_connect_path(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """"tls": true keeps (host, port) pairs for panic.link; the host carries the scheme panic.mqttc looks for."""
    write(tmp_path, {"brokers": [{"host": "mq.example.org", "port": 8883, "tls": True}, {"host": "10.0.0.2"}]},
          GOOD_SECRETS)
    out = run_micropython("from panic import config\nprint(config.load('pb-00000000000a').brokers)",
                          cwd=tmp_path).stdout
    assert out.strip() == "[('mqtts://mq.example.org', 8883), ('10.0.0.2', 1883)]"


@pytest.mark.parametrize(
    ("config", "secrets", "error"),
    [
        (None, GOOD_SECRETS, "config.json missing"),
        ("{not json", GOOD_SECRETS, "config.json is not valid JSON"),
        ([1, 2], GOOD_SECRETS, "config.json must hold a JSON object"),
        ({"device_id": "pb-0123"}, GOOD_SECRETS, "config.json: device_id must match"),
        ({"broker_host": "h", "device_id": "pb-0123456789AB"}, GOOD_SECRETS, "config.json: device_id must match"),
        ({}, GOOD_SECRETS, "config.json: broker_host missing"),
        ({"broker_host": "h", "broker_port": "1883"}, GOOD_SECRETS, "config.json: broker_port must be an integer"),
        ({"broker_host": "h", "hold_ms": 10}, GOOD_SECRETS, "config.json: hold_ms must be an integer in 100..30000"),
        ({"broker_host": "h", "heartbeat_s": True}, GOOD_SECRETS, "config.json: heartbeat_s must be an integer"),
        ({"broker_host": "h", "retry_min_ms": 5000, "retry_max_ms": 100}, GOOD_SECRETS, "must not be below"),
        ({"broker_host": "h", "mqtt_password": PASSWORD}, GOOD_SECRETS, "config.json: mqtt_password belongs in"),
        ({"broker_host": "h"}, None, "secrets.json missing"),
        ({"broker_host": "h"}, '{"device_key": "' + KEY + '", "mqtt_password": "' + PASSWORD,
         "secrets.json is not valid JSON"),
        ({"broker_host": "h"}, {"device_key": KEY[:-2], "mqtt_password": PASSWORD},
         "secrets.json: device_key must be 64 hex"),
        ({"broker_host": "h"}, {"device_key": KEY[:-1] + "g", "mqtt_password": PASSWORD}, "device_key must be 64 hex"),
        ({"broker_host": "h"}, {"device_key": KEY}, "secrets.json: mqtt_password missing"),
        ({"broker_host": "h"}, {"device_key": KEY, "mqtt_password": PASSWORD, "wifi_password": 5},
         "wifi_password must"),
        ({"brokers": []}, GOOD_SECRETS, "config.json: brokers must be a list of 1..4"),
        ({"brokers": [{"host": "h"}] * 5}, GOOD_SECRETS, "config.json: brokers must be a list of 1..4"),
        ({"brokers": {"host": "h"}}, GOOD_SECRETS, "config.json: brokers must be a list of 1..4"),
        ({"brokers": [{"host": "h"}], "broker_host": "h"}, GOOD_SECRETS, "without broker_host/broker_port"),
        ({"brokers": [{"host": "h"}, "h2"]}, GOOD_SECRETS, "config.json: brokers entries must be"),
        ({"brokers": [{"host": ""}]}, GOOD_SECRETS, "config.json: brokers entries must be"),
        ({"brokers": [{"host": "h", "port": 0}]}, GOOD_SECRETS, "config.json: brokers entries must be"),
        ({"brokers": [{"host": "h", "port": True}]}, GOOD_SECRETS, "config.json: brokers entries must be"),
        ({"brokers": [{"host": "h", "tls": 1}]}, GOOD_SECRETS, "config.json: brokers entries must be"),
        ({"brokers": [{"host": "h", "tls": "yes"}]}, GOOD_SECRETS, "config.json: brokers entries must be"),
        ({"brokers": [{"host": "h", "prot": 8883}]}, GOOD_SECRETS, "config.json: brokers entries must be"),
    ],
)
def test_bad_configuration_is_a_clear_error(
    run_micropython: Callable[..., Any], tmp_path: Path, config: Any, secrets: Any, error: str
) -> None:
    write(tmp_path, config, secrets)
    out = load(run_micropython, tmp_path)
    assert out.startswith("error ") and error in out, out


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (json.dumps({"broker_host": "h", "pad": "x" * 100_000}).encode(), "config.json is over 4096 bytes"),
        (b"[" * 3000 + b"]" * 3000, "config.json is over 4096 bytes"),  # 6 KB of nesting
        (b"[" * 2000 + b"]" * 2000, "config.json is not valid JSON"),  # under it, nested too deep for the heap
        (b'{"broker_host": "\xff\xfe"}', "config.json is not valid JSON"),  # not UTF-8
        (None, "config.json is a directory"),
    ],
    ids=["100KB", "nested-6KB", "nested-4KB", "non-utf8", "directory"],
)
def test_hostile_config_file_is_a_clear_error(
    run_micropython: Callable[..., Any], tmp_path: Path, content: bytes | None, error: str
) -> None:
    """Finding 2: a 100 KB or deeply nested config.json crashed the boot (MemoryError) every time."""
    if content is None:
        (tmp_path / "config.json").mkdir()
    else:
        (tmp_path / "config.json").write_bytes(content)
    write(tmp_path, secrets=GOOD_SECRETS)
    out = load(run_micropython, tmp_path)
    assert out.startswith("error ") and error in out, out


LAST_GOOD = """
from panic import config
c, fingerprint, error = config.boot("pb-00000000000a")
if c is None:
    print("error", error)
else:
    print("ok", c.broker_host, error or "-")
"""


def test_damaged_files_fall_back_to_the_last_good_copy(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    write(tmp_path, {"broker_host": "10.0.0.2"}, GOOD_SECRETS)
    assert run_micropython(LAST_GOOD, cwd=tmp_path).stdout.strip() == "ok 10.0.0.2 -"
    assert json.loads((tmp_path / "known-good.config.json").read_text()) == {"broker_host": "10.0.0.2"}
    good_copy = tmp_path / "known-good.secrets.json"
    stamp = good_copy.stat().st_mtime_ns
    assert run_micropython(LAST_GOOD, cwd=tmp_path).stdout.strip() == "ok 10.0.0.2 -"
    assert good_copy.stat().st_mtime_ns == stamp, "an unchanged copy must not be rewritten at every boot"

    (tmp_path / "config.json").write_bytes(b'{"broker_host": "10.0.0.2"')  # truncated
    out = run_micropython(LAST_GOOD, cwd=tmp_path).stdout.strip()
    assert out.startswith("ok 10.0.0.2 config.json is not valid JSON"), out
    (tmp_path / "secrets.json").write_bytes(b"\x00" * 64)
    write(tmp_path, {"broker_host": "10.0.0.3"})
    out = run_micropython(LAST_GOOD, cwd=tmp_path).stdout.strip()
    assert out.startswith("ok 10.0.0.2 secrets.json is not valid JSON"), out
    assert KEY not in out and PASSWORD not in out

    (tmp_path / "known-good.config.json").unlink()
    out = run_micropython(LAST_GOOD, cwd=tmp_path).stdout.strip()
    assert out == "error secrets.json is not valid JSON", out


CELL = """
import sys
from panic import config
try:
    c = config.load("pb-00000000000a")
    m = getattr(c, "modem", None)
    print("ok", "none" if m is None else " ".join("%s=%s" % (k, m[k]) for k in sorted(m)),
          " ".join(c.unknown_keys) or "-", "panic.cellcfg" in sys.modules)
except config.ConfigError as e:
    print("error", e.args[0])
"""
APN_PASSWORD = "apn-Secret-91"
PIN = "4711"


def test_cellular_settings_and_secrets(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    write(tmp_path, {"broker_host": "h", "apn": "internet.t-mobile", "apn_user": "tm", "sms_to": ["+6281100000001"]},
          {**GOOD_SECRETS, "apn_password": APN_PASSWORD, "sim_pin": PIN})
    out = run_micropython(CELL, cwd=tmp_path).stdout.strip()
    assert out == (f"ok apn=internet.t-mobile apn_password={APN_PASSWORD} apn_user=tm sim_pin={PIN} "
                   "sms_after_s=30 sms_to=['+6281100000001'] - True")  # (panic.boot unloads panic.cellcfg)
    write(tmp_path, {"broker_host": "h"}, GOOD_SECRETS)  # a Wi-Fi button: no attribute, the module never loaded
    assert run_micropython(CELL, cwd=tmp_path).stdout.strip() == "ok none - False"


@pytest.mark.parametrize(("config", "secrets", "error"), [
    ({"apn": ""}, {}, "config.json: apn must be 1..100 letters, digits, '-' or '.'"),
    ({"apn": 'in"ternet'}, {}, "config.json: apn must be 1..100 letters, digits, '-' or '.'"),
    ({"apn": "a" * 101}, {}, "config.json: apn must be 1..100 letters, digits, '-' or '.'"),
    ({"apn": "x", "apn_user": "a\"b"}, {}, "config.json: apn_user must be printable ASCII without '\"', at most 64"),
    ({"sms_to": "+6281100000001"}, {}, "config.json: sms_to must be a list of 1..4 numbers in E.164 (+ and 7..15 digits)"),
    ({"sms_to": ["6281100000001"]}, {}, "config.json: sms_to must be a list of 1..4 numbers in E.164 (+ and 7..15 digits)"),
    ({"sms_to": ["+1"] * 5}, {}, "config.json: sms_to must be a list of 1..4 numbers in E.164 (+ and 7..15 digits)"),
    ({"sms_to": ["+6281100000001"], "sms_after_s": 2}, {}, "config.json: sms_after_s must be an integer in 5..3600"),
    ({"apn": "x", "sim_pin": PIN}, {}, "config.json: sim_pin belongs in secrets.json"),
    ({"apn": "x"}, {"sim_pin": "47a1"}, "secrets.json: sim_pin must be 4..8 digits"),
    ({"apn": "x"}, {"apn_password": APN_PASSWORD + "\n"},
     "secrets.json: apn_password must be printable ASCII without '\"', at most 64"),
])
def test_bad_cellular_settings_are_a_clear_error_without_the_secret(
    run_micropython: Callable[..., Any], tmp_path: Path, config: dict[str, Any], secrets: dict[str, Any], error: str
) -> None:
    write(tmp_path, {"broker_host": "h", **config}, {**GOOD_SECRETS, **secrets})
    out = run_micropython(CELL, cwd=tmp_path).stdout.strip()
    assert out == f"error {error}"
    assert APN_PASSWORD not in out and "47a1" not in out
