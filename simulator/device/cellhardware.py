"""Virtual hardware of a simulated button with a cellular modem (runs under MicroPython).

Loaded by simmain only when the host starts a button with a modem: a Wi-Fi
button's heap never holds it. ``CellHardware`` is vhal.VirtualHardware plus:

- ``modem_uart``: the modem's UART, bridged by the host to an emulated modem
  (simulator/modem/emulator.py) over its pty: the host sends what the modem
  writes as ``modem <hex>`` lines, and the device's writes go to the host as
  ``modem <hex>`` lines (as ``gps <hex>`` feeds the GPS UART);
- ``modem_model`` (A7670E or SIM800L), ``modem_pwrkey``/``modem_reset``
  (the host logs their pulses as ``pwrkey 0|1`` / ``mreset 0|1``);
- ``ppp(uart)``: None. The unix port has no PPP: once the emulated modem has
  answered CONNECT the firmware's sockets use the host's network (it says so
  in its log, ``cell: connect: no PPP on this port``); everything up to CONNECT
  and after NO CARRIER is the real AT dialogue;
- Wi-Fi that the host switches (``wifi 0|1``; off when started with Wi-Fi off);
- optionally no GPS receiver (``gps_uart`` None): the cellular button's modules
  and the GPS's do not fit the 110 KB heap together (docs/benchmarks.md,
  "Cellular button").
"""

import binascii
import sys

from micropython import const

import vhal

_CHUNK = const(64)  # device writes per control line
_RSSI = const(-55)  # dBm, as vhal's Wi-Fi


class ModemUart(vhal.VirtualUart):
    """machine.UART(timeout=0) of the modem: readinto as VirtualUart's; write goes to the host."""

    def __init__(self, channel: object) -> None:
        super().__init__()
        self.channel = channel

    def write(self, data: bytes | str) -> int:  # type: ignore[override]
        """To the modem (machine.UART.write): ``modem <hex>`` lines to the host."""
        raw = data.encode() if isinstance(data, str) else data
        for i in range(0, len(raw), _CHUNK):
            vhal.send(self.channel, "modem " + binascii.hexlify(raw[i:i + _CHUNK]).decode())  # type: ignore[arg-type]
        return len(raw)


class CellHardware(vhal.VirtualHardware):
    def __init__(self, channel: object, name: str, uid: str, has_buzzer: bool, model: str, flags: str) -> None:
        super().__init__(channel, name, uid, has_buzzer)  # type: ignore[arg-type]
        if "g" not in flags:  # a board without a GPS receiver (panic.gps is then never loaded)
            self.gps_uart = None  # type: ignore[assignment]
            self.gps_power = None  # type: ignore[assignment]
        self.modem_uart = ModemUart(channel)
        self.modem_model = model
        self.modem_pwrkey = vhal.VirtualOutput(channel, "pwrkey")  # type: ignore[arg-type]
        self.modem_reset = vhal.VirtualOutput(channel, "mreset")  # type: ignore[arg-type]
        self.up = "w" in flags

    def ppp(self, uart: object) -> None:
        return None  # no PPP on the unix port: see the module docstring

    def isconnected(self) -> bool:  # Wi-Fi
        return self.up

    def rssi(self) -> int | None:  # Wi-Fi's
        return _RSSI if self.up else None

    def command(self, line: str) -> None:
        cmd, _, arg = line.partition(" ")
        if cmd == "modem":
            try:
                vhal.VirtualUart.write(self.modem_uart, binascii.unhexlify(arg))  # from the modem
                return
            except ValueError:
                pass
        elif cmd == "wifi" and arg in ("0", "1"):
            self.up = arg == "1"
            return
        super().command(line)  # (vhal.VirtualHardware is this module's board() under cellmain)


def board(channel: object, name: str, uid: str, has_buzzer: bool) -> CellHardware:
    """vhal.VirtualHardware's stand-in (simulator/device/cellmain.py): the modem model and the flags
    come after simmain's own arguments."""
    return CellHardware(channel, name, uid, has_buzzer, sys.argv[7], sys.argv[8])
