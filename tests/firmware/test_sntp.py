"""panic.sntp and panic.dns under MicroPython, fed real packets built here with CPython's struct.

Finding 4: any datagram of 48 bytes or more used to be taken for the time,
the clock went negative after the NTP era rollover (February 2036), and the
NTP host was resolved with a getaddrinfo() that blocks the whole loop.
"""

from __future__ import annotations

import ast
import calendar
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NONCE = bytes.fromhex("0123456789abcdef")
NTP_TO_UNIX = 2208988800

SNTP = """
import binascii
from panic import sntp
nonce = binascii.unhexlify(%(nonce)r)
req = sntp.request(nonce)
print("request", binascii.hexlify(req).decode())
try:
    print("time", sntp.unix_seconds(binascii.unhexlify(%(answer)r), nonce))
except sntp.SntpError as e:
    print("refused", e.args[0])
"""


def answer(unix: int, *, mode: int = 4, stratum: int = 2, li: int = 0, origin: bytes = NONCE,
           ref_id: bytes = b"GPS\x00", length: int = 48) -> bytes:
    ntp = (unix + NTP_TO_UNIX) % 2**32
    packet = struct.pack(
        "!BBbbII4s8s8s8s8s", li << 6 | 4 << 3 | mode, stratum, 6, -20, 0, 0, ref_id,
        b"\x00" * 8, origin, struct.pack("!II", ntp, 0), struct.pack("!II", ntp, 0),
    )
    return (packet + b"\x00" * 20)[:length]


def sntp(run: Callable[..., Any], packet: bytes) -> tuple[str, str]:
    out = run(SNTP % {"nonce": NONCE.hex(), "answer": packet.hex()}).stdout.splitlines()
    request = out[0].split()[1]
    return request, out[1]


def test_request_carries_the_nonce(run_micropython: Callable[..., Any]) -> None:
    request, _ = sntp(run_micropython, answer(1767225600))
    raw = bytes.fromhex(request)
    assert len(raw) == 48 and raw[0] & 7 == 3 and raw[0] >> 3 & 7 == 4  # client, version 4
    assert raw[40:48] == NONCE


@pytest.mark.parametrize(
    "when", ["2026-01-01", "2036-02-07", "2036-02-08", "2040-06-01", "2100-01-01"],
)
def test_time_is_right_on_both_sides_of_the_era_rollover(run_micropython: Callable[..., Any], when: str) -> None:
    unix = calendar.timegm(tuple(int(x) for x in when.split("-")) + (12, 0, 0))
    _, result = sntp(run_micropython, answer(unix))
    assert result == f"time {unix}"


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (answer(1767225600, length=47), "short"),
        (answer(1767225600, mode=3), "mode"),  # our own request echoed back
        (answer(1767225600, mode=5), "mode"),  # broadcast
        (answer(1767225600, stratum=0, ref_id=b"RATE"), "kiss:RATE"),
        (answer(1767225600, stratum=0, ref_id=b"DENY"), "kiss:DENY"),
        (answer(1767225600, stratum=16), "stratum"),
        (answer(1767225600, li=3), "unsynchronised"),
        (answer(1767225600, origin=b"\x00" * 8), "originate"),  # not an answer to this request
        (answer(-NTP_TO_UNIX), "no_time"),
    ],
)
def test_unbelievable_answers_are_refused(run_micropython: Callable[..., Any], packet: bytes, reason: str) -> None:
    _, result = sntp(run_micropython, packet)
    assert result == f"refused {reason}"


DNS = """
import binascii
from panic import dns
print("query", binascii.hexlify(dns.query(0x1234, "pool.ntp.org")).decode())
for hexed in %(answers)r:
    try:
        print("address", dns.address(binascii.unhexlify(hexed), 0x1234))
    except dns.DnsError as e:
        print("refused", e.args[0])
print("literal", dns.is_address("192.168.1.1"), dns.is_address("pool.ntp.org"), dns.is_address("1.2.3.400"))
"""

QUESTION = b"\x04pool\x03ntp\x03org\x00" + struct.pack("!HH", 1, 1)


def dns_answer(txid: int = 0x1234, flags: int = 0x8180, records: bytes | None = None, count: int = 2) -> bytes:
    if records is None:
        # a CNAME first (skipped), then the A record; both names compressed
        records = (b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, 4) + b"\xc0\x0c\x00\x00"
                   + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([162, 159, 200, 1]))
    return struct.pack("!HHHHHH", txid, flags, 1, count, 0, 0) + QUESTION + records


def test_dns_query_and_answers(run_micropython: Callable[..., Any]) -> None:
    answers = [
        dns_answer(),
        dns_answer(txid=0x9999),  # someone else's answer
        dns_answer(flags=0x8183),  # NXDOMAIN
        dns_answer(records=b"", count=0),
        dns_answer()[:-3],  # truncated A record
    ]
    out = run_micropython(DNS % {"answers": [a.hex() for a in answers]}).stdout.splitlines()
    query = bytes.fromhex(out[0].split()[1])
    assert query == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + QUESTION
    assert out[1:] == [
        "address 162.159.200.1", "refused not_ours", "refused rcode:3", "refused no_address",
        "refused no_address", "literal True False False",
    ]


def test_hal_never_calls_the_blocking_getaddrinfo() -> None:
    """The NTP host is resolved with panic.dns over a non-blocking socket (hal.py cannot run on the unix port)."""
    hal = Path(__file__).resolve().parents[2] / "firmware" / "panic" / "hal.py"
    tree = ast.parse(hal.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "getaddrinfo"]
    assert calls == [], f"hal.py calls getaddrinfo at line(s) {[n.lineno for n in calls]}"
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            and n.value.id in ("dns", "sntp")}
    assert {"query", "address", "is_address", "request", "unix_seconds"} <= used
