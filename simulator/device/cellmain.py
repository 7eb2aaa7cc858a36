"""Simulator entry of a button with a cellular modem (MicroPython): simmain, on cellhardware's board.

Run by simulator/button.py instead of simmain when the button has a modem::

    micropython -X heapsize=110K -m cellmain <simmain's arguments> <why or ""> <modem model> <flags>

(flags: ``w`` Wi-Fi up at start, ``g`` a GPS receiver; ``-`` neither). simmain
itself stays as the Wi-Fi button runs it: a Wi-Fi button's heap holds nothing of this.
"""

import cellhardware
import vhal

vhal.VirtualHardware = cellhardware.board  # type: ignore[misc,assignment]  # simmain builds the board with it

import simmain  # noqa: E402,F401  # runs the button (simmain.main() at its import)
