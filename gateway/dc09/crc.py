"""CRC-16/ARC, the checksum DC-09 puts in front of every message and answer.

Polynomial 0x8005 reflected (0xA001), initial value 0, no final XOR: the CRC of
SIA DC-07/DC-09. Check value: crc16_arc(b"123456789") == 0xBB3D.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    entries = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        entries.append(crc)
    return tuple(entries)


_TABLE = _table()


def crc16_arc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc
