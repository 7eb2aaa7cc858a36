"""A TCP proxy between a simulated button and the broker, whose link a test can cut.

    with LinkProxy(broker_host, broker_port) as link:
        ... provision the button with broker 127.0.0.1:link.port ...
        link.cut()            # connection reset: every connection dropped, new ones refused
        link.cut("blackhole") # the link stays up but nothing gets through (a dead GSM cell)
        link.restore()

`delay_s` holds every chunk that long in each direction (a one-way network
latency: bench/cellular.py plays a cellular data link with it).

The device cannot tell it from a real network fault: a reset is seen at
once, a black hole only by the MQTT keepalive.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

from broker.run import free_port

Mode = Literal["up", "reset", "blackhole"]


class LinkProxy:
    def __init__(self, target_host: str, target_port: int, port: int | None = None, delay_s: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self.port = port or free_port()
        self.mode: Mode = "up"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def cut(self, mode: Literal["reset", "blackhole"] = "reset") -> None:
        """Break the link: `reset` drops every connection, `blackhole` silently discards all data."""
        self._loop.call_soon_threadsafe(self._set_mode, mode)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(self._set_mode, "up")

    def __enter__(self) -> LinkProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- on the proxy's event loop -------------------------------------------------

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "reset":
            for writer in list(self._open):
                writer.transport.abort()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _close(self) -> None:
        if self._server:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()

    async def _accept(self, device_reader: asyncio.StreamReader, device_writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            device_writer.transport.abort()
            return
        try:
            broker_reader, broker_writer = await asyncio.open_connection(*self.target)
        except OSError:
            device_writer.transport.abort()
            return
        self._open |= {device_writer, broker_writer}
        try:
            await asyncio.gather(self._pipe(device_reader, broker_writer), self._pipe(broker_reader, device_writer))
        finally:
            for writer in (device_writer, broker_writer):
                self._open.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                if self.mode == "blackhole":
                    continue  # swallowed, as by a dead cell: neither side hears about it
                if self.delay_s > 0:  # in flight for delay_s; the order kept (every chunk waits as long)
                    self._loop.call_later(self.delay_s, _forward, writer, data)
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()


def _forward(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.transport.is_closing():
        writer.write(data)
