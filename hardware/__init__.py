"""The physical panic button: board definition, its validator, wiring and power budget.

- ``hardware/board.json``: the one board definition; the firmware loads the same
  file from the device root (``/board.json``) through ``firmware/panic/boarddef.py``.
- ``python -m hardware.validate [board.json]``: checks a pin map against the ESP32's
  documented constraints.
- ``python -m hardware.wiring``: regenerates ``wiring.md`` and ``wiring.svg`` from the
  board definition.
- ``python -m hardware.power_budget``: standby time on battery and peak currents.

See ``hardware/README.md`` for the build, installation and bring-up guide.
"""
