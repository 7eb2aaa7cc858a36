"""A raw-TCP MQTT 3.1.1 server for one device, well-behaved or hostile on command.

Mosquitto never misbehaves, so the firmware's receive path is tested against
this instead. Well-behaved it does what the project's broker does for one
device: checks the password, answers CONNECT/SUBSCRIBE/PUBLISH/PINGREQ,
records what the device publishes, and keeps the device's persistent session:
a QoS 1 message to the device is resent (DUP set) right after every CONNACK
until the device PUBACKs it, as Mosquitto does. That last part is what turns
a message the device chokes on into a device that never gets a session again.

    with HostileBroker(device_id, password) as broker:
        broker.misbehave(refuse(5), connections=2)  # the next two connections
        broker.inject(publish(topic, b"x" * 4096, qos=1, pid=broker.new_pid()), keep=True)
        broker.drop()                               # end the current connection
        msg = broker.expect("alert")

A misbehaviour is a function that gets the connection (after reading the
CONNECT) and does what it likes; returning True hands the connection back to
the well-behaved server, False ends it.
"""

from __future__ import annotations

import contextlib
import queue
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from tests.simulator.gateway import Message as GatewayMessage

CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    0x20, 0x30, 0x40, 0x80, 0x90, 0xC0, 0xD0, 0xE0,
)


@dataclass(frozen=True)
class Message(GatewayMessage):
    """A PUBLISH the device sent: as the test gateway sees one, plus its QoS."""

    qos: int = 0


# -- packet encoding ---------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def publish(topic: bytes | str, payload: bytes, qos: int = 1, pid: int = 1, dup: bool = False,
            retain: bool = False) -> bytes:
    """A PUBLISH; `topic` as raw bytes may be anything (non-UTF-8, 64 KB)."""
    t = topic.encode() if isinstance(topic, str) else topic
    head = struct.pack(">H", len(t)) + t + (struct.pack(">H", pid) if qos else b"")
    return packet(PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0), head + payload)


def connack(code: int = 0, session_present: bool = False) -> bytes:
    return bytes([CONNACK, 2, 1 if session_present else 0, code])


class Connection:
    """One accepted TCP connection: exact reads, whole-packet writes (or byte by byte)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.byte_by_byte = False
        self._wlock = threading.Lock()

    def read_exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(min(65536, n - len(data)))
            if not chunk:
                raise ConnectionResetError("device closed the connection")
            data += chunk
        return bytes(data)

    def read_packet(self) -> tuple[int, bytes]:
        first = self.read_exactly(1)[0]
        length, shift = 0, 0
        while True:
            b = self.read_exactly(1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return first, self.read_exactly(length)

    def send(self, data: bytes) -> None:
        with self._wlock:
            if not self.byte_by_byte:
                self.sock.sendall(data)
                return
            for i in range(len(data)):
                self.sock.sendall(data[i : i + 1])
                time.sleep(0.0005)  # one byte per TCP segment, one per read on the device

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), as a crashed peer or a middlebox does."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Wakes a thread blocked in recv() on it: close() alone would not,
            # and the reset would wait until that thread let go of the socket.
            self.sock.shutdown(socket.SHUT_RD)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


Misbehaviour = Callable[[Connection], bool]


# -- misbehaviours -----------------------------------------------------------


def refuse(code: int) -> Misbehaviour:
    """CONNACK with a refusal code (5 not authorised; 0x42 a code MQTT does not define)."""
    def act(conn: Connection) -> bool:
        conn.send(connack(code))
        return False
    return act


def send_then_close(data: bytes, how: str = "close") -> Misbehaviour:
    """Answer the CONNECT with `data` (garbage, a truncated CONNACK), then close or reset."""
    def act(conn: Connection) -> bool:
        conn.send(data)
        time.sleep(0.05)
        if how == "reset":
            conn.reset()
        return False
    return act


def silent(prefix: bytes = b"") -> Misbehaviour:
    """Send `prefix` (say, the first byte of a CONNACK) and then nothing, until the device gives up."""
    def act(conn: Connection) -> bool:
        conn.send(prefix)
        with contextlib.suppress(OSError):
            while conn.sock.recv(4096):
                pass
        return False
    return act


def reset_mid_packet() -> Misbehaviour:
    """A proper CONNACK, then the first bytes of a 300-byte PUBLISH, then a TCP reset."""
    def act(conn: Connection) -> bool:
        conn.send(connack())
        conn.send(publish("panic/v1/x", bytes(300), qos=1)[:40])
        time.sleep(0.05)
        conn.reset()
        return False
    return act


def byte_by_byte() -> Misbehaviour:
    """Well-behaved, but every byte to the device goes in its own TCP segment."""
    def act(conn: Connection) -> bool:
        conn.byte_by_byte = True
        return True
    return act


def fuzz(rng: random.Random, topics: list[str]) -> Misbehaviour:
    """One connection of seeded nonsense: mangled CONNACKs, malformed and odd packets, cut-offs."""
    def act(conn: Connection) -> bool:
        kind = rng.randrange(4)
        if kind == 0:  # garbage instead of a CONNACK
            conn.send(rng.randbytes(rng.randrange(1, 64)))
        else:
            good = bytearray(connack())
            if kind == 1:  # one byte of the CONNACK wrong
                good[rng.randrange(4)] = rng.randrange(256)
            conn.send(bytes(good))
            time.sleep(0.02)  # the device subscribes meanwhile (its packets are never answered)
            for _ in range(rng.randrange(1, 6)):
                conn.send(_evil_packet(rng, topics))
        time.sleep(0.02)
        if rng.random() < 0.5:
            conn.reset()
        return False
    return act


def _evil_packet(rng: random.Random, topics: list[str]) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:  # PUBLISH: any QoS and flags, our topic or junk, sizes around the buffer
        topic = rng.choice([t.encode() for t in topics] + [rng.randbytes(rng.randrange(0, 300)), b"\xff\xfe"])
        size = rng.choice([0, 1, 200, 511, 512, 513, 4096, rng.randrange(0, 20000)])
        return publish(topic, rng.randbytes(size), qos=rng.randrange(4), pid=rng.randrange(65536),
                       dup=rng.random() < 0.5, retain=rng.random() < 0.5)
    if choice == 1:  # a PUBLISH whose lengths disagree (topic longer than the packet)
        return packet(PUBLISH | 2, struct.pack(">H", rng.randrange(10, 65536)) + rng.randbytes(rng.randrange(0, 8)))
    if choice == 2:  # any packet type with any body
        return packet(rng.randrange(256), rng.randbytes(rng.randrange(0, 64)))
    if choice == 3:  # a remaining length that never ends
        return bytes([rng.randrange(256)]) + bytes([0x80 | rng.randrange(128) for _ in range(4)]) + b"\x01"
    if choice == 4:  # the first part of a valid PUBLISH only
        whole = publish(rng.choice(topics), rng.randbytes(rng.randrange(1, 2000)), qos=1, pid=rng.randrange(65536))
        return whole[: rng.randrange(1, len(whole))]
    return rng.randbytes(rng.randrange(1, 200))  # plain noise


# -- the server --------------------------------------------------------------


class HostileBroker:
    def __init__(self, device_id: str, password: str) -> None:
        self.device_id = device_id
        self.password = password
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)  # so close() is noticed at once
        self.port: int = self.server.getsockname()[1]
        self.messages: queue.Queue[Message] = queue.Queue()  # what the device published
        self.connections = 0  # accepted so far
        self.misbehaved = 0  # connections a misbehaviour was applied to
        self.errors: list[str] = []  # unexpected failures inside the server itself
        self._cond = threading.Condition()
        self._plans: list[Misbehaviour] = []
        self._session: dict[int, bytes] = {}  # pid -> PUBLISH to the device not yet PUBACKed
        self._acked: set[int] = set()  # pids the device PUBACKed
        self._subscribed: set[str] = set()
        self._current: Connection | None = None
        self._pid = 0
        self._closing = False
        self._thread = threading.Thread(target=self._accept, name="hostile-broker", daemon=True)
        self._thread.start()

    def __enter__(self) -> HostileBroker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closing = True
        self.server.close()
        self.drop()
        self._thread.join(5)

    def topic(self, leaf: str) -> str:
        return f"panic/v1/dev/{self.device_id}/{leaf}"

    # -- commands ------------------------------------------------------------

    def misbehave(self, act: Misbehaviour, connections: int = 1) -> None:
        """Apply `act` to each of the next `connections` connections; well-behaved after them."""
        with self._cond:
            self._plans += [act] * connections

    def drop(self) -> None:
        """End the current connection (the device sees a reset and reconnects)."""
        with self._cond:
            conn = self._current
        if conn is not None:
            conn.reset()

    def new_pid(self) -> int:
        with self._cond:
            self._pid = self._pid % 65535 + 1
            return self._pid

    def inject(self, data: bytes, pid: int | None = None) -> None:
        """Send raw bytes to the device now. With `pid` (a QoS 1 PUBLISH) the message also joins
        the device's session: resent after every CONNACK until the device PUBACKs it."""
        with self._cond:
            if pid is not None:
                self._session[pid] = data
            conn = self._current
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(data)

    def send(self, leaf: str, payload: bytes) -> int:
        """A QoS 1 message to the device, as the gateway's would be (kept until PUBACKed)."""
        pid = self.new_pid()
        self.inject(publish(self.topic(leaf), payload, qos=1, pid=pid), pid)
        return pid

    def forget(self) -> None:
        """Empty the device's session (messages it never acked are not resent any more)."""
        with self._cond:
            self._session.clear()

    # -- observing -----------------------------------------------------------

    def expect(self, leaf: str, timeout: float = 15, where: Callable[[Message], bool] | None = None) -> Message:
        """The next message the device published on `leaf` satisfying `where` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the device published no {leaf} within {timeout} s") from None
            if m.leaf == leaf and (where is None or where(m)):
                return m

    @property
    def connected(self) -> bool:
        """Whether a device connection is open now."""
        return self._current is not None

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
        with self._cond:
            if not self._cond.wait_for(condition, timeout):
                raise AssertionError(f"{what}: not within {timeout} s")

    def wait_acked(self, pid: int, timeout: float = 15) -> None:
        self.wait(lambda: pid in self._acked, f"PUBACK for packet id {pid}", timeout)

    def wait_misbehaved(self, n: int, timeout: float = 30) -> None:
        self.wait(lambda: self.misbehaved >= n, f"{n} misbehaving connections", timeout)

    def wait_subscribed(self, timeout: float = 15) -> None:
        """Until the current connection has subscribed to ack and cmd (a live, usable session)."""
        wanted = {self.topic("ack"), self.topic("cmd")}
        self.wait(lambda: wanted <= self._subscribed, "a subscribed session", timeout)

    # -- server side ---------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing:
            try:
                sock, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(Connection(sock),), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with self._cond:
            self.connections += 1
            plan = self._plans.pop(0) if self._plans else None
            self._current = conn
            self._subscribed = set()
        try:
            first, body = conn.read_packet()
            if first != 0x10 or not self._authorised(body):
                conn.send(connack(5))
                return
            if plan is not None:
                with self._cond:
                    self.misbehaved += 1
                    self._cond.notify_all()
                if not plan(conn):
                    return
            conn.send(connack(0, session_present=True))
            with self._cond:
                queued = [bytes([data[0] | 0x08]) + data[1:] for data in self._session.values()]
            for data in queued:  # a persistent session: what was not PUBACKed comes again
                conn.send(data)
            while True:
                first, body = conn.read_packet()
                if not self._answer(conn, first, body):
                    return
        except OSError:
            pass  # the device or a misbehaviour ended it
        except Exception as e:  # a bug here, not in the device: make the test say so
            self.errors.append(repr(e))
        finally:
            conn.close()
            with self._cond:
                if self._current is conn:
                    self._current = None
                    self._subscribed = set()
                self._cond.notify_all()

    def _authorised(self, body: bytes) -> bool:
        # CONNECT: protocol name, level, flags, keepalive, client id, [will topic, will message], user, password.
        def field(off: int) -> tuple[bytes, int]:
            n = struct.unpack_from(">H", body, off)[0]
            return body[off + 2 : off + 2 + n], off + 2 + n

        flags = body[7]
        client_id, off = field(10)
        if flags & 0x04:
            off = field(field(off)[1])[1]
        user, off = field(off) if flags & 0x80 else (b"", off)
        password = field(off)[0] if flags & 0x40 else b""
        return client_id == user == self.device_id.encode() and password == self.password.encode()

    def _answer(self, conn: Connection, first: int, body: bytes) -> bool:
        kind = first & 0xF0
        if kind == PUBLISH:
            qos = (first >> 1) & 3
            n = struct.unpack_from(">H", body)[0]
            topic = body[2 : 2 + n].decode()
            off = 2 + n
            if qos:
                conn.send(bytes([PUBACK, 2]) + body[off : off + 2])
                off += 2
            self.messages.put(Message(topic, body[off:], bool(first & 1), qos))
        elif kind == SUBSCRIBE:
            n = struct.unpack_from(">H", body, 2)[0]
            with self._cond:
                self._subscribed.add(body[4 : 4 + n].decode())
                self._cond.notify_all()
            conn.send(bytes([SUBACK, 3]) + body[:2] + bytes([min(body[4 + n], 1)]))
        elif kind == PUBACK:
            pid = struct.unpack(">H", body)[0]
            with self._cond:
                self._session.pop(pid, None)
                self._acked.add(pid)
                self._cond.notify_all()
        elif kind == PINGREQ:
            conn.send(bytes([PINGRESP, 0]))
        elif kind == DISCONNECT:
            return False
        return True

