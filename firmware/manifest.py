# mypy: ignore-errors
# pyright: reportUndefinedVariable=false
# MicroPython freeze manifest: builds the button firmware into the firmware
# image, so its bytecode runs from flash instead of the heap (docs/firmware.md,
# "Memory"). ESP32, from a MicroPython source tree:
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=<this repo>/firmware/manifest.py
#
# This file replaces the board's default manifest, so it includes the port's
# own one first: that is where _boot.py (mounts the flash filesystem) and
# asyncio come from. A build for another port passes port_manifest=False
# from a manifest of its own that provides those (the unix-port measurement
# in docs/benchmarks.md does).
#
# Not executed by MicroPython: tools/makemanifest.py runs it at build time and
# provides options, include, package and module (hence no type checking).
options.defaults(port_manifest=True)
if options.port_manifest:
    include("$(PORT_DIR)/boards/manifest.py")

# Paths are relative to this file. main.py is frozen too: a frozen main.py
# runs at boot in place of one on the flash, so the image alone is the
# firmware. boot.py stays out on purpose (it is empty; see firmware/boot.py).
package("panic")
module("main.py")
