"""Panic-button firmware (MicroPython). See docs/firmware.md for the map."""

VERSION = "0.1.0"
