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

from micropython import const

from panic import fix, gps
from vhal import VirtualUart


_PIECE = const(512)  # bytes read at a time


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
    # The capture is read in pieces, never a whole line at once: a line can be longer than the heap
    # (a binary log, a receiver at the wrong baud that never sends a newline). A line that outgrows
    # _PIECE goes to the UART as it comes, like any garbage (the parser drops it); a comment is skipped.
    # st: [lines passed on, mode of the line under way: 0 at its start, 1 passing it on, 2 a comment]
    st = [0, 0]

    def line(part: bytes, end: bool) -> None:
        if st[1] == 0:
            part = part.strip() if end else part.lstrip()
            if not part:
                return
            if part[0] == 35:  # '#'
                st[1] = 0 if end else 2
                return
            st[0] += 1
            st[1] = 0 if end else 1
        elif st[1] == 2:
            st[1] = 0 if end else 2
            return
        else:
            st[1] = 0 if end else 1
            if end:
                part = part.rstrip()
        uart.write(part + b"\r\n" if end else part)
        if reader.poll(now):  # one poll drains the UART, chunk by chunk
            _report(reader, now)

    tail = b""  # the line under way: at most _PIECE bytes of it
    with open(sys.argv[1], "rb") as capture:
        while True:
            chunk = capture.read(_PIECE)
            if not chunk:
                break
            tail += chunk
            nl = tail.find(b"\n")
            while nl >= 0:
                line(tail[:nl], True)
                tail = tail[nl + 1:]
                nl = tail.find(b"\n")
            if len(tail) >= _PIECE:
                line(tail, False)
                tail = b""
    line(tail, True)  # the last line, when the file does not end with a newline
    now += gps.QUIET_MS  # the receiver stops talking: its last epoch ends
    if reader.poll(now):
        _report(reader, now)
    nmea = reader.nmea
    print("# lines=%d sentences=%d rejected=%d fixes=%d" % (st[0], nmea.sentences, nmea.rejected, nmea.fixes))

main()
