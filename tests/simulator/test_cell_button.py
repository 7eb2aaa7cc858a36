"""A cellular button end to end: the real firmware (compiled, 110K heap) drives an emulated modem over its pty.

The button's modem UART is bridged to an EmulatedModem (simulator/modem/); the
AT dialogue up to CONNECT and after NO CARRIER is real, the sockets then use
the host network (PPP is not emulated: simulator/device/cellhardware.py). The broker,
gateway and dispatch are the real ones (simulator.stack.Stack).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.button import SimulatedButton
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from simulator.stack import MqttListener, Stack
from tests.simulator.test_gps_button import HOLD_MS, dispatched

NUMBER = "+6281200000002"
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "hold_ms": 1500, "repeat_ms": 0}
SIGNAL = 17  # +CSQ rssi: -113 + 2 * 17 = -79 dBm
DBM = -79


class Cellular:
    """An emulated modem and a button wired to it (started on demand)."""

    def __init__(self, stack: Stack, tmp_path: Path, variant: str, **modem: Any) -> None:
        self.network = Network()
        self.modem = EmulatedModem(self.network, NUMBER, variant, signal=SIGNAL, **modem).start()
        self.stack = stack
        self.tmp_path = tmp_path
        self.button: SimulatedButton | None = None

    def start(self, wifi: bool = False, heapsize: str | None = None, **config: Any) -> SimulatedButton:
        device_id = "pb-0badc0ffee0c"
        issued = self.stack.register_button(device_id)
        flash = self.tmp_path / "flash"
        settings = {"apn": "internet.emulated", **FAST, **config}
        SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=self.stack.broker_config.host,
                                  broker_port=self.stack.broker_config.port, **settings)
        if "sim_pin" in config:
            secrets = json.loads((flash / "secrets.json").read_text())
            secrets["sim_pin"] = settings.pop("sim_pin")
            (flash / "secrets.json").write_text(json.dumps(secrets))
            config_file = json.loads((flash / "config.json").read_text())
            config_file.pop("sim_pin")
            (flash / "config.json").write_text(json.dumps(config_file))
        # The unit's board, GPS receiver included, its firmware a ROMFS image (as a cellular unit ships:
        # docs/firmware.md, "ROMFS") beside a 110 KB heap unless a test says why not.
        self.button = SimulatedButton(flash, log_file=self.tmp_path / "button.log", modem=self.modem, wifi=wifi,
                                      heapsize=heapsize)
        self.button.start()
        return self.button

    def close(self) -> None:
        if self.button is not None:
            self.button.stop()
        self.modem.close()


@pytest.fixture(params=["A7670E", "SIM800L"])
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cellular(stack: Stack, tmp_path: Path, variant: str) -> Iterator[Cellular]:
    made = Cellular(stack, tmp_path, variant)
    yield made
    made.close()


def wait_for_delivery(button: SimulatedButton, dispatch: MqttListener, seq: str) -> dict[str, Any]:
    """The dispatch record of alert `seq` (a loaded machine runs three buttons and gateways at once)."""
    return dispatched(dispatch, seq, 120)


def press_and_dispatch(button: SimulatedButton, dispatch: MqttListener) -> dict[str, Any]:
    mark = button.mark()
    button.press(HOLD_MS)
    return wait_for_delivery(button, dispatch, button.wait_for_log(r"alert: raised seq=(\d+) ", since=mark).group(1))


def test_no_wifi_registers_dials_and_delivers_over_cellular(cellular: Cellular, dispatch: MqttListener) -> None:
    button = cellular.start()
    button.wait_for_log(r"cell: registered stat=1 rssi=-79", timeout=60)
    button.wait_for_log(r"cell: up rssi=-79", timeout=30)
    button.wait_for_log(r"link: connected host=", timeout=30)
    button.wait_for_indicator("idle", timeout=30)
    assert button.data_connects >= 1
    assert 'AT+CGDCONT=1,"IP","internet.emulated"' in cellular.modem.received_commands
    record = press_and_dispatch(button, dispatch)
    assert record["device"]["network"] == "cell"
    assert record["device"]["signal"] == DBM




class Noise:
    """A modem that answers nothing but garbage: every command unanswered, random bytes on the line."""

    def __init__(self, modem: EmulatedModem) -> None:
        self.modem = modem
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(7)
        while not self._stop.wait(0.05):  # the garbage's own pace
            self.modem.stall_next("A")
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            self.modem.noise(junk + (b"\r\n" if rng.random() < 0.5 else b""))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.modem.stalls.clear()


def _silent(c: Cellular) -> Callable[[], None]:
    for _ in range(1000):
        c.modem.stall_next("A")  # every command: no answer at all
    return c.modem.stalls.clear


def _garbage(c: Cellular) -> Callable[[], None]:
    noise = Noise(c.modem)
    noise.start()
    return noise.stop


def _sim_missing(c: Cellular) -> Callable[[], None]:
    c.modem.sim = "missing"
    c.modem.reboot()

    def clear() -> None:  # a SIM without PIN lock goes in
        c.modem.sim = "ready"
        c.modem.unlocked = True
    return clear


def _pin_wrong(c: Cellular) -> Callable[[], None]:
    c.modem.sim, c.modem.pin = "pin", "4321"
    c.modem.reboot()

    def clear() -> None:  # the PIN is disabled on the SIM elsewhere: it reads READY
        c.modem.unlocked = True
    return clear


def _denied(c: Cellular) -> Callable[[], None]:
    c.modem.set_registration("denied")
    return lambda: c.modem.set_registration("home")


def _ppp_refused(c: Cellular) -> Callable[[], None]:
    c.network.refuse_data = True

    def clear() -> None:
        c.network.refuse_data = False
    return clear


FAULTS: dict[str, tuple[Callable[[Cellular], Callable[[], None]], str, dict[str, Any], int | None]] = {
    # name: (set the fault, returning what clears it; the reason logged; config for the button; the
    # alert's signal: what the button knew when it was raised - null before its first +CSQ)
    "silent": (_silent, "no_answer", {}, None),
    "garbage": (_garbage, "no_answer", {}, None),
    "sim_missing": (_sim_missing, "sim_missing", {}, None),
    "pin_wrong": (_pin_wrong, "pin_wrong", {"sim_pin": "1111"}, None),
    "registration_denied": (_denied, "registration_denied", {}, None),
    "ppp_refused": (_ppp_refused, "ppp_refused", {}, DBM),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_keeps_the_alert_shows_fault_retries_and_delivers_once_cleared(
    stack: Stack, tmp_path: Path, dispatch: MqttListener, fault: str
) -> None:
    make, reason, config, signal = FAULTS[fault]
    c = Cellular(stack, tmp_path, "SIM800L" if fault in ("garbage", "registration_denied") else "A7670E")
    try:
        clear = make(c)
        button = c.start(**config)
        button.wait_for_log(rf"cell: down why={reason} fails=1 ", timeout=120)
        button.wait_for_indicator("fault", timeout=30)
        mark = button.mark()
        button.press(HOLD_MS)
        seq = button.wait_for_log(r"alert: raised seq=(\d+) ", since=mark).group(1)
        button.wait_for_indicator("sending", timeout=30)
        # It retries (the same reason again after the press; an attempt in between may fail otherwise,
        # e.g. loading panic.cellup in a fragmented heap: docs/benchmarks.md, "Cellular button").
        button.wait_for_log(rf"cell: down why={reason} fails=[2-9]", timeout=120, since=mark)
        assert len(button.outbox()) == 1  # the alert waits on the flash
        if fault == "pin_wrong":  # a refused PIN is never sent again (three would lock the SIM)
            assert sum(cmd.startswith("AT+CPIN=") for cmd in c.modem.received_commands) == 1
        clear()
        record = wait_for_delivery(button, dispatch, seq)
        assert record["device"]["network"] == "cell" and record["device"]["signal"] == signal
        assert button.reboots == 0, "the watchdog was starved"
        assert not any("reset why=watchdog" in line for line in button.lines)
    finally:
        c.close()


def test_reboot_in_the_middle_of_a_command(stack: Stack, tmp_path: Path, dispatch: MqttListener) -> None:
    c = Cellular(stack, tmp_path, "A7670E")
    try:
        done = threading.Event()

        def reboot_on_cpin() -> None:
            while not done.wait(0.01):
                if "AT+CPIN?" in c.modem.received_commands:
                    c.modem.reboot()  # RDY / *ATREADY where the answer to AT+CPIN? was due
                    return

        c.modem.stall_next("AT+CPIN?")
        threading.Thread(target=reboot_on_cpin, daemon=True).start()
        button = c.start()
        button.wait_for_log(r"cell: bring-up failed exc=AtError err=\"\*ATREADY: 1\"", timeout=60)
        button.wait_for_log(r"cell: down why=modem_reboot fails=1 ", timeout=10)
        button.wait_for_log(r"cell: up rssi=-79", timeout=60)
        done.set()
        record = press_and_dispatch(button, dispatch)
        assert record["device"]["network"] == "cell"
        assert button.reboots == 0
    finally:
        c.close()


def test_no_carrier_during_a_session(stack: Stack, tmp_path: Path, dispatch: MqttListener) -> None:
    c = Cellular(stack, tmp_path, "SIM800L")
    try:
        button = c.start()
        button.wait_for_indicator("idle", timeout=60)
        c.network.refuse_data = True  # the redial fails too, until cleared
        mark = button.mark()
        c.modem.drop_data()
        button.wait_for_log(r"cell: down why=no_carrier ", timeout=30, since=mark)
        button.wait_for_log(r"link: wifi lost", timeout=30, since=mark)
        button.wait_for_indicator("fault", timeout=30)
        button.press(HOLD_MS)
        seq = button.wait_for_log(r"alert: raised seq=(\d+) ", since=mark).group(1)
        button.wait_for_log(r"cell: down why=ppp_refused ", timeout=60, since=mark)
        assert len(button.outbox()) == 1
        c.network.refuse_data = False
        record = wait_for_delivery(button, dispatch, seq)
        assert record["device"]["network"] == "cell"
        assert button.reboots == 0
    finally:
        c.close()


def test_wifi_down_falls_back_to_cellular_and_returns_to_wifi(
    stack: Stack, tmp_path: Path, dispatch: MqttListener
) -> None:
    c = Cellular(stack, tmp_path, "A7670E")
    try:
        button = c.start(wifi=False, wifi_ssid="shop")
        button.wait_for_log(r"link: bearer timeout net=wifi", timeout=60)
        button.wait_for_log(r"link: bearer up net=cell rssi=-79", timeout=60)
        record = press_and_dispatch(button, dispatch)
        assert record["device"]["network"] == "cell" and record["device"]["signal"] == DBM
        mark = button.mark()
        button.wifi(True)
        button.wait_for_log(r"link: better bearer up net=wifi", timeout=60, since=mark)
        button.wait_for_log(r"link: bearer up net=wifi rssi=-55", timeout=60, since=mark)
        button.wait_for_log(r"link: connected host=", timeout=60, since=mark)
        record = press_and_dispatch(button, dispatch)
        assert record["device"]["network"] == "wifi" and record["device"]["signal"] == -55
    finally:
        c.close()
