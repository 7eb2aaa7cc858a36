"""AES-CBC encryption of the DC-09 data block (ANSI/SIA DC-09-2013 §5.4).

Rules applied, each checked against the standard's text and pysiaalarm 3.2:
- The encrypted region starts after the `[` that opens the data block and runs
  to the last character of the timestamp; the `[` and the final CR stay clear.
- It starts with a pad of pseudo-random characters, ended by `|`, so that the
  region is a multiple of 16 bytes; a region that is already a multiple of 16
  gets a full 16-character pad. The pad never contains `|`, `[` or `]`; we
  draw it from letters and digits only (a subset of what the standard allows)
  so that receivers which decode the block as text never trip on it.
- AES in CBC mode with an all-zero IV (the standard fixes the IV; the random
  pad makes equal messages encrypt differently), key of 128, 192 or 256 bits.
- The cipher text travels as upper-case hex.
"""

from __future__ import annotations

import random
import string

from Crypto.Cipher import AES

BLOCK = 16
ZERO_IV = bytes(BLOCK)
PAD_ALPHABET = string.ascii_letters + string.digits
KEY_HEX_LENGTHS = (32, 48, 64)


class KeyFormatError(ValueError):
    """A key that is not 32, 48 or 64 hex digits. Never carries the key itself."""


class DecryptError(ValueError):
    pass


class Dc09Key:
    """An AES key. Its repr never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise KeyFormatError("AES key must be 16, 24 or 32 bytes (128, 192 or 256 bits)")
        self._key = key

    @classmethod
    def from_hex(cls, text: str) -> Dc09Key:
        if len(text) not in KEY_HEX_LENGTHS or any(c not in string.hexdigits for c in text):
            raise KeyFormatError("AES key must be 32, 48 or 64 hex digits (128, 192 or 256 bits)")
        return cls(bytes.fromhex(text))

    @property
    def bits(self) -> int:
        return len(self._key) * 8

    def __repr__(self) -> str:
        return f"Dc09Key(<{self.bits} bits>)"

    def encrypt(self, region: str, rng: random.Random) -> str:
        """Pad, `|`, region; encrypt; upper-case hex. `region` is ASCII."""
        pad_length = BLOCK - (len(region) + 1) % BLOCK  # 1..16: a full pad when already aligned
        pad = "".join(rng.choice(PAD_ALPHABET) for _ in range(pad_length))
        plain = (pad + "|" + region).encode("ascii")
        return AES.new(self._key, AES.MODE_CBC, iv=ZERO_IV).encrypt(plain).hex().upper()

    def decrypt(self, cipher_hex: str) -> str:
        """The plain text of an encrypted region, pad included (latin-1, never fails on bytes)."""
        try:
            cipher = bytes.fromhex(cipher_hex)
        except ValueError:
            raise DecryptError("encrypted block is not hex") from None
        if not cipher or len(cipher) % BLOCK:
            raise DecryptError(f"encrypted block of {len(cipher)} bytes is not a multiple of {BLOCK}")
        return AES.new(self._key, AES.MODE_CBC, iv=ZERO_IV).decrypt(cipher).decode("latin-1")
