"""The DC-09 forwarder: events in (any thread), one sender per receiver out.

Concurrency choice: the senders are asyncio tasks on one event loop in one
daemon thread of their own. The gateway's MQTT side is threaded (paho), so
`submit` is a plain blocking call: it commits the event to the persistent
queue for every receiver in one transaction, then wakes the senders. Once it
has returned, the event survives a crash and will be delivered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.dc09.config import ReceiverConfig
from gateway.dc09.contact_id import ContactId
from gateway.dc09.location import Location
from gateway.dc09.queue import Dc09Queue, NewMessage
from gateway.dc09.sender import ReceiverSender, ReceiverStatus
from gateway.metrics import Metrics


@dataclass(frozen=True)
class Dc09Event:
    """One thing to report: `source_key` is its identity (e.g. "alert:pb-3c71bf4a9e10:18")."""

    source_key: str
    device_id: str
    contact_id: ContactId
    location: Location | None = None


class Dc09Forwarder:
    def __init__(
        self,
        receivers: Sequence[ReceiverConfig],
        queue_path: Path,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.receivers = list(receivers)
        self.queue = Dc09Queue(queue_path)
        self.metrics = metrics or Metrics()
        self._clock = clock
        self._schemes = {r.name: r.accounts() for r in self.receivers}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._senders: dict[str, ReceiverSender] = {}
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def submit(self, event: Dc09Event) -> int:
        """Queue `event` for every receiver (durably); returns how many rows were new."""
        messages = []
        for receiver in self.receivers:
            account = self._schemes[receiver.name].account_for(event.device_id)  # AccountError before anything
            extended = event.location.extended_data() if event.location and receiver.send_location else ()
            data = f"#{account}|{event.contact_id.text()}"
            messages.append(NewMessage(receiver.name, event.source_key, account, data, extended, self._clock()))
        added = self.queue.enqueue(messages)
        self._wake()
        return added

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None:
            for sender in self._senders.values():
                loop.call_soon_threadsafe(sender.wake.set)

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="dc09", daemon=True)
        self._thread.start()
        self._started.wait()

    async def _run(self) -> None:
        self._stopping = asyncio.Event()
        self._senders = {r.name: ReceiverSender(r, self.queue, self.metrics, self._clock) for r in self.receivers}
        self._loop = asyncio.get_running_loop()
        self._started.set()
        await asyncio.gather(*(sender.run(self._stopping) for sender in self._senders.values()))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._loop = None
        self.queue.close()

    def status(self) -> dict[str, tuple[ReceiverStatus, dict[str, int]]]:
        """Per receiver: link state, last error, clock offset; queued, delivered and parked counts."""
        return {name: (sender.status, self.queue.counts(name)) for name, sender in self._senders.items()}
