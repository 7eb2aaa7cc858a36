"""Gateway test fixtures: the running stack and a scripted device speaking MQTT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.stack import MqttListener, Stack
from tests.gateway.scripted import ScriptedDevice, new_device_id


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path) as running:
        yield running


@pytest.fixture
def dispatch(stack: Stack) -> Iterator[MqttListener]:
    listener = stack.dispatch()
    yield listener
    listener.close()


@pytest.fixture
def device(stack: Stack) -> Iterator[ScriptedDevice]:
    scripted = ScriptedDevice(stack, new_device_id())
    yield scripted
    scripted.mqtt.close()
