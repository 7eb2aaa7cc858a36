"""Copy the firmware's deploy folder onto a MicroPython board through its raw REPL, checking every file.

The raw REPL (Ctrl-A) runs each chunk of code sent and ended with Ctrl-D, and
answers ``OK``, the output, ``\\x04``, the error text, ``\\x04``, ``>``. Each
file is written under a temporary name in chunks, renamed into place, then
read back on the board and its SHA-256 compared with manifest.json (from
`panic-fw build`): a cut cable leaves the old file, and a bad copy is
reported, never trusted. Tested against the MicroPython unix port on a
pseudo-terminal; on an ESP32 the same bytes go over the USB-serial port.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial

CHUNK = 256


class ReplError(RuntimeError):
    pass


class RawRepl:
    def __init__(self, port: serial.Serial, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout

    def _until(self, marker: bytes) -> bytes:
        data = b""
        deadline = time.monotonic() + self.timeout
        while not data.endswith(marker):
            if time.monotonic() > deadline:
                raise ReplError(f"no {marker!r} from the board (got {data[-80:]!r})")
            data += self.port.read(1)
        return data[: -len(marker)]

    def enter(self) -> None:
        self.port.write(b"\r\x03\x03")  # stop a running program (the panic firmware turns Ctrl-C off: flash first)
        time.sleep(0.1)
        self.port.reset_input_buffer()
        self.port.write(b"\r\x01")
        self._until(b"raw REPL; CTRL-B to exit")
        self._until(b">")

    def exec(self, code: str) -> str:
        self.port.write(code.encode() + b"\x04")
        if self.port.read(2) != b"OK":
            raise ReplError("the board did not accept the code")
        out = self._until(b"\x04")
        err = self._until(b"\x04")
        self._until(b">")
        if err:
            raise ReplError(err.decode(errors="replace").strip().splitlines()[-1])
        return out.decode(errors="replace")

    def leave(self) -> None:
        self.port.write(b"\x02")


FORMATS = (1, 2)  # manifest formats this tool knows (provision/build.py: 2 for a ROMFS build)


def read_manifest(deploy: Path) -> dict[str, Any]:
    """deploy/manifest.json, checked to be one this tool knows; ReplError saying what to do if not."""
    try:
        manifest: dict[str, Any] = json.loads((deploy / "manifest.json").read_text())
        files = manifest["files"]
        if manifest.get("format") not in FORMATS or not isinstance(files, list):
            raise ValueError(f"manifest format {manifest.get('format')!r}: this tool knows {FORMATS}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReplError(f"{deploy}: not a deploy folder from panic-fw build ({e}); run panic-fw build") from None
    return manifest


def romfs_file(deploy: Path) -> Path | None:
    """The deploy folder's ROMFS image (`panic-fw build --romfs`), written to a partition, not copied; or None.

    Checked against the manifest's size and SHA-256 before anything is written (ReplError if it differs).
    """
    for f in read_manifest(deploy)["files"]:
        if f.get("romfs"):
            image = deploy / str(f["path"])
            data = image.read_bytes() if image.is_file() else b""
            if len(data) != f["size"] or hashlib.sha256(data).hexdigest() != f["sha256"]:
                raise ReplError(f"{image}: missing or not the image the manifest lists; run panic-fw build again")
            return image
    return None


def copy_deploy(repl: RawRepl, deploy: Path, progress: Callable[[str], None] = lambda _: None) -> int:
    """Copy every file in deploy/manifest.json and check its SHA-256 on the board; returns the count.

    A ROMFS image is not a file on the board's filesystem: `panic-provision flash` writes it to its partition,
    and a ``panic`` folder left by an earlier ``.mpy`` install is removed here: ``''`` comes before ``/rom`` on
    MicroPython's sys.path, so it would run instead of the image.
    """
    manifest = read_manifest(deploy)
    files = [(str(f["path"]), str(f["sha256"])) for f in manifest["files"] if not f.get("romfs")]
    if len(files) < len(manifest["files"]):
        repl.exec("import os\ndef _rm(p):\n try:\n  for n in os.listdir(p):\n   _rm(p+'/'+n)\n  os.rmdir(p)\n"
                  " except OSError:\n  try:\n   os.remove(p)\n  except OSError:\n   pass\n_rm('panic')\n")
        progress("panic/ removed if there (an earlier .mpy install would shadow the ROMFS image)")
    files.append(("manifest.json", ""))
    dirs = sorted({str(Path(p).parent) for p, _ in files if str(Path(p).parent) != "."})
    repl.exec("import os,hashlib,binascii\n" + "".join(
        f"try:\n os.mkdir({d!r})\nexcept OSError:\n pass\n" for d in dirs))
    for n, (path, want) in enumerate(files, 1):
        data = (deploy / path).read_bytes()
        repl.exec(f"f=open({path + '.tmp'!r},'wb')")
        for i in range(0, len(data), CHUNK):
            repl.exec(f"f.write({data[i:i + CHUNK]!r})")
        repl.exec(f"f.close()\nos.rename({path + '.tmp'!r},{path!r})")
        got = repl.exec(
            f"h=hashlib.sha256()\nf=open({path!r},'rb')\nwhile 1:\n b=f.read(512)\n if not b:break\n h.update(b)\n"
            "f.close()\nprint(binascii.hexlify(h.digest()).decode())").strip()
        if want and got != want:
            raise ReplError(f"{path}: the board holds sha256 {got[:12]}..., the build {want[:12]}...: copy again")
        progress(f"[{n}/{len(files)}] {path} {len(data)} B ok")
    return len(files)
