"""Simulator entry for a button whose firmware is a ROMFS image (MicroPython >= 1.25), as a cellular unit ships.

Run by simulator/button.py::

    micropython -X heapsize=<110K + the image> -m romboot <image> <module> <module's arguments>

On an ESP32 the image sits in the flash's ``romfs`` partition, mapped into the
address space: MicroPython runs the bytecode and uses strings and names in
place (its loader takes them ``MP_READER_IS_ROM``) and copies to the heap only
the objects that must be writable (functions, module dicts). The unix port
has no such flash, so the image is read into the first block of a heap that
is bigger by exactly the image (simulator/compiled.py, ``romfs_heapsize``):
the rest of the heap is the one an ``-X heapsize=110K`` run has, and the
loader treats the image as it treats the ESP32's partition (``vfs.VfsRom``).
This module is the only code outside the image; it stays small.
"""

import os
import sys

import vfs

image = sys.argv[1]
rom = bytearray(os.stat(image)[6])  # the first allocation: one run of blocks at the heap's start, kept
with open(image, "rb") as f:
    f.readinto(rom)
vfs.mount(vfs.VfsRom(rom), "/rom")  # type: ignore[attr-defined]  # 1.25+, absent from the ESP32 stubs
sys.path.insert(0, "/rom")
main = sys.argv[2]
del sys.argv[1:3]  # the module sees the arguments it has when run with -m
print("I 0 sim: firmware from romfs image=%s bytes=%d" % (image, len(rom)))
__import__(main)
