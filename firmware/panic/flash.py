"""Atomic file writes on the device's flash (LittleFS on the ESP32).

A file is written under a temporary name, closed (LittleFS commits on close)
and renamed over the final name. A power cut at any point leaves either the
old file or the new one, never a torn one; at worst a stray ``*.tmp`` that
readers ignore and ``clean_tmp`` removes.
"""

import os
from micropython import const

# errno values, the same everywhere (the unix port's errno module lacks some). Literals
# rather than names where a name is not needed: every name is a qstr, and the heap of
# a device running .py files pays for each one (see docs/firmware.md, "Heap and qstrs").
_ENOSPC = const(28)
_ENOENT = const(2)


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data`; raises OSError (e.g. ENOSPC) and leaves the old file."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            n = f.write(data)
        if n != len(data):
            raise OSError(_ENOSPC)
        os.rename(tmp, path)
    except OSError:
        remove(tmp)
        raise


def read(path: str, size: int) -> bytes | None:
    """The file's bytes, or None when it does not exist.

    OSError(21, EISDIR) for a directory and OSError(27, EFBIG) for a file over
    `size` bytes, found with stat() before anything is read: whatever is on
    the flash, reading it never needs more heap than the caller allowed.
    """
    try:
        p = os.stat(path)
    except OSError as e:
        if e.errno == _ENOENT:
            return None
        raise
    if p[0] & 0x4000:  # S_IFDIR
        raise OSError(21)  # EISDIR
    if p[6] > size:
        raise OSError(27)  # EFBIG
    with open(path, "rb") as f:
        return f.read(p[6])  # exactly the file's size: read(n) allocates n bytes at once


def remove(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def clean_tmp(directory: str) -> int:
    """Remove leftovers of interrupted writes in `directory`; returns how many."""
    n = 0
    for name in os.listdir(directory):
        if name.endswith(".tmp"):
            remove(directory + "/" + name)
            n += 1
    return n
