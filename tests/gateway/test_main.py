"""`panic-gateway` refuses bad settings clearly, before it touches anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PANIC_API_TOKENS": '{"t": "boss"}'}, "unknown roles ['boss']"),
        ({"PANIC_API_TOKENS": "not json"}, 'error parsing value for field "api_tokens"'),
        ({"PANIC_MQTT_PORT": "eighty"}, "mqtt_port"),
    ],
)
def test_bad_settings_stop_the_gateway_with_a_clear_message(tmp_path: Path, env: dict[str, str],
                                                            message: str) -> None:
    database = tmp_path / "gateway.db"
    result = subprocess.run(
        [sys.executable, "-m", "gateway.main"],
        env={**os.environ, "PANIC_DATABASE_URL": f"sqlite:///{database}", **env},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "panic-gateway: invalid settings" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not database.exists()  # stopped before migrating anything
