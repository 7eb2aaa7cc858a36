"""SMS ingress fixtures: emulated modems on ptys, the real broker and gateway, a button's phone.

The gateway runs as `panic-gateway` in its own process (simulator/stack.py)
with PANIC_SMS_PORT on the gateway modem's pty; the test plays the button
through a second emulated modem, driven over its own pty with the same AT
driver class the gateway uses (gateway/sms/modem.py), so every SMS crosses
two real AT dialogues and the emulated network.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.sms import pdu
from gateway.sms.modem import Modem
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from simulator.stack import MqttListener, Stack
from tests.gateway.scripted import ScriptedDevice, new_device_id

GATEWAY_NUMBER = "+6281100000001"
BUTTON_NUMBER = "+6281200000002"


def sms_mac(key: bytes, signed: str) -> str:
    """The contract's MAC (protocol/README.md, SMS), computed here independently of gateway/sms/format.py."""
    return hmac.new(key, b"panic/v1/sms\n" + signed.encode(), hashlib.sha256).hexdigest()[:16]


def alert_text(key: bytes, device_id: str, seq: int, kind: str = "S", *, rssi: str = "-83",
               loc: str = "-54291234,1052612345,6,1,g") -> str:
    signed = f"PB1 A {device_id[3:]} {seq} {kind} - 1795800000 5430518 {loc} 64 b {rssi}"
    return f"{signed} {sms_mac(key, signed)}"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Phone:
    """The button's side: its emulated modem, driven over the pty."""

    modem: EmulatedModem
    driver: Modem

    def send(self, text: str, to: str = GATEWAY_NUMBER) -> None:
        self.driver.send_sms(to, text)

    def next_sms(self, timeout: float = 20.0) -> pdu.Delivered:
        """The next SMS that reaches the button (announced by +CMTI), read and deleted."""
        deadline = time.monotonic() + timeout
        while True:
            kind, index = self.driver.events.get(timeout=max(0.0, deadline - time.monotonic()))
            if kind != "sms":
                continue
            hex_pdu = self.driver.read(index)
            self.driver.delete(index)
            assert hex_pdu is not None
            return pdu.decode_deliver(hex_pdu)


@dataclass
class SmsWorld:
    network: Network
    gateway_modem: EmulatedModem
    stack: Stack
    phone: Phone

    def metrics(self) -> str:
        text: str = self.stack.gateway.request("GET", "/metrics")
        return text


@pytest.fixture
def sms_world(tmp_path: Path) -> Iterator[SmsWorld]:
    network = Network()
    gateway_modem = EmulatedModem(network, GATEWAY_NUMBER, "SIM800L").start()
    button_modem = EmulatedModem(network, BUTTON_NUMBER, "A7670E").start()
    stack = Stack(tmp_path, gateway_env={"PANIC_SMS_PORT": gateway_modem.path, "PANIC_SMS_POLL_S": "2",
                                         "PANIC_REJECTION_EVENT_INTERVAL_S": "0"})
    assert button_modem.booted.wait(5)
    driver = Modem.open(button_modem.path, 115200)
    try:
        driver.setup()
        with stack:
            # The gateway has set its modem up (the last step asks for +CMTI): SMS from now on are announced.
            wait_until(lambda: any(c.startswith("AT+CNMI") for c in gateway_modem.received_commands),
                       what="the gateway to set its modem up")
            yield SmsWorld(network, gateway_modem, stack, Phone(button_modem, driver))
    finally:
        driver.close()
        button_modem.close()
        gateway_modem.close()


@pytest.fixture
def dispatch(sms_world: SmsWorld) -> Iterator[MqttListener]:
    listener = sms_world.stack.dispatch()
    yield listener
    listener.close()


@pytest.fixture
def button(sms_world: SmsWorld) -> Iterator[ScriptedDevice]:
    """A registered device whose SIM is the button modem's number (and which can speak MQTT too)."""
    device = ScriptedDevice(sms_world.stack, new_device_id())
    sms_world.stack.gateway.request("PATCH", f"/devices/{device.id}", {"sim_number": BUTTON_NUMBER})
    yield device
    device.mqtt.close()
