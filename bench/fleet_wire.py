"""Bare MQTT 3.1.1 for a fleet's worth of buttons: CONNECT, PUBLISH, nothing else.

A thousand paho clients would need a thousand network threads in the load
generator; a button only connects and publishes, so the benchmark writes
those packets itself on plain blocking sockets. Loopback only.
"""

from __future__ import annotations

import socket
import struct


def _length(n: int) -> bytes:
    """MQTT's variable-length "remaining length"."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 1) -> bytes:
    body = _string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytes([0x30 | (qos << 1)]) + _length(len(body)) + body


def connect(host: str, port: int, client_id: str, username: str, password: str) -> socket.socket:
    """An MQTT session (clean, keepalive off: the benchmark's phases are short) on a TCP socket."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    flags = 0x80 | 0x40 | 0x02  # username, password, clean session
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 0) + _string(client_id) + _string(username) \
        + _string(password)
    sock.sendall(bytes([0x10]) + _length(len(body)) + body)
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise ConnectionError(f"{client_id}: the broker closed the connection")
        connack += chunk
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"{client_id}: CONNACK {connack.hex()}")
    return sock
