"""panic-sim provision: one broker endpoint or several."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main

ACCOUNT = ["--device-id", "pb-00000000c11a", "--key-hex", "ab" * 32, "--mqtt-password", "pw"]


def test_one_endpoint_is_the_broker_host_form(tmp_path: Path) -> None:
    assert main(["provision", "--flash", str(tmp_path), *ACCOUNT, "--broker", "10.0.0.5:1883"]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["broker_host"], config["broker_port"], "brokers" in config) == ("10.0.0.5", 1883, False)


def test_several_endpoints_are_kept_in_order(tmp_path: Path) -> None:
    assert main(["provision", "--flash", str(tmp_path), *ACCOUNT, "--broker", "n2.example:1884",
                 "--broker", "n1.example:1883"]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["brokers"] == [{"host": "n2.example", "port": 1884}, {"host": "n1.example", "port": 1883}]
    assert "broker_host" not in config and "broker_port" not in config


def test_a_malformed_endpoint_is_refused_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["provision", "--flash", str(tmp_path), *ACCOUNT, "--broker", "n1.example:1883", "--broker", "n2"])
    assert not (tmp_path / "config.json").exists()
