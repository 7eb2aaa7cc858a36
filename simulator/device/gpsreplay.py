"""gps-replay's device side (MicroPython): a receiver capture through the firmware's own GPS code.

    micropython -X heapsize=110K gpsreplay.py FILE

with firmware/ and this directory on MICROPYPATH. Each line of FILE (``#`` comments and blank
lines skipped) is written, with CR LF, into a virtual UART (vhal.VirtualUart); panic.gps.Gps
reads it in its own chunks, as fast as it goes. The clock is virtual: it
stands still while the capture flows (a burst), and at the end it moves
past panic.gps.QUIET_MS with the UART empty, as a receiver that stopped
talking, so the last epoch is committed the way the device would.

Prints, for every fix the firmware would put in an alert, one JSON object:
panic.fix.location's ``loc`` (lat, lon exact from the integers, acc, src,
age) plus ``fix`` (2|3), ``sats`` and ``hdop`` (null when unknown) and
``utc`` (the epoch's time of day, hhmmss.ss). Last, a summary line that
starts with ``#``.
"""

import sys

from panic import fix, gps
from vhal import VirtualUart


def _fixed2(v: int) -> str:
    return "null" if v < 0 else "%d.%02d" % (v // 100, v % 100)


def _report(reader: gps.Gps, now: int) -> None:
    loc = reader.loc(now)
    if loc is None:
        return
    nmea = reader.nmea
    text = fix.location(loc)
    print('%s,"fix":%d,"sats":%s,"hdop":%s,"utc":"%06d.%02d"}' % (
        text[:-1], nmea.dim, "null" if nmea.sats < 0 else str(nmea.sats), _fixed2(nmea.hdop),
        nmea.utc // 100, nmea.utc % 100))


def main() -> None:
    uart = VirtualUart()
    reader = gps.Gps(uart)
    now = 0
    lines = 0
    with open(sys.argv[1], "rb") as capture:
        for line in capture:
            line = line.strip()
            if not line or line[0] == 35:  # '#'
                continue
            lines += 1
            uart.write(line + b"\r\n")
            if reader.poll(now):  # one poll drains the UART, chunk by chunk
                _report(reader, now)
    now += gps.QUIET_MS  # the receiver stops talking: its last epoch ends
    if reader.poll(now):
        _report(reader, now)
    nmea = reader.nmea
    print("# lines=%d sentences=%d rejected=%d fixes=%d" % (lines, nmea.sentences, nmea.rejected, nmea.fixes))


main()
