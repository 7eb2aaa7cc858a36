"""A DNS A-record lookup's packets (RFC 1035): the query, and the answer's address.

getaddrinfo() on the ESP32 blocks the whole interpreter until lwIP gives up:
4 tries (1 + 1 + 2 + 3 s) per DNS server, 7 s or more - as long as the
watchdog's timeout. panic.hal therefore sends this query itself over a
non-blocking UDP socket to the network's DNS server and awaits the answer
like any other I/O. Pure functions over bytes, tested on the unix port.
"""

import struct


class DnsError(ValueError):
    """No usable address in the answer; args[0] says why."""


def is_address(host: str) -> bool:
    """True for a dotted IPv4 address (no lookup needed)."""
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or len(p) > 3 or int(p) > 255:
            return False
    return True


def query(txid: int, host: str) -> bytes:
    """A recursive query for `host`'s A record."""
    name = b""
    for label in host.encode().split(b"."):
        if not 0 < len(label) < 64:
            raise DnsError("bad_name")
        name += bytes((len(label),)) + label
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + name + b"\x00\x00\x01\x00\x01"


def _skip_name(msg: bytes, i: int) -> int:
    while True:
        if i >= len(msg):
            raise DnsError("truncated")
        n = msg[i]
        if n & 0xC0 == 0xC0:
            return i + 2  # compression pointer: the name ends here
        if n == 0:
            return i + 1
        i += n + 1


def address(msg: bytes, txid: int) -> str:
    """The first A record of an answer to query(txid, ...), as dotted text."""
    if len(msg) < 12:
        raise DnsError("short")
    ident, flags, questions, answers = struct.unpack("!HHHH", msg[:8])
    if ident != txid or not flags & 0x8000:
        raise DnsError("not_ours")
    if flags & 0xF:
        raise DnsError("rcode:%d" % (flags & 0xF))
    i = 12
    for _ in range(questions):
        i = _skip_name(msg, i) + 4
    for _ in range(answers):
        i = _skip_name(msg, i)
        if i + 10 > len(msg):
            raise DnsError("truncated")
        rtype, rclass, _ttl, size = struct.unpack("!HHIH", msg[i : i + 10])
        i += 10
        if rtype == 1 and rclass == 1 and size == 4 and i + 4 <= len(msg):
            return "%d.%d.%d.%d" % (msg[i], msg[i + 1], msg[i + 2], msg[i + 3])
        i += size
    raise DnsError("no_address")
