"""The per-device anti-replay window (wire contract, protocol/README.md).

Pure arithmetic, no storage: `decide()` takes the stored state and a seq and
returns the verdict and the state to compare-and-set. Bit i of `bitmap` means
"seq high - i has been accepted", for i in 0..WINDOW-1, as in IPsec ESP.
Storage adds rules 1 and 4 of the contract (stored duplicates; alerts below
the window that were never stored), see gateway/storage/store.py.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

WINDOW = 64
_MASK = (1 << WINDOW) - 1

Verdict = Literal["new", "replay"]


class Decision(NamedTuple):
    verdict: Verdict
    high: int
    bitmap: int


def decide(high: int, bitmap: int, seq: int) -> Decision:
    """Judge `seq` against window (high, bitmap); duplicates are decided before, from storage."""
    if seq < 1:
        return Decision("replay", high, bitmap)
    if seq > high:
        shift = seq - high
        moved = (bitmap << shift) & _MASK if shift < WINDOW else 0
        return Decision("new", seq, moved | 1)
    offset = high - seq
    if offset >= WINDOW or bitmap & (1 << offset):
        return Decision("replay", high, bitmap)
    return Decision("new", high, bitmap | (1 << offset))


def below_window(high: int, seq: int) -> bool:
    """True for 1 <= seq < high - 63: too old for the window to remember."""
    return 1 <= seq < high - (WINDOW - 1)
