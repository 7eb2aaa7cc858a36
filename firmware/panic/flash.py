"""Atomic file writes on the device's flash (LittleFS on the ESP32).

A file is written under a temporary name, closed (LittleFS commits on close)
and renamed over the final name. A power cut at any point leaves either the
old file or the new one, never a torn one; at worst a stray ``*.tmp`` that
readers ignore and ``clean_tmp`` removes.
"""

import os

ENOSPC = 28  # not in the unix port's errno module; the value is the same everywhere
ENOENT = 2
EISDIR = 21
EFBIG = 27
_S_IFDIR = 0x4000


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data`; raises OSError (e.g. ENOSPC) and leaves the old file."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            n = f.write(data)
        if n != len(data):
            raise OSError(ENOSPC)
        os.rename(tmp, path)
    except OSError:
        remove(tmp)
        raise


def read(path: str, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it does not exist.

    OSError(EISDIR) for a directory and OSError(EFBIG) for a file over
    `max_bytes`, found with stat() before anything is read: whatever is on
    the flash, reading it never needs more heap than the caller allowed.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == ENOENT:
            return None
        raise
    if st[0] & _S_IFDIR:
        raise OSError(EISDIR)
    if st[6] > max_bytes:
        raise OSError(EFBIG)
    with open(path, "rb") as f:
        return f.read(max_bytes + 1)


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
