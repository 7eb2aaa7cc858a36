"""`panic-gateway` as a process: bad settings refused clearly, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.stack import Stack


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PANIC_API_TOKENS": '{"t": "boss"}'}, "unknown roles ['boss']"),
        ({"PANIC_API_TOKENS": "not json"}, 'error parsing value for field "api_tokens"'),
        ({"PANIC_MQTT_PORT": "eighty"}, "mqtt_port"),
        # the dispatch-alert contract names at most 3 candidates
        ({"PANIC_DISPATCH_CANDIDATES": "4"}, "dispatch_candidates: Input should be less than or equal to 3"),
        ({"PANIC_STATIONS_CHECK_S": "0"}, "stations_check_s: Input should be greater than 0"),
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


def test_sigterm_stops_the_gateway_cleanly(tmp_path: Path) -> None:
    """uvicorn re-raises the signal it captured; the bridge must still be stopped, and the exit be 0."""
    stack = Stack(tmp_path)
    with stack:
        process = stack.gateway.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "gateway stopped" in stack.gateway.log()


def test_a_bad_api_token_entry_is_refused_without_naming_the_token(tmp_path: Path) -> None:
    """The tokens are the JSON object's keys, so a wrong value must not be reported by its key."""
    database = tmp_path / "gateway.db"
    result = subprocess.run(
        [sys.executable, "-m", "gateway.main"],
        env={**os.environ, "PANIC_DATABASE_URL": f"sqlite:///{database}",
             "PANIC_API_TOKENS": '{"t0p-s3cret-token": 5}'},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "panic-gateway: invalid settings: api_tokens" in result.stderr
    assert "Input should be a valid string" in result.stderr
    assert "t0p-s3cret-token" not in result.stderr
    assert not database.exists()
