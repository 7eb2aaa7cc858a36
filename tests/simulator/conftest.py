"""Fixtures for simulator tests: a registered device, the test gateway, simulated buttons."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from simulator.button import SimulatedButton
from tests.conftest import BrokerUnderTest
from tests.simulator.gateway import Gateway

# Short timing knobs so the tests are quick (the firmware's defaults are in panic/config.py).
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "heartbeat_s": 30}


@dataclass(frozen=True)
class Account:
    id: str
    key_hex: str
    password: str

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex)


def _accepted(broker: BrokerUnderTest, user: str, password: str) -> bool:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.username_pw_set(user, password)
    result: list[Any] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: result.append(rc)
    try:
        client.connect(broker.host, broker.port)
    except OSError:
        return False
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        client.loop(0.05)
    client.disconnect()
    return bool(result) and not result[0].is_failure


@pytest.fixture
def account(broker: BrokerUnderTest) -> Account:
    """A device registered with the broker (its key is shared with the test gateway)."""
    acc = Account("pb-" + secrets.token_hex(6), secrets.token_hex(32), secrets.token_urlsafe(18))
    broker.add_device(acc.id, acc.password)
    deadline = time.monotonic() + 10
    while not _accepted(broker, acc.id, acc.password):  # the broker reloads on SIGHUP, asynchronously
        assert time.monotonic() < deadline, "broker did not accept the new device"
        time.sleep(0.05)
    return acc


@pytest.fixture
def gateway(broker: BrokerUnderTest, account: Account) -> Iterator[Gateway]:
    gw = Gateway(broker.host, broker.port, broker.config.gateway_password, account.id, account.key)
    yield gw
    gw.close()


@pytest.fixture
def make_button(
    broker: BrokerUnderTest, account: Account, tmp_path: Path
) -> Iterator[Callable[..., SimulatedButton]]:
    """`make_button(**config)`: a provisioned, started button; stopped after the test.

    `from_source` and `heapsize` go to SimulatedButton (default: the compiled
    firmware on the ESP32's 110K heap; the .py firmware gets SOURCE_HEAPSIZE);
    every other keyword is a config.json setting.

    After the test every button's whole console log is searched for the
    device key and the MQTT password: a secret must never be printed.
    """
    buttons: list[SimulatedButton] = []

    def make(start: bool = True, from_source: bool | None = None, heapsize: str | None = None,
             **config: Any) -> SimulatedButton:
        flash = tmp_path / f"flash{len(buttons)}"
        SimulatedButton.provision(
            flash, device_id=account.id, device_key_hex=account.key_hex, mqtt_password=account.password,
            broker_host=broker.host, broker_port=broker.port, **{**FAST, **config},
        )
        button = SimulatedButton(flash, log_file=tmp_path / f"button{len(buttons)}.log", from_source=from_source,
                                 heapsize=heapsize)
        buttons.append(button)
        if start:
            button.start()
        return button

    yield make
    for button in buttons:
        button.stop()
    for i, _button in enumerate(buttons):
        log = (tmp_path / f"button{i}.log").read_text() if (tmp_path / f"button{i}.log").exists() else ""
        assert account.key_hex not in log.lower(), "the device key was printed"
        assert account.password not in log, "the MQTT password was printed"
