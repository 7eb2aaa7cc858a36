"""Fixtures for panic-provision tests: broker + gateway (simulator.stack), blank simulated buttons on ptys."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.button import SimulatedButton
from simulator.stack import DEMO_OWNER, Stack


@dataclass
class Site:
    stack: Stack
    tech_token: str
    state_dir: Path

    @property
    def url(self) -> str:
        return self.stack.gateway.url

    @property
    def broker(self) -> str:
        return f"{self.stack.broker_config.host}:{self.stack.broker_config.port}"

    def owner(self) -> tuple[str, str]:
        created = self.stack.gateway.request("POST", "/owners", DEMO_OWNER)
        return str(created["id"]), str(created["premises"][0]["id"])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    admin, tech = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    stack = Stack(tmp_path / "site")
    stack.gateway.env["PANIC_API_TOKENS"] = json.dumps({admin: "admin", tech: "technician"})
    stack.gateway.token = admin
    stack.start()
    try:
        yield Site(stack, tech, tmp_path / "site")
    finally:
        stack.stop()


MakeBlank = Callable[..., SimulatedButton]


@pytest.fixture
def blank_button(tmp_path: Path) -> Iterator[MakeBlank]:
    """`blank_button(name)`: a started, never-provisioned button with its console on a pty."""
    started: list[SimulatedButton] = []

    def make(name: str = "unit") -> SimulatedButton:
        flash = tmp_path / "flash" / name
        SimulatedButton.blank(flash)
        button = SimulatedButton(flash, console_pty=True, log_file=tmp_path / "logs" / f"{name}.log")
        button.start()
        started.append(button)
        return button

    yield make
    for b in started:
        b.stop()


@dataclass
class Run:
    code: int
    out: str
    err: str


def provision_tool(*args: str, token: str | None = None, env: dict[str, str] | None = None,
                   timeout: float = 120, **popen: Any) -> Run:
    """Run `panic-provision` as the technician would (token from the environment)."""
    e = dict(os.environ, **(env or {}))
    e.pop("PANIC_TOKEN", None)
    if token is not None:
        e["PANIC_TOKEN"] = token
    p = subprocess.run([sys.executable, "-m", "provision.tool", *args], env=e, capture_output=True, text=True,
                       timeout=timeout, check=False, **popen)
    return Run(p.returncode, p.stdout, p.stderr)
