"""The SMS path on one machine: an emulated operator, the gateway's GSM modem and a button's modem.

Used by the demo (`panic-demo --sms`), the end-to-end tests
(tests/test_sms_end_to_end.py) and bench/cellular.py, so all three wire it
as an operator would (docs/sms.md): the gateway reads its modem over a serial
port (`PANIC_SMS_PORT`, here the emulated SIM800L's pty); the simulated
button's modem UART is bridged to an emulated A7670E (simulator/button.py);
both modems are subscribers of one emulated network (simulator/modem/network.py)
that carries SMS between them by number, after `sms_delay_s`, and can lose
them. The button's SIM number is registered with its device (`sim_number`),
the gateway's number is the button's `sms_to`.

    with SmsPath() as path:
        stack = Stack(state_dir, gateway_env=path.gateway_env())
        ...
        button = path.button(stack, flash, "pb-...", wifi=False, sms_after_s=5)
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Any

from simulator.button import SimulatedButton
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network, Sms
from simulator.stack import BaseStack

GATEWAY_NUMBER = "+6281100000001"
BUTTON_NUMBER = "+6281200000002"


class SmsPath:
    def __init__(self, sms_delay_s: float = 0.0, *, button_model: str = "A7670E",
                 gateway_model: str = "SIM800L") -> None:
        self.network = Network(sms_delay_s)
        self.gateway_modem = EmulatedModem(self.network, GATEWAY_NUMBER, gateway_model)
        self.button_modem = EmulatedModem(self.network, BUTTON_NUMBER, button_model)

    def start(self) -> SmsPath:
        for modem in (self.gateway_modem, self.button_modem):
            modem.start()
            if not modem.booted.wait(5):
                raise RuntimeError(f"emulated modem {modem.number} did not boot")
        return self

    def close(self) -> None:
        self.gateway_modem.close()
        self.button_modem.close()

    def __enter__(self) -> SmsPath:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def gateway_env(self, poll_s: int = 2) -> dict[str, str]:
        """The gateway's settings for its SMS ingress on the emulated modem (docs/sms.md, "Operations")."""
        return {"PANIC_SMS_PORT": self.gateway_modem.path, "PANIC_SMS_POLL_S": str(poll_s)}

    def wait_gateway_ready(self, timeout: float = 30) -> None:
        """Until the gateway has set its modem up (the last step asks for +CMTI)."""
        deadline = time.monotonic() + timeout
        while not any(c.startswith("AT+CNMI") for c in self.gateway_modem.received_commands):
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not set its SMS modem up")
            time.sleep(0.05)

    def button(self, stack: BaseStack, flash: Path, device_id: str, *, wifi: bool = True,
               log_file: Path | None = None, broker_port: int | None = None, sim_number: str | None = BUTTON_NUMBER,
               heapsize: str | None = None, **config: Any) -> SimulatedButton:
        """Register `device_id` (with this modem's SIM number) and provision a button that texts the gateway's.

        `config` goes to config.json (sms_after_s, apn for cellular data, timing knobs); `broker_port`
        points it elsewhere than the broker (a LinkProxy); the button is returned not started.
        """
        issued = stack.register_button(device_id, sim_number=sim_number)
        broker = stack.broker_config
        SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=broker.host,
                                  broker_port=broker_port or broker.port, sms_to=[GATEWAY_NUMBER], **config)
        # The unit's board, GPS receiver included, its firmware from ROMFS beside the unit's 110 KB heap.
        return SimulatedButton(flash, modem=self.button_modem, wifi=wifi, log_file=log_file,
                               unique_id=device_id[3:], heapsize=heapsize)

    def sent(self, sender: str, to: str) -> list[Sms]:
        """SMS that entered the network from `sender` to `to` (delivered, on their way or lost)."""
        return [s for s in self.network.sent if s.sender == sender and s.to == to]

    def to_gateway(self) -> list[Sms]:
        return self.sent(BUTTON_NUMBER, GATEWAY_NUMBER)

    def to_button(self) -> list[Sms]:
        return self.sent(GATEWAY_NUMBER, BUTTON_NUMBER)

    def wait_for(self, what: str, count: int = 1, timeout: float = 60) -> list[Sms]:
        """Until `count` SMS went `what` ("to_gateway" or "to_button"); returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to_gateway() if what == "to_gateway" else self.to_button()
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} SMS {what}, not {count}, after {timeout} s")
            time.sleep(0.01)
