"""What both vector generators share: the contract's signing, and writing a vector file.

Standard library only, so a generator runs anywhere: `python make_signing.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path


def sign(key: bytes, topic: str, signed: bytes) -> str:
    """HMAC-SHA256 over topic + "\\n" + signed, lowercase hex (protocol/README.md)."""
    return hmac.new(key, topic.encode("utf-8") + b"\n" + signed, hashlib.sha256).hexdigest()


def with_sig(signed: bytes, sig: str) -> bytes:
    """Append the sig member exactly as the contract says."""
    assert signed.endswith(b"}"), signed
    return signed[:-1] + b',"sig":"' + sig.encode("ascii") + b'"}'


def render(data: dict[str, object]) -> bytes:
    # ensure_ascii=False keeps non-ASCII text as raw UTF-8 in the file, which
    # MicroPython's json reads as is (it may not join \\ud83d-style surrogates).
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def main(out: Path, data: dict[str, object], argv: list[str]) -> int:
    """Write `out`; with --stdout print instead; with --check exit 1 if `out` is stale."""
    rendered = render(data)
    if "--stdout" in argv:
        sys.stdout.buffer.write(rendered)
        return 0
    if "--check" in argv:
        if out.read_bytes() != rendered:
            print(f"{out} is stale: run {out.parent / ('make_' + out.stem + '.py')}", file=sys.stderr)
            return 1
        return 0
    out.write_bytes(rendered)
    return 0
