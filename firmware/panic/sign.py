"""Message signing per protocol/README.md (HMAC-SHA256 over hashlib.sha256).

MicroPython has no hmac module, so HMAC (RFC 2104) is built here from
hashlib.sha256. A signed payload is a JSON object whose last member is
``"sig":"<64 lowercase hex>"``::

    signed  = payload[:-74] + b"}"
    sig     = hex(HMAC-SHA256(key, topic + b"\\n" + signed))
    payload = signed[:-1] + b',"sig":"' + sig + b'"}'
"""

import binascii
import hashlib
from micropython import const

_SIG_HEAD = const(b',"sig":"')
_TRAILER = const(74)  # len(',"sig":"') + 64 hex + len('"}')
_HEXDIGITS = const(b"0123456789abcdef")

_NO_SIG = const("no_sig")
BAD_SIG = "bad_sig"


class SigError(Exception):
    """Verification failed; args[0] is the protocol's reason code (no_sig, bad_sig)."""


def compare(a: bytes, b: bytes) -> bool:
    """Constant-time equality: the time taken does not tell where bytes differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


class Signer:
    """Signs and verifies with one device key; the HMAC pads are computed once."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key + bytes(64 - len(key))
        self._ipad = bytes(b ^ 0x36 for b in key)
        self._opad = bytes(b ^ 0x5C for b in key)

    def mac(self, topic: str, signed: bytes) -> bytes:
        """Lowercase hex HMAC-SHA256(key, topic + "\\n" + signed), as bytes."""
        inner = hashlib.sha256(self._ipad)
        inner.update(topic.encode())
        inner.update(b"\n")
        inner.update(signed)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return binascii.hexlify(outer.digest())

    def sign(self, topic: str, body: bytes) -> bytes:
        """Append the sig member to `body`, a JSON object's bytes (ending in '}')."""
        if len(body) < 3 or body[-1:] != b"}":
            raise ValueError("body must be a non-empty JSON object")
        return body[:-1] + _SIG_HEAD + self.mac(topic, body) + b'"}'

    def verify(self, topic: str, payload: bytes) -> bytes:
        """Return the `signed` bytes of a valid payload; raise SigError otherwise."""
        n = len(payload)
        if n < _TRAILER + 2 or payload[n - 2 :] != b'"}' or payload[n - _TRAILER : n - 66] != _SIG_HEAD:
            raise SigError(_NO_SIG)
        sig = payload[n - 66 : n - 2]
        for c in sig:
            if c not in _HEXDIGITS:
                raise SigError(_NO_SIG)
        signed = payload[: n - _TRAILER] + b"}"
        if not compare(self.mac(topic, signed), sig):
            raise SigError(BAD_SIG)
        return signed
