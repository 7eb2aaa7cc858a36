"""Hardware abstraction: the only module that imports machine and network.

Everything else gets a ``Hardware`` object and uses only this interface
(declared below as typing Protocols, so mypy checks that both the ESP32
implementation here and the simulator's virtual hardware,
simulator/device/vhal.py, provide it):

- ``name``: board name (from board.json)
- ``button.pressed() -> bool``: raw, undebounced SOS contact (active level applied)
- ``led.set(on)``, ``buzzer.set(on)``, ``fault_led.set(on)`` (``buzzer`` and
  ``fault_led`` are None on a board without one)
- ``watchdog(timeout_ms) -> Watchdog`` with ``feed()``; once created it cannot be stopped
- ``wifi.connect(ssid, password)`` (starts connecting, returns at once),
  ``wifi.isconnected()``, ``wifi.rssi() -> int | None``
- ``clock.utc() -> int | None``: Unix seconds, None until synced;
  ``await clock.sync(ntp_host) -> bool``
- ``unique_id() -> str``: 12 lowercase hex (base MAC), the default device id
- ``battery() -> int | None`` (percent), ``power() -> "mains" | "battery"``
- ``gps_uart``: the GPS receiver's UART (``readinto(buf)`` returning at once,
  None when nothing waits), or None on a board without one; ``gps_power``:
  its power switch, or None
- ``modem_uart``: the cellular modem's UART (as ``gps_uart``, plus ``write``),
  ``modem_model`` (board.json ``modem.model``: a key of panic.modem.MODELS),
  ``modem_pwrkey`` / ``modem_reset`` (switches: on pulls the modem's pin low),
  ``ppp(uart)``: a ``network.PPP`` on it (None where the port has none: the
  simulator). Only panic.cellular uses them; a simulated Wi-Fi-only button has none
  (panic.cellular checks with getattr). On a cellular button ``wifi`` is the
  active bearer (panic.cellular puts it there)
- ``reset()``: reboot

Pins come from the board definition (``board.json`` in the flash root,
hardware/board.json in the repository) through panic.boarddef. Every pin
the board defines for the firmware is configured at boot, so none floats:
``led_fault`` is driven (off until the indicator says ``fault``) and
``tamper`` is an input (``Esp32Hardware.tamper``, read by panic.sensors).

The button never deep-sleeps. It holds an MQTT session open to receive the
gateway's acks and to send heartbeats (the gateway reports a silent button
as offline), and it runs from mains with a battery only as backup: a
sleeping button could not confirm an alert or prove it is armed. The
``wake`` flags in board.json mark pins wired as RTC wake sources for a
future battery-only variant; this firmware does not use them.

Clock: SNTP over a non-blocking UDP socket, the packets checked by
panic.sntp; the NTP host's name is resolved the same way (panic.dns, to the
DNS server Wi-Fi got from DHCP), never with the blocking getaddrinfo().
"""

import asyncio
import binascii
import os
import socket
import time

import machine
import network
from micropython import const

from panic import dns, mem, sntp

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Protocol

    class PinIn(Protocol):
        def pressed(self) -> bool: ...

    class Switch(Protocol):
        """An on/off output: the status LED, a buzzer (plain or PWM-driven)."""

        def set(self, on: bool) -> None: ...

    class Watchdog(Protocol):
        def feed(self) -> None: ...

    class Wifi(Protocol):
        """A bearer: the Wi-Fi, or panic.cellular's cellular data (whose ``net`` is ``cell``; without one: wifi)."""

        def connect(self, ssid: str | None, password: str | None) -> None: ...
        def isconnected(self) -> bool: ...
        def rssi(self) -> int | None: ...

    class Clock(Protocol):
        def utc(self) -> int | None: ...
        async def sync(self, host: str | None) -> bool: ...

    from typing import Any

    from panic.gps import Uart
    from panic.modem import ModemUart

    class Hardware(Protocol):
        @property
        def name(self) -> str: ...
        @property
        def button(self) -> PinIn: ...
        @property
        def tamper(self) -> PinIn: ...
        @property
        def led(self) -> Switch: ...
        @property
        def buzzer(self) -> Switch | None: ...
        @property
        def fault_led(self) -> Switch | None: ...
        @property
        def wifi(self) -> Wifi: ...
        @property
        def clock(self) -> Clock: ...
        @property
        def gps_uart(self) -> Uart | None: ...
        @property
        def gps_power(self) -> Switch | None: ...
        def watchdog(self, timeout_ms: int) -> Watchdog: ...
        def unique_id(self) -> str: ...
        def battery(self) -> int | None: ...
        def power(self) -> str: ...
        def reset(self) -> None: ...

    class CellHardware(Hardware, Protocol):
        """A board with a cellular modem (Esp32Hardware; the simulator's cellhardware.CellHardware)."""

        @property
        def modem_uart(self) -> ModemUart | None: ...
        @property
        def modem_model(self) -> str: ...
        @property
        def modem_pwrkey(self) -> Switch | None: ...
        @property
        def modem_reset(self) -> Switch | None: ...
        def ppp(self, uart: ModemUart | None) -> Any: ...

BOARD_FILE = "board.json"
# MicroPython's epoch is 2000 on some ports/versions and 1970 on others.
_EPOCH_TO_UNIX = 946684800 if time.gmtime(0)[0] == 2000 else 0
_SYNCED_AFTER = const(1704067200)  # 2024-01-01: an RTC showing less has not been set
_POLL_MS = const(100)
_ANSWER_POLLS = const(30)  # wait up to 3 s for an SNTP or DNS answer
_RECV_BYTES = const(512)  # a DNS answer with a few records; SNTP needs 48

_EMPTY_MV = const(3300)  # battery: 0 %
_FULL_MV = const(4200)  # 100 %


def _active_low(spec: dict) -> bool:
    return spec["active"] == 0  # boarddef: the level that means pressed / on


def _input(spec: dict) -> machine.Pin:
    pull = spec.get("pull")
    if pull == "up":
        return machine.Pin(spec["gpio"], machine.Pin.IN, machine.Pin.PULL_UP)
    if pull == "down":
        return machine.Pin(spec["gpio"], machine.Pin.IN, machine.Pin.PULL_DOWN)
    return machine.Pin(spec["gpio"], machine.Pin.IN)


class Esp32Button:
    def __init__(self, spec: dict) -> None:
        self._pin = _input(spec)
        self._pressed_level = 0 if _active_low(spec) else 1

    def pressed(self) -> bool:
        return self._pin.value() == self._pressed_level


class Esp32Output:
    def __init__(self, spec: dict) -> None:
        self._invert = _active_low(spec)
        self._pin = machine.Pin(spec["gpio"], machine.Pin.OUT, value=1 if self._invert else 0)

    def set(self, on: bool) -> None:
        self._pin.value(1 if bool(on) != self._invert else 0)


class Esp32Tone:
    """A piezo that needs a square wave (board.json gives ``pwm_hz``)."""

    def __init__(self, spec: dict) -> None:
        self._pwm = machine.PWM(machine.Pin(spec["gpio"], machine.Pin.OUT), freq=spec["pwm_hz"], duty_u16=0)

    def set(self, on: bool) -> None:
        self._pwm.duty_u16(32768 if on else 0)


class Esp32Watchdog:
    def __init__(self, timeout_ms: int) -> None:
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self) -> None:
        self._wdt.feed()


class Esp32Wifi:
    def __init__(self) -> None:
        self._wlan = network.WLAN(network.STA_IF)

    def connect(self, ssid: str | None, password: str | None) -> None:
        self._wlan.active(True)
        if ssid:
            try:
                self._wlan.connect(ssid, password or "")
            except OSError:  # "internal state error" while a previous attempt is still running
                pass

    def isconnected(self) -> bool:
        return bool(self._wlan.isconnected())

    def rssi(self) -> int | None:
        try:
            return int(self._wlan.status("rssi"))
        except Exception:  # not associated
            return None

    def dns_server(self) -> str:
        return str(self._wlan.ifconfig()[3])


async def _exchange(addr: tuple, packet: bytes | bytearray) -> bytes | None:
    """Send one UDP datagram, await one answer without blocking the loop; None on timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        s.sendto(packet, addr)
        for _ in range(_ANSWER_POLLS):
            await asyncio.sleep_ms(_POLL_MS)
            try:
                return s.recv(_RECV_BYTES)
            except OSError:  # EAGAIN: nothing yet
                continue
        return None
    finally:
        s.close()


class Esp32Clock:
    def __init__(self, wifi: Esp32Wifi) -> None:
        self._wifi = wifi
        self._synced = time.time() + _EPOCH_TO_UNIX >= _SYNCED_AFTER  # RTC kept over a soft reset
        self._host = ""
        self._ip = ""  # the NTP host's address, resolved once per boot

    def utc(self) -> int | None:
        if not self._synced:
            return None
        return int(time.time()) + _EPOCH_TO_UNIX

    async def _resolve(self, host: str) -> str:
        if dns.is_address(host):
            return host
        txid = int.from_bytes(os.urandom(2), "big")
        answer = await _exchange((self._wifi.dns_server(), 53), dns.query(txid, host))
        if answer is None:
            raise OSError("dns timeout")
        return dns.address(answer, txid)

    async def sync(self, host: str | None) -> bool:
        """One SNTP exchange; every step awaits, nothing blocks the loop (see the module docstring)."""
        if not host:
            return False
        if host != self._host or not self._ip:
            self._ip = await self._resolve(host)
            self._host = host
        nonce = os.urandom(8)
        answer = await _exchange((self._ip, 123), sntp.request(nonce))
        if answer is None:
            self._ip = ""  # maybe the pool moved: resolve again next time
            return False
        unix = sntp.unix_seconds(answer, nonce)  # SntpError (logged by the caller) if not believable
        if unix < _SYNCED_AFTER:
            return False
        tm = time.gmtime(unix - _EPOCH_TO_UNIX)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
        self._synced = True
        return True


class Esp32Battery:
    """Cell voltage through the board's divider, mapped linearly 3.3 V -> 0 %, 4.2 V -> 100 %."""

    def __init__(self, spec: dict) -> None:
        self._spec = spec
        # boarddef._adc accepts exactly these keys; no value falls back to another.
        atten = {0: machine.ADC.ATTN_0DB, 6: machine.ADC.ATTN_6DB, 11: machine.ADC.ATTN_11DB}
        self._adc = machine.ADC(machine.Pin(spec["gpio"]), atten=atten[spec["atten_db"]])

    def percent(self) -> int:
        spec = self._spec
        pin_mv = self._adc.read_uv() // 1000
        mv = pin_mv * (spec["r_top"] + spec["r_bottom"]) // spec["r_bottom"]  # boarddef.divided_mv
        pct = (mv - _EMPTY_MV) * 100 // (_FULL_MV - _EMPTY_MV)
        return 0 if pct < 0 else 100 if pct > 100 else pct


class Esp32Hardware:
    def __init__(self, board_file: str = BOARD_FILE) -> None:
        from panic import boarddef

        board = boarddef.load(board_file)  # ValueError says what is wrong with the file
        self.name: str = board.name
        self.button = Esp32Button(board.pin("sos_button"))
        self.led = Esp32Output(board.pin("led_status"))
        spec = board.pin("buzzer")
        self.buzzer: Switch | None = Esp32Tone(spec) if "pwm_hz" in spec else Esp32Output(spec)
        self.fault_led: Switch | None = Esp32Output(board.pin("led_fault")) if board.has("led_fault") else None
        self.tamper = Esp32Button(board.pin("tamper"))  # pressed() == lid open or wire cut
        spec = board.pin("mains_sense")
        self._mains = _input(spec)
        self._mains_active = spec["active"]
        self._battery = Esp32Battery(board.adc("battery"))
        self.wifi = Esp32Wifi()
        self.clock = Esp32Clock(self.wifi)
        # timeout=0: readinto returns at once (None when nothing waits); the GPS task polls.
        spec = board.uart("gps")
        self.gps_uart: Uart | None = machine.UART(
            spec["id"], baudrate=spec["baud"], tx=spec["tx"], rx=spec["rx"], timeout=0)
        self.gps_power: Switch | None = Esp32Output(board.pin("gps_power")) if board.has("gps_power") else None
        # The modem (panic.cellular): 1 KB receive buffer, ~90 ms at 115200 baud between polls of 20 ms.
        spec = board.uart("modem")
        self.modem_uart: ModemUart | None = machine.UART(
            spec["id"], baudrate=spec["baud"], tx=spec["tx"], rx=spec["rx"], timeout=0, rxbuf=1024)
        self.modem_model: str = board.modem
        self.modem_pwrkey: Switch | None = Esp32Output(board.pin("modem_pwrkey"))
        self.modem_reset: Switch | None = Esp32Output(board.pin("modem_reset"))
        if board.has("modem_dtr"):
            Esp32Output(board.pin("modem_dtr"))  # driven idle (deasserted), not left floating
        mem.unload("panic.boarddef")  # needed only here; its heap is better spent elsewhere

    def watchdog(self, timeout_ms: int) -> Esp32Watchdog:
        return Esp32Watchdog(timeout_ms)

    def ppp(self, uart: ModemUart | None) -> Any:
        """network.PPP over the modem's UART (MicroPython >= 1.26 API: docs/firmware.md, "Cellular")."""
        return network.PPP(uart)

    def unique_id(self) -> str:
        return binascii.hexlify(machine.unique_id()).decode()[:12]

    def battery(self) -> int | None:
        try:
            return self._battery.percent()
        except OSError:  # ADC not calibrated or busy: unknown rather than wrong
            return None

    def power(self) -> str:
        return "mains" if self._mains.value() == self._mains_active else "battery"

    def reset(self) -> None:
        machine.reset()
