"""Links to a receiver over TCP or UDP (asyncio).

TCP keeps one connection open and reconnects after any error or silence (a
receiver that missed an answer may be stuck; a fresh connection costs little).
UDP sends one datagram per message and takes datagrams back from the
receiver's address. Both return the answer frames as text without LF/CR.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from gateway.dc09.frame import split_frames

READ_SIZE = 4096


class Link(Protocol):
    @property
    def reused(self) -> bool:
        """An open connection that has carried an exchange already (the receiver may have dropped it since)."""
        ...

    async def send(self, data: bytes) -> None: ...

    async def receive(self, deadline: float) -> list[str]:
        """Answer frames as they arrive; TimeoutError at `deadline` (loop time), ConnectionError on a lost link."""
        ...

    async def close(self) -> None: ...


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


class TcpLink:
    def __init__(self, host: str, port: int, connect_timeout_s: float) -> None:
        self._address = (host, port)
        self._connect_timeout = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._buffer = b""
        self._answered = False

    @property
    def reused(self) -> bool:
        return self._writer is not None and self._answered

    async def send(self, data: bytes) -> None:
        if self._reader is not None and self._reader.at_eof():
            await self.close()  # the receiver hung up while we were idle (some close after every answer)
        if self._writer is None:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*self._address), self._connect_timeout)
            self._reader, self._writer, self._buffer, self._answered = reader, writer, b"", False
        else:
            writer = self._writer
        try:
            writer.write(data)
            await writer.drain()
        except OSError:
            await self.close()
            raise

    async def receive(self, deadline: float) -> list[str]:
        if self._reader is None:
            raise ConnectionError("not connected")
        while True:
            frames, self._buffer = split_frames(self._buffer)
            if frames:
                self._answered = True
                return frames
            try:
                chunk = await asyncio.wait_for(self._reader.read(READ_SIZE), _remaining(deadline))
            except (TimeoutError, OSError):
                await self.close()
                raise
            if not chunk:
                await self.close()
                raise ConnectionError("the receiver closed the connection")
            self._buffer += chunk

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):  # the connection is gone either way
                await writer.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.inbox.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.inbox.put_nowait(exc)  # e.g. ICMP port unreachable: the receiver is down


class UdpLink:
    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Datagrams | None = None

    @property
    def reused(self) -> bool:
        return False  # datagrams: nothing to go stale

    async def send(self, data: bytes) -> None:
        if self._transport is None:
            loop = asyncio.get_running_loop()
            self._transport, self._protocol = await loop.create_datagram_endpoint(_Datagrams, remote_addr=self._address)
        self._transport.sendto(data)

    async def receive(self, deadline: float) -> list[str]:
        if self._protocol is None:
            raise ConnectionError("not connected")
        while True:
            item = await asyncio.wait_for(self._protocol.inbox.get(), _remaining(deadline))
            if isinstance(item, Exception):
                await self.close()
                raise ConnectionError(f"receiver unreachable: {item}")
            frames, _ = split_frames(item if item.endswith(b"\r") else item + b"\r")
            if frames:
                return frames

    async def close(self) -> None:
        transport, self._transport, self._protocol = self._transport, None, None
        if transport is not None:
            transport.close()
