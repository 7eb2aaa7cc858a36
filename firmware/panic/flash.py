"""Atomic file writes on the device's flash (LittleFS on the ESP32).

A file is written under a temporary name, closed (LittleFS commits on close)
and renamed over the final name. A power cut at any point leaves either the
old file or the new one, never a torn one; at worst a stray ``*.tmp`` that
readers ignore and ``clean_tmp`` removes.
"""

import os

ENOSPC = 28  # not in the unix port's errno module; the value is the same everywhere


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


def read(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        if e.errno == 2:  # ENOENT
            return None
        raise


def remove(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def makedirs(path: str) -> None:
    if not exists(path):
        os.mkdir(path)


def clean_tmp(directory: str) -> int:
    """Remove leftovers of interrupted writes in `directory`; returns how many."""
    n = 0
    for name in os.listdir(directory):
        if name.endswith(".tmp"):
            remove(directory + "/" + name)
            n += 1
    return n
