"""Facts about the ESP32 (ESP32-D0WD-V3 in an ESP32-WROOM-32E module) that constrain a pin map.

Sources, all Espressif:
- ESP32 Series Datasheet, "Pin Definitions", "Strapping Pins", "RTC and Low-Power
  Management" and "Analog-to-Digital Converter".
- ESP32-WROOM-32E Datasheet, "Pin Definitions" (module pin numbers; GPIO 37/38 are
  not brought out; GPIO 6-11 are wired to the on-module SPI flash).
- ESP-IDF Programming Guide, ESP32 "ADC Oneshot Mode Driver" (input range per
  attenuation) and "Wi-Fi Driver" (ADC2 is used by Wi-Fi).
"""

from __future__ import annotations

from typing import Final

# GPIOs that exist on the chip: there is no GPIO 20, 24 or 28-31 on an ESP32-D0WD.
GPIOS: Final = frozenset([*range(0, 20), 21, 22, 23, 25, 26, 27, *range(32, 40)])

# Wired to the module's SPI flash: touching them crashes the chip.
FLASH_PINS: Final = frozenset(range(6, 12))

# Input-only pads: no output driver and no internal pull-up/pull-down resistors.
INPUT_ONLY: Final = frozenset(range(34, 40))

# UART0 carries the ROM boot log and the serial console the technician uses.
CONSOLE_PINS: Final = frozenset([1, 3])
CONSOLE_UART_ID: Final = 0

# Pins the RTC domain can watch in deep sleep (ext0/ext1 wake-up sources).
RTC_GPIOS: Final = frozenset([0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39])

# ADC1 keeps working with Wi-Fi on; ADC2 is taken by the Wi-Fi driver.
ADC1_CHANNELS: Final = {36: 0, 37: 1, 38: 2, 39: 3, 32: 4, 33: 5, 34: 6, 35: 7}
ADC2_CHANNELS: Final = {4: 0, 0: 1, 2: 2, 15: 3, 13: 4, 12: 5, 14: 6, 27: 7, 25: 8, 26: 9}

# Usable input range (mV) at each attenuation (ESP-IDF, ESP32, "ADC attenuation").
ADC_RANGE_MV: Final = {0: 950, 6: 1750, 11: 2450}


class Strap:
    """A strapping pin: the chip samples it at reset, before any firmware runs."""

    def __init__(self, gpio: int, safe_level: int, consequence: str) -> None:
        self.gpio = gpio
        self.safe_level = safe_level  # the level the pin must sit at during reset
        self.consequence = consequence  # what the other level does


# Only the bias the circuit puts on the pin at reset matters: internal pulls are
# set by the firmware after the straps have been latched.
STRAPS: Final = {
    0: Strap(0, 1, "low at reset boots the serial download mode instead of the firmware"),
    2: Strap(2, 0, "high at reset stops the serial bootloader from being entered, so the unit cannot be flashed"),
    5: Strap(5, 1, "low at reset changes the SDIO timing strap away from Espressif's reference design"),
    12: Strap(12, 0, "high at reset selects 1.8 V flash; the module's 3.3 V flash then fails to boot"),
    15: Strap(15, 1, "low at reset silences the ROM boot log on UART0, hiding boot faults from the technician"),
}


class Module:
    """An ESP32 module: which GPIOs reach its pads, and on which pad number."""

    def __init__(self, name: str, pads: dict[int, str]) -> None:
        self.name = name
        self.pads = pads  # module pad number -> pad name ("IO27", "SENSOR_VP", ...)

    def pad_of(self, gpio: int) -> int | None:
        for pad, label in self.pads.items():
            if gpio_of_label(label) == gpio:
                return pad
        return None

    def gpios(self) -> frozenset[int]:
        found = (gpio_of_label(label) for label in self.pads.values())
        return frozenset(g for g in found if g is not None)


def gpio_of_label(label: str) -> int | None:
    """GPIO number behind a module pad name, None for power pads."""
    if label.startswith("IO"):
        return int(label[2:])
    return _SPECIAL_PADS.get(label)


_SPECIAL_PADS: Final = {
    "SENSOR_VP": 36, "SENSOR_VN": 39, "RXD0": 3, "TXD0": 1,
    "SD2": 9, "SD3": 10, "CMD": 11, "CLK": 6, "SD0": 7, "SD1": 8,
}

# ESP32-WROOM-32E datasheet, "Pin Layout" (pads 1-38; pad 39 is the ground pad).
WROOM_32E: Final = Module("ESP32-WROOM-32E", {
    1: "GND", 2: "3V3", 3: "EN", 4: "SENSOR_VP", 5: "SENSOR_VN", 6: "IO34", 7: "IO35",
    8: "IO32", 9: "IO33", 10: "IO25", 11: "IO26", 12: "IO27", 13: "IO14", 14: "IO12",
    15: "GND", 16: "IO13", 17: "SD2", 18: "SD3", 19: "CMD", 20: "CLK", 21: "SD0",
    22: "SD1", 23: "IO15", 24: "IO2", 25: "IO0", 26: "IO4", 27: "IO16", 28: "IO17",
    29: "IO5", 30: "IO18", 31: "IO19", 32: "NC", 33: "IO21", 34: "RXD0", 35: "TXD0",
    36: "IO22", 37: "IO23", 38: "GND",
})

MODULES: Final = {WROOM_32E.name: WROOM_32E}
