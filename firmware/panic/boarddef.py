"""Board definition loader: pin numbers come from /board.json, never from the code.

The file is hardware/board.json in the repository, copied to the device root next
to the firmware. This module only parses and checks its shape; it never imports
machine, network or esp32: panic.hal turns the numbers into machine objects. The
full validation against the ESP32's pin constraints runs on a PC
(``python -m hardware.validate``) before a file reaches a device.

API (relied on by panic.hal and the simulator)::

    board = boarddef.load("/board.json")   # ValueError on a missing file,
                                           # bad JSON or a wrong shape
    board.name        # "pb-esp32-a7670e-rev-a"
    board.modem       # modem model, e.g. "A7670E" or "SIM800L": the firmware
                      # branches on it (LTE Cat-1 vs 2G-only, see hardware/README.md)
    board.pin("sos_button")
        # {"gpio": 27, "dir": "in", "pull": "up", "active": 0}
        # dir "in"/"out"; pull "up"/"down"/None (the internal pull to enable);
        # active 0 or 1: the pin level that means "pressed"/"on"/"asserted".
        # Extra keys only where the board says so: "pwm_hz" (drive this output
        # with PWM at that frequency, e.g. a piezo) and "wake" (True: an RTC pin
        # wired to be a deep-sleep wake source).
    board.uart("gps")      # {"id": 1, "tx": 25, "rx": 26, "baud": 9600}
    board.adc("battery")   # {"gpio": 35, "r_top": 100000, "r_bottom": 100000, "atten_db": 11}
                           # atten_db: 0, 6 or 11 (dB), the ADC settings panic.hal applies
    board.has("led_fault") # optional functions may be absent
    boarddef.divided_mv(board.adc("battery"), pin_mv)  # mV before the divider

pin(), uart() and adc() raise KeyError for a name the board does not define
as that kind. Digital functions: sos_button, led_status, buzzer, modem_pwrkey,
modem_reset, modem_status, mains_sense, tamper (required); led_fault,
gps_power, modem_dtr, modem_ri (optional). UARTs: gps, modem. ADC: battery.

Resistor values are integers (ohms) so the divider is exact: the ESP32 port's
floats are single precision.
"""

import json
import os
from micropython import const

REQUIRED = {
    "sos_button": "digital",
    "led_status": "digital",
    "buzzer": "digital",
    "modem_pwrkey": "digital",
    "modem_reset": "digital",
    "modem_status": "digital",
    "mains_sense": "digital",
    "tamper": "digital",
    "gps": "uart",
    "modem": "uart",
    "battery": "adc",
}

_DIRS = const(("in", "out"))
_PULLS = const(("up", "down", None))


def _error(where: str, why: str) -> ValueError:
    return ValueError("board.json: %s: %s" % (where, why))


def _int(spec: dict, key: str, where: str, low: int, high: int) -> int:
    value = spec.get(key)
    # type() rather than isinstance(): true/false and 1.0 are not pin numbers.
    if type(value) is not int or not low <= value <= high:
        raise _error(where, "%s must be an integer %d..%d, got %r" % (key, low, high, value))
    return value


def _digital(spec: dict, where: str) -> dict:
    pin = {
        "gpio": _int(spec, "gpio", where, 0, 39),
        "dir": spec.get("dir"),
        "pull": spec.get("pull"),
        "active": _int(spec, "active", where, 0, 1),
    }
    if pin["dir"] not in _DIRS:
        raise _error(where, "dir must be \"in\" or \"out\", got %r" % (pin["dir"],))
    if pin["pull"] not in _PULLS:
        raise _error(where, "pull must be \"up\", \"down\" or null, got %r" % (pin["pull"],))
    if "pwm_hz" in spec:
        pin["pwm_hz"] = _int(spec, "pwm_hz", where, 1, 40000000)
    if spec.get("wake") is True:
        pin["wake"] = True
    return pin


def _uart(spec: dict, where: str) -> dict:
    return {
        "id": _int(spec, "id", where, 0, 2),
        "tx": _int(spec, "tx", where, 0, 39),
        "rx": _int(spec, "rx", where, 0, 39),
        "baud": _int(spec, "baud", where, 300, 5000000),
    }


def _adc(spec: dict, where: str) -> dict:
    value = _int(spec, "atten_db", where, 0, 11)
    if value not in (0, 6, 11):  # exactly what panic.hal sets (as hardware/validate.py allows)
        raise _error(where, "atten_db must be one of 0, 6, 11, got %r" % (value,))
    return {
        "gpio": _int(spec, "gpio", where, 0, 39),
        "r_top": _int(spec, "r_top", where, 0, 100000000),
        "r_bottom": _int(spec, "r_bottom", where, 1, 100000000),
        "atten_db": value,
    }


_PARSERS = {"digital": _digital, "uart": _uart, "adc": _adc}


class Board:
    """The parsed board: small dicts per function, the JSON text is not kept."""

    def __init__(self, name: str, modem: str, functions: dict) -> None:
        self.name = name
        self.modem = modem
        self._kinds: dict = {}
        self._specs: dict = {}
        for fname, (kind, spec) in functions.items():
            self._kinds[fname] = kind
            self._specs[fname] = spec

    def _get(self, name: str, kind: str) -> dict:
        if self._kinds.get(name) != kind:
            raise KeyError("%s is not a %s function on board %s" % (name, kind, self.name))
        # A copy, so a caller cannot change the board for everyone else.
        return dict(self._specs[name])

    def pin(self, name: str) -> dict:
        return self._get(name, "digital")

    def uart(self, name: str) -> dict:
        return self._get(name, "uart")

    def adc(self, name: str) -> dict:
        return self._get(name, "adc")

    def has(self, name: str) -> bool:
        return name in self._kinds


def divided_mv(adc: dict, pin_mv: int) -> int:
    """Voltage (mV) at the top of the divider, from the mV measured at the pin.

    Integer arithmetic, rounded to the nearest mV: exact on a single-precision port.
    """
    total = adc["r_top"] + adc["r_bottom"]
    return (pin_mv * total + adc["r_bottom"] // 2) // adc["r_bottom"]


def _gpios(kind: str, spec: dict) -> tuple:
    if kind == "uart":
        return (spec["tx"], spec["rx"])
    return (spec["gpio"],)


def _text(value: object, where: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _error(where, "%s must be a non-empty string" % what)
    return value


def _function(fname: str, spec: object) -> tuple:
    """(kind, parsed dict) for one entry of "functions"."""
    if not isinstance(spec, dict):
        raise _error(fname, "must be an object")
    kind = spec.get("kind")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise _error(fname, "kind must be digital, uart or adc, got %r" % (kind,))
    want = REQUIRED.get(fname)
    if want is not None and want != kind:
        raise _error(fname, "must be a %s function, not %s" % (want, kind))
    return kind, parser(spec, fname)


def parse(data: object) -> Board:
    """Check the shape of a decoded board.json and keep only what the firmware needs."""
    if not isinstance(data, dict):
        raise _error("file", "the top level must be an object")
    name = _text(data.get("name"), "name", "name")
    modem = data.get("modem")
    model = _text(modem.get("model") if isinstance(modem, dict) else None, "modem", "modem.model")
    raw = data.get("functions")
    if not isinstance(raw, dict):
        raise _error("functions", "must be an object")
    for fname, kind in REQUIRED.items():
        if fname not in raw:
            raise _error(fname, "required %s function is missing" % kind)
    functions: dict = {}
    owner: dict = {}
    for fname, spec in raw.items():
        kind, parsed = _function(fname, spec)
        for gpio in _gpios(kind, parsed):
            if gpio in owner:
                raise _error(fname, "GPIO %d is already used by %s" % (gpio, owner[gpio]))
            owner[gpio] = fname
        functions[fname] = (kind, parsed)
    return Board(name, model, functions)


def load(path: str = "/board.json") -> Board:
    """Read and check the board definition; ValueError says what is wrong.

    Whatever the file holds (a directory, megabytes, non-UTF-8 bytes, JSON
    nested too deep for the parser), the answer is a ValueError, never a
    crash of the caller.
    """
    # Plain os and json only (no panic.flash): hardware/validate.py loads this file under CPython.
    try:
        size = os.stat(path)[6]
        f = open(path)
    except OSError as e:
        raise ValueError("board.json: cannot read %s: %r" % (path, e))
    try:
        if size > 16384:  # hardware/board.json is about 6 KB
            raise ValueError("over 16384 bytes")
        data = json.load(f)  # parsed from the stream: the text is never in the heap whole
    except Exception as e:  # ValueError; UnicodeError, MemoryError, RuntimeError (nested too deep)
        raise ValueError("board.json: %s is not valid JSON: %r" % (path, e))
    finally:
        f.close()
    return parse(data)
