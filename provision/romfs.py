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


def romfs_image(directory: Path) -> bytes:
    """The ROMFS image of everything under `directory` (mpremote's tree listing silenced)."""
    with contextlib.redirect_stdout(io.StringIO()):
        image: bytes = make_romfs(str(directory), mpy_cross=False)
    return image
