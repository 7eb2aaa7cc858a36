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
    ],
)
def test_bad_configuration_is_a_clear_error(
    run_micropython: Callable[..., Any], tmp_path: Path, config: Any, secrets: Any, error: str
) -> None:
    write(tmp_path, config, secrets)
    out = load(run_micropython, tmp_path)
    assert out.startswith("error ") and error in out, out
