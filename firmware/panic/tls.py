"""TLS for the MQTT connection: wraps a connected TCP socket, checking the broker's certificate.

Loaded by panic.mqttc only for an endpoint with ``"tls": true`` (config.json
``brokers``), so a button on plain TCP never loads it: its names and code
cost such a button nothing. A TLS button keeps it, with one SSLContext made
at its first connection (CA read from the flash once per boot) and reused by
every later one: the context is a ~3 KB block, and asking the fragmented
heap of a running button for a new one at every reconnect failed after a
few refused handshakes (a finished attempt's objects stay referenced from
stale slots of the link's coroutine until the next attempt overwrites them).

Checks: the certificate chain must lead to the CA in ``ca.der`` on the flash
(one DER X.509 certificate: the unix port's mbedTLS has no PEM parser, and
DER is a third smaller), and name the host the button dials (the endpoint's
``host``, sent as SNI too; an IP address must be in the certificate's
subjectAltName). Verification cannot be turned off. mbedTLS also checks the
certificates' dates against the device's clock (MicroPython >= 1.23 on the
unix and ESP32 ports): after a cold boot, before the first clock sync, a
unit's clock says 2000 and the handshake fails with "The certificate
validity starts in the future" until panic.link's SNTP sync (started as
soon as the network is up) has set it; the link retries with its back-off
(docs/operations.md, *TLS*; seen in the simulator only with the host's clock).

Non-blocking: the socket is wrapped with ``do_handshake_on_connect=False``;
the handshake runs inside the first write (the MQTT CONNECT) through the
asyncio streams, which wait on the direction mbedTLS asks for. A failed
check raises ValueError with mbedTLS's reason (e.g. "The certificate is not
correctly signed by the trusted CA") from that write; panic.mqttc logs it
as ``E <up> tls: handshake failed ...``.

Memory: mbedTLS's record buffers and the parsed CA are outside the
MicroPython heap on the ESP32 and on the unix port; on the heap are the
SSLContext (~3.1 KB on 64-bit, one block, kept) and, while a session
lasts, the SSLSocket (~0.5 KB) (docs/benchmarks.md, *TLS*).
"""

import tls

from micropython import const

from panic import flash

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    import socket

CA_FILE = "ca.der"
_ctx = None  # the SSLContext, made at the first connection


def wrap_socket(sock: socket.socket, server_hostname: str) -> socket.socket:
    """`sock` (connected, non-blocking) wrapped for TLS to `server_hostname`; OSError/ValueError if unusable."""
    global _ctx
    ctx = _ctx
    if ctx is None:
        ca = flash.read(CA_FILE, 4096)
        if ca is None:
            raise OSError("no %s on the flash: a tls endpoint needs the broker's CA" % CA_FILE)
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = tls.CERT_REQUIRED  # type: ignore[attr-defined]  # (the default; not in the stubs)
        try:
            ctx.load_verify_locations(ca)
        except ValueError:
            raise ValueError("%s is not a DER certificate" % CA_FILE) from None
        _ctx = ctx
    return ctx.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
