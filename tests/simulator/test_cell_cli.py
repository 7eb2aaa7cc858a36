"""`panic-sim run --modem`: the stdin commands that drive the emulated modem (simulator/cli.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import cli
from simulator.button import SimulatedButton
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network


@pytest.fixture
def modem() -> Iterator[EmulatedModem]:
    m = EmulatedModem(Network(), cli.BUTTON_NUMBER, "SIM800L").start()
    yield m
    m.close()


def test_data_and_registration_commands_drive_the_emulated_modem(modem: EmulatedModem, tmp_path: Path) -> None:
    button = SimulatedButton(tmp_path, modem=modem)
    assert cli._cellular(button, "data", ["off"])
    assert modem.network.refuse_data  # only SMS remains
    assert cli._cellular(button, "data", ["on"])
    assert not modem.network.refuse_data
    assert cli._cellular(button, "reg", ["denied"])
    assert modem.registration == "denied"
    assert not cli._cellular(button, "reg", ["sideways"])
    assert not cli._cellular(button, "press", [])  # not a cellular command: the usual handler's


def test_a_button_without_modem_has_no_cellular_commands(tmp_path: Path) -> None:
    assert not cli._cellular(SimulatedButton(tmp_path), "data", ["off"])


def test_run_options(tmp_path: Path) -> None:
    args = cli._parser().parse_args(["run", "--flash", str(tmp_path), "--modem", "A7670E", "--no-wifi", "--no-gps"])
    assert (args.modem, args.no_wifi, args.no_gps) == ("A7670E", True, True)
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["run", "--flash", str(tmp_path), "--modem", "SIM900"])
