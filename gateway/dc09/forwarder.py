"""The DC-09 forwarder: one sender per receiver, sending what the gateway staged.

In the gateway, reports are staged by the pipeline's `dc09` publications in
the transaction that commits their cause (gateway/dc09/queue.py `stage`), and
`wake()` is called once that transaction has committed (gateway/main.py
hooks it to the publisher's hand-over). `submit` stages an event in a
transaction of its own, for callers with nothing to commit beside it.

Concurrency choice: the senders are asyncio tasks on one event loop in one
daemon thread of their own. The gateway's MQTT side is threaded (paho), so
`submit` and `wake` are plain calls from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.dc09.config import ReceiverConfig
from gateway.dc09.contact_id import ContactId
from gateway.dc09.location import Location
from gateway.dc09.queue import Dc09Queue, Report
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
        queue: Dc09Queue,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = 1.0,
    ) -> None:
        self.receivers = list(receivers)
        self.queue = queue
        self.metrics = metrics or Metrics()
        self._clock = clock
        self._poll_s = poll_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._senders: dict[str, ReceiverSender] = {}
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def submit(self, event: Dc09Event) -> int:
        """Stage `event` for every receiver (durably) and wake the senders; returns how many rows were new."""
        added = self.queue.enqueue([report_for(event)])
        self.wake()
        return added

    def wake(self) -> None:
        """Something was committed for the receivers: look now (any thread)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: stopped, nothing to wake
                for sender in self._senders.values():
                    loop.call_soon_threadsafe(sender.wake.set)

    def start(self) -> None:
        self.queue.configure([receiver.name for receiver in self.receivers])
        if not self.receivers:
            return  # nothing to send to: no thread
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="dc09", daemon=True)
        self._thread.start()
        self._started.wait()

    async def _run(self) -> None:
        self._stopping = asyncio.Event()
        self._senders = {r.name: ReceiverSender(r, self.queue, self.metrics, self._clock,
                                                  poll_s=self._poll_s) for r in self.receivers}
        self._loop = asyncio.get_running_loop()
        self._started.set()
        await asyncio.gather(*(sender.run(self._stopping) for sender in self._senders.values()))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._loop = None

    def status(self) -> dict[str, tuple[ReceiverStatus, dict[str, int]]]:
        """Per receiver: link state, last error, clock offset; queued, delivered and parked counts."""
        return {name: (sender.status, self.queue.counts(name)) for name, sender in self._senders.items()}


def report_for(event: Dc09Event) -> Report:
    """The report staged for an event (the location goes as extended data; a receiver may leave it out)."""
    extended = event.location.extended_data() if event.location else ()
    return Report(event.source_key, event.device_id, event.contact_id.text(), extended)
