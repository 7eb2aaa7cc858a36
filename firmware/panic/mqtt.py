"""A small non-blocking MQTT 3.1.1 client for MicroPython asyncio.

In the spirit of Peter Hinch's ``mqtt_as`` and micropython-lib's ``umqtt``,
but with no Wi-Fi code in it: it speaks MQTT over one TCP stream, so Wi-Fi
and cellular PPP (both lwIP sockets on the ESP32) look the same to it.
QoS 0 and 1 only; one exact topic (no wildcards) per SUBSCRIBE; no QoS 2.

    c = MQTTClient("pb-0123456789ab", "10.0.0.2", user="pb-0123456789ab", password=pw)
    c.set_will("panic/v1/dev/pb-0123456789ab/status", b'{"state":"offline"}', retain=True, qos=1)
    await c.connect(clean_session=False)
    await c.subscribe("panic/v1/dev/pb-0123456789ab/ack", qos=1)
    await c.publish("panic/v1/dev/pb-0123456789ab/alert", payload, qos=1)
    topic, payload = await c.next_message()

Tasks. ``connect()`` starts two tasks: a reader (reads every packet, answers
incoming QoS 1 PUBLISH with PUBACK, wakes the caller waiting for a PUBACK or
SUBACK, queues messages for ``next_message()``) and a supervisor (keepalive
and write deadlines). Writers share one lock, so packets never interleave.
Nothing blocks: socket waits go through the asyncio poller (the TCP connect
through a zero-timeout poll every 10 ms), except ``socket.getaddrinfo``
(see "Blocking" below).

Resilience: what happens on each failure
----------------------------------------
This module never retries and never resends; the caller (the app's link
manager and outbox) owns reconnection with back-off and retransmission. Every
failure ends in one of two exceptions: ``MQTTError`` (the broker said no) or
``OSError`` (the network or the broker went away; ``.errno`` says how).

* TCP refused, host unreachable, DNS failure: ``connect()`` raises OSError
  (e.g. ECONNREFUSED) at once.
* No CONNACK within ``timeout_ms`` (SYN lost, broker hung): ``connect()``
  closes its socket and raises ``OSError(ETIMEDOUT)``.
* Broker refuses the CONNECT: ``connect()`` raises ``MQTTError(code)`` with
  the CONNACK return code (4 bad user name or password, 5 not authorised).
* Broker closes the connection (EOF or reset, e.g. broker restart or a
  client-id takeover): the reader drops the link; every waiter -
  ``publish()`` waiting for a PUBACK, ``subscribe()``, ``next_message()`` -
  raises ``OSError(ECONNRESET)`` at once.
* Silent link (Wi-Fi gone, NAT entry expired, broker frozen): when nothing
  was sent or received for ``keepalive_s / 2`` the supervisor sends PINGREQ;
  when no packet at all arrived for ``keepalive_s`` the link is declared dead
  (``stats["timeouts"]`` += 1) and waiters raise ``OSError(ETIMEDOUT)``.
  Detection therefore takes ``keepalive_s`` plus one supervisor tick (at most
  1 s). ``keepalive_s=0`` turns keepalive off (and with it dead-link detection).
* A write that cannot complete within its ``timeout_ms`` (send buffer full,
  peer not reading): the link is dropped, ``OSError(ETIMEDOUT)``. A half
  written packet cannot be taken back, so no other outcome is safe.
* PUBACK or SUBACK not arriving within ``timeout_ms``: that call raises
  ``OSError(ETIMEDOUT)`` (``stats["timeouts"]`` += 1); the connection stays
  up and keepalive decides whether it is dead. A late PUBACK is ignored.
  The message may or may not have reached the broker: the caller resends
  (the same bytes; receivers deduplicate by ``seq``).
* ``publish()``/``subscribe()``/``next_message()`` while not connected raise
  ``OSError(ENOTCONN)`` (or the errno of the last drop) immediately.
* Inbox full (``_INBOX`` messages not yet taken by ``next_message()``): the
  reader keeps reading so PUBACKs and PINGRESPs are never held up; the oldest
  queued message is dropped and ``stats["drops"]`` += 1.
* A message the client cannot or will not take, a packet it does not expect:
  read off the wire and discarded, never a reason to drop the link (see
  "Receiving" below). Only a remaining length that runs past 4 bytes loses
  the framing: then the link is dropped with ``OSError(ECONNABORTED)``.
* ``close()``: abrupt close without DISCONNECT - the broker publishes the
  will. Waiters raise ``OSError(ENOTCONN)``. ``disconnect()`` sends
  DISCONNECT first, so the broker discards the will.
* Cancelling a task while it is inside ``publish()``/``subscribe()`` writing
  to the socket drops the link (the packet may be half written); cancelling
  it while it waits for the PUBACK is harmless.
* Unacknowledged QoS 1 traffic after a drop: nothing is resent by this
  module. With ``clean_session=False`` the broker keeps the subscription and
  redelivers messages it queued or did not get a PUBACK for (at-least-once:
  the app must tolerate duplicates). Messages already PUBACKed and waiting in
  the inbox survive a drop and a reconnect of the same instance:
  ``next_message()`` returns them before it raises.

Receiving: what the client takes and what it discards
-----------------------------------------------------
Every incoming packet is read with ``readinto`` into buffers the client
allocated when it was made (the app makes its client at boot, while the
heap is whole): a 5-byte fixed header, a 4-byte scratch area and the
receive buffer, ``rx_size`` (512) bytes by default. Receiving therefore
needs no large contiguous block at run time, however fragmented the heap
is: a message costs the copy of its payload handed to ``next_message()``
(at most ``rx_size`` bytes), a few memoryview slices and the small objects
asyncio needs anyway.

A PUBLISH is taken when its topic is one this client accepts (byte for
byte, see ``accept()``) and topic + payload fit the receive buffer.
Anything else is read off the wire through the receive buffer (in
``rx_size`` chunks), PUBACKed if it is QoS 1 (so the broker never sends it
again), counted in ``stats["drops"]`` and logged, once, as
``W <up> mqtt: discarded reason=<why> bytes=<remaining length>``:

* ``too_big``: topic + payload larger than the buffer (a 4 KB cmd, 1 MB,
  a 64 KB topic);
* ``topic``: a topic it did not subscribe to, including any non-UTF-8
  topic (nothing is decoded: such a topic simply matches nothing);
* ``qos2``, ``qos3``: QoS 2 is never granted (it subscribes with QoS <= 1),
  QoS 3 does not exist; skipped without PUBREC;
* ``malformed``: lengths that contradict each other (a topic longer than
  the packet); the rest of the packet is skipped by its remaining length.

Any other well-framed packet it does not expect (PUBREL, a second CONNACK,
a PUBACK of the wrong length) is stepped over the same way and logged as
``mqtt: skipped packet type=0x.. bytes=..``. Only a remaining length that
runs past 4 bytes loses the framing; then nothing after it can be trusted
and the link is dropped (``OSError(ECONNABORTED)``), as it is when the
broker closes or resets the connection mid-packet. So no message, however
large or strange, can end a session, and none can come back after a
reconnect to end the next one: the device cannot be wedged by what it is
sent. A packet that arrives slowly (byte by byte) is simply read slowly;
if one takes longer than the keepalive, the link is declared dead.

Heap: the receive buffer is ``rx_size`` bytes for the client's lifetime;
the inbox holds at most ``INBOX`` payload copies. The largest message the
firmware acts on, a signed ack, is about 210 bytes with its topic
(protocol/schemas/device-ack.json bounds every field); 512 leaves room for
the provisional cmd body.

Reconnecting. After any drop, ``connect()`` may be called again on the same
instance (or a new one may be made): it resets the connection state (tasks,
lock, pending acks, timers) and keeps the will, the counters and the inbox.
``connect()`` on a connected client raises ``OSError(EALREADY)``.

Blocking. ``socket.getaddrinfo`` (also inside ``asyncio.open_connection``)
blocks while a DNS name resolves; pass the broker's IP address, or resolve
the name once when the link comes up. The socket is opened here rather than
with ``asyncio.open_connection`` (which it mirrors) so that a connect
timeout can close it: a socket abandoned by a cancelled ``open_connection``
stays open until the garbage collector runs, and never on the unix port.

Memory. Fixed headers, packet ids, outgoing PUBACKs and everything
received use buffers allocated once per client, so a PINGRESP or PUBACK
costs only the small coroutine frames and poller entries asyncio needs
anyway. A PUBLISH allocates its header and, for QoS 1, one pending-ack
record with an Event; an incoming one, the copy of its payload. Measured
on the unix port (see tests/firmware/test_mqtt.py::test_memory_use): about
4 KB per client (3.4 KB before the 512-byte receive buffer), 8.3 KB once
connected (socket, streams, two tasks), about 10 KB at the peak of a burst
of QoS 1 publishes; the module's bytecode is about 14 KB unless frozen into
the firmware.
"""

import asyncio
import errno
import socket
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

from panic import log, mem

_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBACK = const(0x90)
_UNSUBACK = const(0xB0)
_PINGRESP = const(0xD0)
_PINGREQ = const(b"\xc0\x00")
_DISCONNECT = const(b"\xe0\x00")
_MAX_LENGTH = const(268435455)  # largest remaining length, 4 varint bytes
_WAITING = const(-1)
_LOST = const(-2)
_INBOX = const(8)  # incoming messages buffered for next_message()
_TICK_MS = const(1000)  # longest supervisor sleep

def encode_length(buf: bytearray, off: int, n: int) -> int:
    """Write ``n`` as an MQTT remaining-length varint at ``buf[off]``; return the end offset."""
    if n < 0 or n > _MAX_LENGTH:
        raise ValueError("remaining length out of range")
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            buf[off] = b | 0x80
            off += 1
        else:
            buf[off] = b
            return off + 1


def decode_length(buf: bytes | bytearray | memoryview, off: int) -> int:
    """Read the remaining-length varint starting at ``buf[off]`` (at most 4 bytes)."""
    n = 0
    shift = 0
    for i in range(off, off + 4):
        if i >= len(buf):
            break
        b = buf[i]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n
        shift += 7
    raise ValueError("bad remaining length")


def length_size(n: int) -> int:
    """Number of bytes the varint of ``n`` takes."""
    return 1 if n < 0x80 else 2 if n < 0x4000 else 3 if n < 0x200000 else 4


def _put_str(buf: bytearray, off: int, s: bytes) -> int:
    n = len(s)
    buf[off] = n >> 8
    buf[off + 1] = n & 0xFF
    buf[off + 2 : off + 2 + n] = s
    return off + 2 + n


async def _connect_path(name: str, *args: object) -> int:
    """panic.mqttc's `name`(*args): the code run once per connection, loaded for it and unloaded after."""
    from panic import mqttc

    try:
        return await getattr(mqttc, name)(*args)  # type: ignore[no-any-return]
    finally:
        mem.unload("panic.mqttc")


class MQTTError(Exception):
    """The broker refused: ``code`` is the CONNACK return code, or 0x80 for a refused subscription."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code

    def __str__(self) -> str:
        return "MQTT %s (code %d)" % (self.args[1], self.code)


class _Pending:
    # One caller waiting for a PUBACK or SUBACK: ``code`` is _WAITING until
    # the reader (granted QoS / 0) or a drop (_LOST) fills it in.
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.code = _WAITING


class MQTTClient:

    def __init__(
        self,
        client_id: str,
        host: str,
        port: int = 1883,
        user: str | None = None,
        password: str | None = None,
        keepalive_s: int = 60,
        rx_size: int = 512,  # see "Receiving" above
    ) -> None:
        if password is not None and user is None:
            raise ValueError("MQTT 3.1.1 needs a user name with a password")
        if not 0 <= keepalive_s <= 65535:
            raise ValueError("keepalive_s")
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive_s = keepalive_s
        self.session_present = False  # from the last CONNACK
        self.stats = {"sent": 0, "received": 0, "pings": 0, "timeouts": 0, "drops": 0}
        self._will: tuple[bytes, bytes, bool, int] | None = None
        self._sock: socket.socket | None = None
        self._rd: asyncio.StreamReader | None = None
        self._wr: asyncio.StreamWriter | None = None
        self._connected = False
        self.err = errno.ENOTCONN  # errno raised to callers while down
        self.gen = 0  # connection number: tasks of an old connection exit
        self._pid = 0
        self._pend: dict[int, _Pending] = {}
        self._wlock = asyncio.Lock()
        self._rtask: asyncio.Task[None] | None = None
        self._stask: asyncio.Task[None] | None = None
        self._wtask: asyncio.Task[object] | None = None  # task writing now
        self._wdeadline = ticks_ms()
        self._last_rx = self._last_tx = self._last_ping = ticks_ms()
        # Inbox ring buffer.
        self.q: list[tuple[str, bytes] | None] = [None] * _INBOX
        self._qhead = 0
        self._qlen = 0
        self._qev = asyncio.Event()
        # Read buffers, allocated once: fixed header (type + up to 4 length
        # bytes) and a scratch area for packet ids, SUBACK and topic length.
        hdr = memoryview(bytearray(5))
        self._hbuf = hdr
        self._hviews = (hdr[0:2], hdr[2:3], hdr[3:4], hdr[4:5])
        scratch = memoryview(bytearray(4))
        self._sbuf = scratch
        self._s2 = scratch[0:2]
        self._s3 = scratch[0:3]
        self._puback = bytearray(b"\x40\x02\x00\x00")  # used by the reader only
        # The receive buffer: every incoming packet body is read into it (or
        # through it, when skipped), so the largest thing receiving allocates
        # is the copy of a payload handed to next_message().
        self.rx = memoryview(bytearray(rx_size))
        # Topics subscribed to, as (bytes, str): an incoming topic is matched
        # against them byte for byte. Kept across reconnects, as a persistent
        # session keeps them at the broker (which delivers queued messages
        # before the new SUBSCRIBE).
        self._subs: list[tuple[bytes, str]] = []

    # -- public API -------------------------------------------------------

    def set_will(self, topic: str, payload: bytes, retain: bool = False, qos: int = 0) -> None:
        """Message the broker publishes if the connection ends without DISCONNECT."""
        if qos not in (0, 1):
            raise ValueError("qos")
        self._will = (topic.encode(), bytes(payload), retain, qos)

    def accept(self, topic: str) -> None:
        """Take incoming messages on ``topic`` (one exact topic, no wildcards).

        ``subscribe()`` calls this itself. With a persistent session call it
        before ``connect()`` too: the broker delivers what it queued for the
        device right after the CONNACK, before this session's SUBSCRIBE.
        """
        t = topic.encode()
        if not t or b"+" in t or b"#" in t or len(t) > len(self.rx):
            raise ValueError("topic")  # incoming topics are matched byte for byte
        for sub in self._subs:
            if sub[0] == t:
                return
        self._subs.append((t, topic))

    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, clean_session: bool = True, timeout_ms: int = 5000) -> None:
        if self._connected:
            raise OSError(errno.EALREADY)
        await _connect_path("connect", self, clean_session, timeout_ms)

    async def subscribe(self, topic: str, qos: int = 1, timeout_ms: int = 5000) -> int:
        """Subscribe to one topic (no wildcards); return the granted QoS (MQTTError(0x80) if refused)."""
        return await _connect_path("subscribe", self, topic, qos, timeout_ms)

    async def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False, timeout_ms: int = 5000
    ) -> None:
        """QoS 0: return once written to the socket. QoS 1: return once the broker PUBACKed."""
        if qos not in (0, 1):
            raise ValueError("qos")
        self._check()
        t0 = ticks_ms()
        t = topic.encode()
        rl = 2 + len(t) + (2 if qos else 0) + len(payload)
        hdr = bytearray(1 + length_size(rl) + 2 + len(t) + (2 if qos else 0))
        hdr[0] = _PUBLISH | (qos << 1) | (1 if retain else 0)
        off = _put_str(hdr, encode_length(hdr, 1, rl), t)
        if not qos:
            await self._send(hdr, payload, timeout_ms)
            self.stats["sent"] += 1
            return
        pid = self._new_pid()
        hdr[off] = pid >> 8
        hdr[off + 1] = pid & 0xFF
        wait = self._pend[pid] = _Pending()
        try:
            await self._send(hdr, payload, timeout_ms)
            self.stats["sent"] += 1
            await self._wait(wait, timeout_ms - ticks_diff(ticks_ms(), t0))
        finally:
            self._pend.pop(pid, None)

    async def next_message(self) -> tuple[str, bytes]:
        """Next incoming message, oldest first; OSError once the inbox is empty and the link down."""
        while not self._qlen:
            if not self._connected:
                raise OSError(self.err)
            self._qev.clear()
            await self._qev.wait()
        i = self._qhead
        msg = self.q[i]
        self.q[i] = None
        self._qhead = (i + 1) % _INBOX
        self._qlen -= 1
        assert msg is not None
        return msg

    async def disconnect(self) -> None:
        """Send DISCONNECT (the broker discards the will) and close."""
        if self._connected:
            try:
                await self._send(_DISCONNECT, None, 2000)
            except OSError:
                pass
        self._drop(errno.ENOTCONN)

    def close(self) -> None:
        """Close at once without DISCONNECT (the broker publishes the will); waiters get OSError."""
        self._drop(errno.ENOTCONN)

    # -- internals --------------------------------------------------------

    def _check(self) -> None:
        if not self._connected:
            raise OSError(self.err)

    def _new_pid(self) -> int:
        pid = self._pid
        while True:
            pid = pid + 1 if pid < 65535 else 1
            if pid not in self._pend:
                self._pid = pid
                return pid

    async def _wait(self, wait: _Pending, left_ms: int) -> int:
        # Event.wait holds no socket, so asyncio.wait_for_ms is safe here
        # (wrapping socket I/O in it is not: on timeout it cancels the
        # inner task, and the poller then forgets the whole socket,
        # including the reader's registration).
        if not wait.event.is_set():
            try:
                if left_ms <= 0:
                    raise asyncio.TimeoutError
                await asyncio.wait_for_ms(wait.event.wait(), left_ms)
            except asyncio.TimeoutError:
                self.stats["timeouts"] += 1
                raise OSError(errno.ETIMEDOUT) from None
        if wait.code == _LOST:
            raise OSError(self.err)
        return wait.code

    async def _send(self, a: bytes | bytearray, b: bytes | None, timeout_ms: int) -> None:
        # All writes go through here, one at a time. The supervisor enforces
        # the deadline by dropping the link, which cancels this task; the
        # CancelledError is turned into the drop's OSError.
        gen = self.gen
        lock = self._wlock
        await lock.acquire()
        try:
            wr = self._wr
            if gen != self.gen or not self._connected or wr is None:
                raise OSError(self.err)
            self._wtask = asyncio.current_task()
            self._wdeadline = ticks_add(ticks_ms(), timeout_ms)
            try:
                wr.write(a)
                if b:
                    wr.write(b)
                await wr.drain()
            except asyncio.CancelledError:
                if gen == self.gen and self._connected:
                    self._drop(errno.ECONNABORTED)  # cancelled by the caller mid-packet
                    raise
                raise OSError(self.err) from None
            except OSError as e:
                if gen == self.gen:
                    self._drop(e.errno or errno.ECONNRESET)
                raise
            self._last_tx = ticks_ms()
        finally:
            if gen == self.gen:
                self._wtask = None
            lock.release()

    async def _fill(self, mv: memoryview) -> None:
        # Read exactly len(mv) bytes into mv.
        rd = self._rd
        assert rd is not None
        n = 0
        size = len(mv)
        while n < size:
            r = await rd.readinto(mv[n:] if n else mv)
            if r is None:  # spurious wake-up: nothing to read yet
                continue
            if not r:
                raise OSError(errno.ECONNRESET)
            n += r

    async def _skip(self, n: int) -> None:
        # Read n bytes off the wire through the receive buffer, and forget them.
        rx = self.rx
        size = len(rx)
        while n > size:
            await self._fill(rx)
            n -= size
        if n:
            await self._fill(rx[:n])

    async def _reader(self, gen: int) -> None:
        try:
            while gen == self.gen:
                await self._read_packet()
                self._last_rx = ticks_ms()
        except OSError as e:
            if gen == self.gen:
                self._drop(e.errno or errno.ECONNRESET)
        except Exception:  # protocol error from the broker's side
            if gen == self.gen:
                self._drop(errno.ECONNABORTED)

    async def _read_packet(self) -> None:
        h = self._hbuf
        v = self._hviews
        await self._fill(v[0])
        i = 1
        while h[i] & 0x80:
            if i == 4:  # framing lost: nothing after this can be trusted
                raise ValueError("bad remaining length")
            await self._fill(v[i])
            i += 1
        rl = decode_length(h, 1)
        kind = h[0] & 0xF0
        s = self._sbuf
        if kind == _PUBLISH:
            await self._read_publish(h[0], rl)
        elif (kind == _PUBACK or kind == _UNSUBACK) and rl == 2:
            await self._fill(self._s2)
            self._acked((s[0] << 8) | s[1], 0)
        elif kind == _SUBACK and rl == 3:
            await self._fill(self._s3)
            self._acked((s[0] << 8) | s[1], s[2])
        elif kind != _PINGRESP or rl:
            # Well framed but not for us (PUBREL, a second CONNACK, a bad
            # length): its length is known, so step over it.
            await self._skip(rl)
            log.warn("mqtt", "skipped packet type=0x%02x bytes=%d" % (h[0], rl))

    async def _read_publish(self, first: int, rl: int) -> None:
        # Topic and payload go into the receive buffer; whatever does not fit
        # or is not wanted is skipped, so no message can cost an allocation
        # or end the session. QoS 1 is PUBACKed either way: the broker must
        # not send again what this client will never take. (The reasons are
        # long strings on purpose: short ones become interned qstrs, and the
        # simulator's heap is one qstr pool away from failing to boot.)
        qos = (first >> 1) & 3
        head = 4 if qos else 2  # topic length (+ packet id)
        if qos > 1 or rl < head:  # QoS 2 is never granted, QoS 3 does not exist: no PUBREC
            await self._skip(rl)
            self._discard("discarded reason=qos%d" % qos if qos > 1 else "discarded reason=malformed", rl)
            return
        s = self._sbuf
        rx = self.rx
        await self._fill(self._s2)
        tlen = (s[0] << 8) | s[1]
        plen = rl - head - tlen
        if plen < 0:  # the topic runs past the packet
            await self._skip(rl - 2)
            self._discard("discarded reason=malformed", rl)
            return
        ok = tlen + plen <= len(rx)
        if ok:
            await self._fill(rx[:tlen])
        else:
            await self._skip(tlen)
        pid = 0
        if qos:
            await self._fill(self._s2)
            pid = (s[0] << 8) | s[1]
        topic = None
        if ok:  # bytes compared, nothing decoded: a non-UTF-8 topic matches nothing
            for t in self._subs:
                if len(t[0]) == tlen and rx[:tlen] == t[0]:
                    topic = t[1]
        if topic is None:
            await self._skip(plen)
            self._discard("discarded reason=topic" if ok else "discarded reason=too_big", rl)
        else:
            if plen:
                await self._fill(rx[tlen : tlen + plen])
            self._put(topic, bytes(rx[tlen : tlen + plen]))
        if qos:
            pa = self._puback
            pa[2] = pid >> 8
            pa[3] = pid & 0xFF
            await self._send(pa, None, 5000)

    def _discard(self, why: str, rl: int) -> None:
        self.stats["drops"] += 1
        log.warn("mqtt", "%s bytes=%d" % (why, rl))

    def _put(self, topic: str, payload: bytes) -> None:
        self.stats["received"] += 1
        size = _INBOX
        if self._qlen == size:  # full: drop the oldest
            self._qhead = (self._qhead + 1) % size
            self._qlen -= 1
            self.stats["drops"] += 1
        self.q[(self._qhead + self._qlen) % size] = (topic, payload)
        self._qlen += 1
        self._qev.set()

    def _acked(self, pid: int, code: int) -> None:
        wait = self._pend.get(pid)
        if wait is not None and wait.code == _WAITING:  # else late or unknown: ignore
            wait.code = code
            wait.event.set()

    async def _supervisor(self, gen: int) -> None:
        ka = self.keepalive_s * 1000
        tick = min(_TICK_MS, ka // 4) if ka else _TICK_MS
        while True:
            await asyncio.sleep_ms(tick)
            if gen != self.gen or not self._connected:
                return
            now = ticks_ms()
            if self._wtask is not None and ticks_diff(now, self._wdeadline) > 0:
                self.stats["timeouts"] += 1
                self._drop(errno.ETIMEDOUT)
                return
            if not ka:
                continue
            if ticks_diff(now, self._last_rx) >= ka:
                self.stats["timeouts"] += 1
                self._drop(errno.ETIMEDOUT)
                return
            half = ka // 2
            if (
                (ticks_diff(now, self._last_tx) >= half or ticks_diff(now, self._last_rx) >= half)
                and ticks_diff(now, self._last_ping) >= ka // 4
                and not self._wlock.locked()
            ):
                # Written without drain: never blocks the supervisor. If the
                # socket cannot take 2 bytes, the next writer flushes them or
                # the missing PINGRESP ends the link.
                wr = self._wr
                assert wr is not None
                try:
                    wr.write(_PINGREQ)
                except OSError as e:
                    self._drop(e.errno or errno.ECONNRESET)
                    return
                self._last_ping = self._last_tx = now
                self.stats["pings"] += 1

    def _drop(self, err: int) -> None:
        # End the connection (if any) and wake every waiter with OSError(err).
        if self._connected:
            self._connected = False
            self.err = err
        try:
            cur = asyncio.current_task()
        except RuntimeError:  # called outside the event loop
            cur = None
        # Cancelling the reader also unregisters the socket from the poller
        # (for both directions), so the socket can be closed afterwards.
        r, w = self._rtask, self._wtask
        for t in (r, self._stask, None if w is r else w):
            if t is not None and t is not cur:
                t.cancel()
        self._rtask = self._stask = self._wtask = None
        self._close_socket()
        for wait in self._pend.values():
            wait.code = _LOST
            wait.event.set()
        self._qev.set()

    def _close_socket(self) -> None:
        s = self._sock
        self._sock = None
        self._rd = self._wr = None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass
