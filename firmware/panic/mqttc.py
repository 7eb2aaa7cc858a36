"""The MQTT client's connection path (panic/mqtt.py): connect, CONNACK, SUBSCRIBE.

Run once per connection, so it is not kept on the heap: ``MQTTClient.connect``
and ``MQTTClient.subscribe`` import this module, call it and unload it again
(panic.mem.unload), as panic.config and panic.boot are used at boot. Loading
an .mpy needs no large block (each function is its own small allocation); if
it fails, the connect fails with that error and the link manager retries
with its back-off, as for any failed connect. The functions take the client
as ``self`` and work on its state; panic/mqtt.py's docstring describes them.
"""

import asyncio
import errno
import select
import socket
from time import ticks_diff, ticks_ms

from micropython import const

from panic import log
from panic.mqtt import MQTTClient, MQTTError, _Pending, _put_str, encode_length, length_size

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_SUBSCRIBE = const(0x82)

_CONNACK_TEXT = const((
    "accepted",
    "unacceptable protocol version",
    "identifier rejected",
    "server unavailable",
    "bad user name or password",
    "not authorised",
))


async def connect(self: MQTTClient, clean_session: bool, timeout_ms: int) -> None:
    self._close_socket()  # leftovers of a failed attempt
    self.gen += 1
    self._wlock = asyncio.Lock()
    self._pend = {}
    self._wtask = None
    try:
        await asyncio.wait_for_ms(_handshake(self, clean_session), timeout_ms)
    except asyncio.TimeoutError:
        self._close_socket()
        self.stats["timeouts"] += 1
        raise OSError(errno.ETIMEDOUT) from None
    except BaseException:  # OSError, MQTTError, CancelledError: no half-open socket
        self._close_socket()
        raise
    now = ticks_ms()
    self._last_rx = self._last_tx = self._last_ping = now
    self._connected = True
    self.err = errno.ECONNRESET
    gen = self.gen
    self._rtask = asyncio.create_task(self._reader(gen))
    self._stask = asyncio.create_task(self._supervisor(gen))


async def subscribe(self: MQTTClient, topic: str, qos: int, timeout_ms: int) -> int:
    """Subscribe to one topic (no wildcards); return the granted QoS (MQTTError(0x80) if refused)."""
    if qos not in (0, 1):
        raise ValueError("qos")
    self.accept(topic)  # before the SUBSCRIBE: a retained message may follow the SUBACK at once
    t = topic.encode()
    self._check()
    t0 = ticks_ms()
    pid = self._new_pid()
    rl = 2 + 2 + len(t) + 1
    pkt = bytearray(1 + length_size(rl) + rl)
    pkt[0] = _SUBSCRIBE
    off = encode_length(pkt, 1, rl)
    pkt[off] = pid >> 8
    pkt[off + 1] = pid & 0xFF
    off = _put_str(pkt, off + 2, t)
    pkt[off] = qos
    wait = self._pend[pid] = _Pending()
    try:
        await self._send(pkt, None, timeout_ms)
        code = await self._wait(wait, timeout_ms - ticks_diff(ticks_ms(), t0))
    finally:
        self._pend.pop(pid, None)
    if code == 0x80:
        raise MQTTError(0x80, "subscription to %s refused" % topic)
    return code


async def _open(self: MQTTClient) -> socket.socket | None:
    # The socket factory: what asyncio.open_connection does, keeping hold of
    # the socket, on whichever bearer's network is up (lwIP on the ESP32 for
    # Wi-Fi and PPP alike). A host "mqtts://<name>" (config.json "tls": true)
    # is TLS to <name>: panic.tls wraps the TCP socket, which is returned so
    # a failed handshake can close it (mbedTLS lets go of it then); plain TCP
    # returns None and never loads panic.tls.
    host = self.host
    # "mqtts://<name>": no host name or address has a "/" ("/" is a built-in
    # name; a literal "mqtts://" would be a new interned name on every button)
    over_tls = host.find("/") == 6
    if over_tls:
        host = host[8:]
    ai = socket.getaddrinfo(host, self.port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], ai[1], ai[2])
    self._sock = s
    try:
        # TCP_NODELAY (6, 1 on Linux and lwIP): a PUBLISH goes out as
        # header + payload writes; Nagle would hold the second one back.
        s.setsockopt(6, 1, 1)
    except OSError:
        pass
    s.setblocking(False)
    try:
        s.connect(ai[-1])
    except OSError as e:
        if e.errno != errno.EINPROGRESS:
            raise
    # Wait until the TCP connect completes or fails (lwIP refuses writes
    # before that). A zero-timeout poll every 10 ms keeps this on public
    # APIs; the caller's wait_for bounds it.
    p = select.poll()
    p.register(s, select.POLLOUT)
    while not p.poll(0):
        await asyncio.sleep_ms(10)
    p.unregister(s)
    raw = None
    if over_tls:
        from panic import tls  # stays loaded: it keeps the SSLContext (panic/tls.py)

        raw = s
        s = self._sock = tls.wrap_socket(s, host)
    # One stream both ways, as open_connection returns (asyncio's StreamReader
    # and StreamWriter are the same class): one object less per session.
    self._rd = self._wr = asyncio.StreamReader(s)  # type: ignore[assignment]
    return raw

async def _handshake(self: MQTTClient, clean_session: bool) -> None:
    raw = await _open(self)  # the TCP socket under TLS, else None
    wr = self._wr
    assert wr is not None
    try:
        wr.write(connect_packet(self, clean_session))  # raises e.g. ECONNREFUSED
        await wr.drain()  # over TLS: the handshake runs here
    except Exception as e:
        if raw is not None:  # the TLS handshake failed: say why, in one line
            raw.close()
            log.error("tls", "handshake failed host=%s port=%d err=%s" % (self.host, self.port, log.q(str(e).strip())))
        raise
    await self._fill(self._hbuf[0:4])
    h = self._hbuf
    if h[0] != _CONNACK or h[1] != 2:
        raise OSError(errno.ECONNABORTED)
    code = h[3]
    if code:
        text = _CONNACK_TEXT[code] if code < len(_CONNACK_TEXT) else "refused"
        raise MQTTError(code, "connection refused: " + text)
    self.session_present = bool(h[2] & 1)

def connect_packet(self: MQTTClient, clean_session: bool) -> bytearray:
    cid = self.client_id.encode()
    flags = 0x02 if clean_session else 0
    rl = 10 + 2 + len(cid)
    will = self._will
    if will:
        flags |= 0x04 | (will[3] << 3) | (0x20 if will[2] else 0)
        rl += 4 + len(will[0]) + len(will[1])
    user = self.user.encode() if self.user is not None else None
    pw = self.password.encode() if self.password is not None else None
    if user is not None:
        flags |= 0x80
        rl += 2 + len(user)
    if pw is not None:
        flags |= 0x40
        rl += 2 + len(pw)
    pkt = bytearray(1 + length_size(rl) + rl)
    pkt[0] = _CONNECT
    off = _put_str(pkt, encode_length(pkt, 1, rl), b"MQTT")
    pkt[off] = 4  # protocol level 3.1.1
    pkt[off + 1] = flags
    pkt[off + 2] = self.keepalive_s >> 8
    pkt[off + 3] = self.keepalive_s & 0xFF
    off = _put_str(pkt, off + 4, cid)
    if will:
        off = _put_str(pkt, _put_str(pkt, off, will[0]), will[1])
    if user is not None:
        off = _put_str(pkt, off, user)
    if pw is not None:
        _put_str(pkt, off, pw)
    return pkt
