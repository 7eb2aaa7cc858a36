"""The cellular modems the board and firmware support, and the facts the validator checks.

The firmware branches on ``board.json``'s ``modem.model``; README.md, "Cellular
modem", explains the choice and what the firmware does differently for each.
"""

from __future__ import annotations

from typing import Final


class ModemModel:
    def __init__(self, model: str, radio: str, uart_mv: int, vbat_min_mv: int, vbat_max_mv: int) -> None:
        self.model = model
        self.radio = radio
        self.uart_mv = uart_mv  # logic level of the modem's UART, DTR and RI pins
        self.vbat_min_mv = vbat_min_mv
        self.vbat_max_mv = vbat_max_mv


SUPPORTED: Final = {
    # SIMCom A7670 series hardware design: 1.8 V UART; VBAT from one Li-ion cell.
    "A7670E": ModemModel("A7670E", "LTE Cat-1 FDD B1/B3/B5/B7/B8/B20 + GSM 900/1800", 1800, 3400, 4200),
    "A7670SA": ModemModel("A7670SA", "LTE Cat-1 FDD B1/B2/B3/B4/B5/B7/B8/B28/B66 + GSM quad-band", 1800, 3400, 4200),
    # SIM800H&SIM800L Hardware Design V2.02: 2.8 V UART, VBAT 3.4-4.4 V (table 49).
    "SIM800L": ModemModel("SIM800L", "GSM/GPRS 850/900/1800/1900 (2G only)", 2800, 3400, 4400),
}
