"""A ROMFS image of a folder of compiled modules, as MicroPython (>= 1.25) mounts it from flash.

The image format and the writer are mpremote's (``mpremote romfs build``/``deploy``
use the same code); the modules must already be ``.mpy`` (they are copied, not
compiled, so the image holds exactly the bytecode ``panic-fw build`` made).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from mpremote.romfs import make_romfs  # type: ignore[import-untyped]


class RomfsError(Exception):
    """The image could not be made (mpremote's writer exits the process on an error: caught here)."""


def romfs_image(directory: Path) -> bytes:
    """The ROMFS image of everything under `directory` (mpremote's tree listing silenced)."""
    listing = io.StringIO()
    try:
        with contextlib.redirect_stdout(listing):
            image: bytes = make_romfs(str(directory), mpy_cross=False)
    except SystemExit:
        raise RomfsError(f"{directory}: mpremote could not make a ROMFS image: {listing.getvalue()[-300:]}") from None
    return image
