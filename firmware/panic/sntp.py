"""SNTP packets (RFC 4330): the request, and the checks an answer must pass.

Pure functions over bytes - no socket, no machine - so the unix port can
test them with real packets; panic.hal does the UDP exchange.

An answer is believed only if it is 48 bytes or more, comes from a server
(mode 4) that is synchronised (leap indicator not 3, stratum 1..15; stratum
0 is a kiss-of-death such as RATE or DENY) and echoes, as its originate
timestamp, the 8 random bytes this request carried as transmit timestamp -
so a stray, stale or spoofed datagram is not taken for the time.

NTP counts seconds from 1900 in 32 bits and wraps on 2036-02-07 (era 1).
A value below the 2024-01-01 pivot is therefore read as era 1: correct
from 2024 until 2160.
"""

import struct

PACKET_BYTES = 48
NTP_TO_UNIX = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_ERA_SECONDS = 4294967296  # 2^32
_PIVOT = 3913056000  # NTP seconds of 2024-01-01T00:00:00Z


class SntpError(ValueError):
    """The answer is not usable; args[0] says why (short, mode, kiss:RATE, ...)."""


def request(nonce: bytes) -> bytearray:
    """A client request (version 4, mode 3) whose transmit timestamp is `nonce` (8 bytes)."""
    packet = bytearray(PACKET_BYTES)
    packet[0] = 0x23  # LI 0, VN 4, mode 3
    packet[40:48] = nonce
    return packet


def unix_seconds(answer: bytes, nonce: bytes) -> int:
    """Unix seconds from a server's answer to request(nonce); SntpError if it must not be believed."""
    if len(answer) < PACKET_BYTES:
        raise SntpError("short")
    first = answer[0]
    if first & 7 != 4:
        raise SntpError("mode")
    stratum = answer[1]
    if stratum == 0:
        code = bytes(answer[12:16])
        text = code.decode() if code.isalpha() else "?"
        raise SntpError("kiss:" + text)
    if stratum > 15:
        raise SntpError("stratum")
    if first >> 6 == 3:
        raise SntpError("unsynchronised")
    if bytes(answer[24:32]) != bytes(nonce):
        raise SntpError("originate")
    seconds = struct.unpack("!I", answer[40:44])[0]
    if seconds == 0:
        raise SntpError("no_time")
    if seconds < _PIVOT:
        seconds += _ERA_SECONDS
    return seconds - NTP_TO_UNIX
