"""One receiver's sender: its rows in the gateway's database out, one message at a time, each until ACK.

- Waits `ack_timeout_s` for the answer whose sequence number (and account)
  match; stale answers to earlier transmissions are ignored, answers that
  fail their CRC, length or decryption are refused and logged.
- ACK: delivered. Next message.
- NAK with a timestamp that differs from our clock by `RESYNC_S` or more:
  the receiver rejected our timestamp. Its clock becomes ours for this
  receiver (an offset) and the message goes again at once, up to
  `NAK_RESENDS` times. A NAK while the clocks agree is a refusal (wrong key,
  unknown account, wrong receiver/line numbers): logged as an error that says
  so, counted, and retried with back-off; the message stays first in line.
  From its second refusal on, a link test tells whose fault it is: if the
  receiver takes the gateway's NULL message, it has our key and numbers and
  refuses this message's account, which is parked so the alarms of other
  buttons go through; if not, the fault is the link's and nothing is parked.
- DUH (the receiver cannot process it): parked, logged, counted; the line
  moves on so one message the receiver will never take cannot block alarms
  behind it. Parked messages stay in the queue for an operator.
- No answer or no connection: retried with back-off (`retry_initial_s`,
  doubling to `retry_max_s`), same sequence number.
- One sender per receiver across gateway instances: it sends only while it
  holds the receiver's lease (Dc09Queue.hold), renewed at every step.
- Link test: with nothing to send for `link_test_s`, a NULL message from the
  gateway's account, so the centre notices a dead gateway or link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from gateway.dc09.account import AccountError
from gateway.dc09.answer import Answer, AnswerError, parse_answer
from gateway.dc09.config import ReceiverConfig
from gateway.dc09.frame import FrameError
from gateway.dc09.message import Message, MessageId
from gateway.dc09.queue import Dc09Queue, QueuedMessage
from gateway.dc09.transport import Link, TcpLink, UdpLink
from gateway.metrics import Metrics

log = logging.getLogger("gateway.dc09")
RESYNC_S = 2.0  # a NAK timestamp this far from our clock means our clock is off for this receiver
NAK_RESENDS = 3
REFUSALS_BEFORE_PROBE = 2  # refusals of one message before a link test tells whose fault it is
REFUSED = (
    "receiver refused the message (NAK) although our clocks agree: check the AES key, the account and the "
    "receiver/line numbers configured on both sides"
)


class Outcome(Enum):
    DELIVERED = "delivered"
    PARKED = "parked"
    RETRY = "retry"


@dataclass
class ReceiverStatus:
    link_up: bool | None = None  # None until the first exchange
    last_error: str | None = None
    clock_offset_s: float = 0.0  # receiver's clock minus ours


def make_link(config: ReceiverConfig) -> Link:
    if config.transport == "udp":
        return UdpLink(config.host, config.port)
    return TcpLink(config.host, config.port, connect_timeout_s=config.ack_timeout_s)


class ReceiverSender:
    def __init__(
        self,
        config: ReceiverConfig,
        queue: Dc09Queue,
        metrics: Metrics,
        clock: Callable[[], float],
        rng: random.Random | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.config = config
        self.status = ReceiverStatus()
        self.wake = asyncio.Event()  # set when something is queued
        self._queue = queue
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._key = config.aes_key()
        self._route = config.route()
        self._accounts = config.accounts()
        self._gateway_account = self._accounts.gateway_account
        self.poll_s = poll_s
        self._link = make_link(config)
        self._last_exchange = asyncio.get_running_loop().time()
        self._delay = config.retry_initial_s

    def _count(self, name: str) -> None:
        self._metrics.inc(f"dc09_{name}_total", receiver=self.config.name)

    def now(self) -> float:
        """Our clock as this receiver reads it."""
        return self._clock() + self.status.clock_offset_s

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    await self._step(stopping)
                except Exception as error:  # e.g. the queue's database locked or full: keep the sender alive
                    log.exception("dc09 %s: sender step failed; retrying", self.config.name)
                    self.status.last_error = f"internal error: {type(error).__name__}: {error}"
                    await _wait(stopping, self.config.retry_max_s)
        finally:
            await self._link.close()
            with contextlib.suppress(Exception):  # a database gone at stop: the lease simply runs out
                self._queue.let_go(self.config.name)

    async def _step(self, stopping: asyncio.Event) -> None:
        if not self._queue.hold(self.config.name):
            await _wait(stopping, self.poll_s)  # another instance sends to this receiver; take over if it stops
            return
        message = self._queue.head(self.config.name)
        if message is not None:
            outcome = await self._deliver(message)
        elif self._link_test_due_in() <= 0:
            outcome = await self._link_test()
        else:
            await self._wait_for_work(stopping)
            return
        if outcome is Outcome.RETRY:
            await _wait(stopping, self._delay)
            self._delay = min(self._delay * 2, self.config.retry_max_s)
        else:
            self._delay = self.config.retry_initial_s

    def _link_test_due_in(self) -> float:
        if not self.config.link_test_s:
            return float("inf")
        return self._last_exchange + self.config.link_test_s - asyncio.get_running_loop().time()

    async def _wait_for_work(self, stopping: asyncio.Event) -> None:
        self.wake.clear()
        if self._queue.head(self.config.name) is not None:
            return  # queued between the look and the clear
        waiters = {asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stopping.wait())}
        # Rows staged by another instance (or before a wake could reach us) are found by looking again.
        due = min(self._link_test_due_in(), self.poll_s)
        _, pending = await asyncio.wait(waiters, timeout=due, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()

    async def _deliver(self, queued: QueuedMessage) -> Outcome:
        try:
            account = self._accounts.account_for(queued.device_id)
        except AccountError as error:  # e.g. the device maps onto the gateway's own account
            return self._park(queued, f"no account for {queued.device_id}: {error}; parked for an operator")
        sequence = self._queue.sequence_for(queued)
        data = f"#{account}|{queued.contact_id}"
        extended = queued.extended if self.config.send_location else ()
        answer = await self._transmit("ADM-CID", sequence, account, data, extended)
        if isinstance(answer, str):
            self._queue.failed(queued.id, answer)
            if answer == REFUSED and queued.attempts + 1 >= REFUSALS_BEFORE_PROBE:
                return await self._probe_refusal(queued)
            return Outcome.RETRY
        if answer.kind == "ACK":
            self._queue.delivered(queued.id)
            self._count("delivered")
            return Outcome.DELIVERED
        return self._park(queued, "receiver answered DUH: it cannot process this message; parked for an operator")

    def _park(self, queued: QueuedMessage, reason: str) -> Outcome:
        log.error("dc09 %s: message %s (%s) %s", self.config.name, queued.id, queued.source_key, reason)
        self._queue.park(queued.id, reason)
        self._count("parked")
        return Outcome.PARKED

    async def _probe_refusal(self, queued: QueuedMessage) -> Outcome:
        """Refused again: if the receiver takes a link test (our key, the gateway's account), the fault is this
        message's account, and it must not hold back every other button's alarms; else it is ours, keep trying."""
        if await self._link_test() is not Outcome.DELIVERED:
            return Outcome.RETRY
        account = self._accounts.account_for(queued.device_id)
        return self._park(queued, (
            f"receiver refuses account {account} (NAK) but accepts the gateway's link test: register the "
            "account at the centre or pin another in account_overrides; parked for an operator"
        ))

    async def _link_test(self) -> Outcome:
        sequence = self._queue.next_sequence(self.config.name)
        answer = await self._transmit("NULL", sequence, self._gateway_account, "", ())
        self._count("link_test")
        return Outcome.RETRY if isinstance(answer, str) else Outcome.DELIVERED

    async def _transmit(
        self, message_id: MessageId, sequence: int, account: str, data: str, extended: tuple[str, ...]
    ) -> Answer | str:
        """Send until ACK or DUH (returned) or a failure (its reason, returned as text)."""
        for _ in range(NAK_RESENDS + 1):
            message = Message(message_id, sequence, self._route, account, self.now(), data, extended)
            try:
                answer = await self._exchange(message)
            except (OSError, TimeoutError) as error:
                return self._failed(f"no answer: {type(error).__name__} {error}".strip())
            self.status.link_up = True
            self._last_exchange = asyncio.get_running_loop().time()
            if answer.kind != "NAK":
                self.status.last_error = None
                return answer
            self._count("nak")
            if answer.timestamp is None or not self._resync(answer.timestamp):
                log.error("dc09 %s: %s", self.config.name, REFUSED)
                self.status.last_error = REFUSED
                return REFUSED
        return self._failed(f"receiver kept answering NAK after {NAK_RESENDS} clock resyncs")

    def _failed(self, reason: str) -> str:
        if self.status.link_up is not False:
            log.warning("dc09 %s (%s:%s): %s", self.config.name, self.config.host, self.config.port, reason)
        self.status.link_up = False
        self.status.last_error = reason
        self._count("retry")
        return reason

    def _resync(self, receiver_time: float) -> bool:
        offset = receiver_time - self._clock()
        if abs(offset - self.status.clock_offset_s) < RESYNC_S:
            return False
        log.warning(
            "dc09 %s: NAK for time; the receiver's clock is %+.0f s from ours, timestamps follow it now",
            self.config.name,
            offset,
        )
        self.status.clock_offset_s = offset
        self._count("resync")
        return True

    async def _exchange(self, message: Message) -> Answer:
        reused = self._link.reused
        try:
            return await self._exchange_once(message)
        except ConnectionError:
            if not reused:
                raise
            # A kept-alive connection the receiver had closed (some close after every answer): once more, fresh.
            return await self._exchange_once(message)

    async def _exchange_once(self, message: Message) -> Answer:
        await self._link.send(message.encode(self._key, self._rng))
        deadline = asyncio.get_running_loop().time() + self.config.ack_timeout_s
        while True:
            for text in await self._link.receive(deadline):
                try:
                    answer = parse_answer(text, self._key)
                except (FrameError, AnswerError) as error:
                    log.warning("dc09 %s: answer refused: %s", self.config.name, error)
                    self._count("bad_answer")
                    continue
                if answer.kind == "NAK":
                    return answer
                if answer.sequence == message.sequence and answer.account in (None, message.account):
                    return answer


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
