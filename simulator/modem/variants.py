"""What differs between the emulated modems, as data (hardware/modems.py names the supported models).

Each figure is from the vendor's AT command manual or hardware design where
noted; anything only seen in emulation is listed in hardware/README.md
("Verified only in emulation").
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.modems import SUPPORTED


@dataclass(frozen=True)
class Variant:
    model: str
    manufacturer: str
    revision: str
    # Printed after power-on or a reset, in order (SIM800 Series AT Command Manual; A7670 Series AT Command Manual).
    boot_urcs: tuple[str, ...]
    # Registration queries this modem answers: +CREG (CS), +CGREG (GPRS), +CEREG (LTE, A76xx only).
    registration: tuple[str, ...]
    # Commands that reboot the modem.
    reboot: tuple[str, ...]
    # Dial strings that open a PPP data session.
    dial: tuple[str, ...]
    # The access technology in +COPS? (0 GSM, 7 E-UTRAN).
    act: int
    # Seconds from power-on/reset to the first boot URC, as the emulator plays it (field figure: a few s).
    boot_s: float


VARIANTS: dict[str, Variant] = {
    "A7670E": Variant(
        model="A7670E", manufacturer="SIMCOM INCORPORATED", revision="A011B07A7670M7_F",
        boot_urcs=("*ATREADY: 1", "+CPIN: READY", "SMS DONE", "PB DONE"),
        registration=("CREG", "CGREG", "CEREG"), reboot=("AT+CRESET", "AT+CFUN=1,1"),
        dial=("ATD*99#", "ATD*99***1#"), act=7, boot_s=0.05,
    ),
    "SIM800L": Variant(
        model="SIM800L", manufacturer="SIMCOM_Ltd", revision="1418B05SIM800L24",
        boot_urcs=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
        registration=("CREG", "CGREG"), reboot=("AT+CFUN=1,1",),
        dial=("ATD*99#", "ATD*99***1#"), act=0, boot_s=0.05,
    ),
}
assert set(VARIANTS) <= set(SUPPORTED), "every emulated modem is one hardware/modems.py supports"
