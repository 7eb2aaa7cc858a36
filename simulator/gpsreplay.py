"""`panic-sim gps-replay FILE`: a receiver capture through the firmware's own GPS code.

Runs simulator/device/gpsreplay.py under ``micropython -X heapsize=110K``
with firmware/ on the path (the same panic.nmea, panic.gps and panic.fix
the device runs) and passes its output on: one JSON object per line on
stdout for every position the firmware would put in an alert, then a
summary (sentences read, lines rejected, fixes) on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from simulator.button import DEVICE_DIR, FIRMWARE_DIR, micropython_binary


def replay(capture: Path, *, heapsize: str = "110K", out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Replay `capture` (NMEA lines, `#` comments; `-` standard input); return the device script's exit code.

    Anything readable that is not a directory will do: a file, a pipe, a serial port (its speed set
    beforehand, e.g. ``stty -F /dev/ttyUSB0 9600 raw``); positions are printed as their epochs end.
    """
    if str(capture) == "-":
        capture = Path("/dev/stdin")  # the device script inherits this process's standard input
    elif not capture.exists():
        print(f"# gps-replay: no such file: {capture}", file=err)
        return 2
    elif capture.is_dir():
        print(f"# gps-replay: not a file: {capture}", file=err)
        return 2
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE_DIR}:{DEVICE_DIR}:.frozen")
    with subprocess.Popen(
        [micropython_binary(), "-X", f"heapsize={heapsize}", str(DEVICE_DIR / "gpsreplay.py"), str(capture)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                out.write(line)
                out.flush()
            else:  # the summary, or MicroPython's traceback if the firmware's code failed
                err.write(line)
    if proc.returncode:
        print(f"# gps-replay: micropython exited {proc.returncode}", file=err)
    return proc.returncode
