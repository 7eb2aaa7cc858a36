"""Serial console task: newline-delimited JSON requests in, one JSON line out each.

The resident part, kept small (protocol/console.md has the contract): it
reads the console stream (``sys.stdin``: the USB-serial UART on the ESP32, a
pipe in the simulator) into one fixed buffer and hands every complete line
to ``panic.consolereq``, which is imported for that line and unloaded again
(as panic.config is at boot), so the request handling costs no heap while
the console is idle. Responses are single lines starting with ``{``; log
lines never do (panic.log), so both share the UART.

A line over 400 bytes (``_MAX_LINE``) is dropped up to its newline and answered
``too_long``; anything else, garbage included, gets its answer from
consolereq. Ctrl-C is disabled while the app runs, so a stray 0x03 byte
cannot stop the button (flashing starts from a freshly written image).
"""

import asyncio
import sys

from panic import log, mem

from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Any

    from panic.app import App

_MAX_LINE = const(400)  # a set_secrets request is about 330 bytes
nonce = ""  # the challenge handed out last (consolereq), "" when none: single-use


async def run(app: App) -> None:
    import micropython

    micropython.kbd_intr(-1)
    reader = asyncio.StreamReader(sys.stdin.buffer)
    # One byte per read: a stream's readinto(buf) blocks the whole loop until buf is full.
    byte = bytearray(1)
    line = None  # the line buffer exists only while a line comes in: the idle console holds no heap
    n = 0
    over = False
    while True:
        if not await reader.readinto(byte):
            return  # no console (stdin closed): nothing more will come
        c = byte[0]
        if c == 10:
            if over or n and line is not None:
                text = None if over or line is None else bytes(line[:n])  # None: too long (consolereq says so)
                line = None
                await _handle(app, text)
            line = None
            n = 0
            over = False
        elif c != 13:
            if line is None:
                line = bytearray(_MAX_LINE)
            if n < _MAX_LINE:
                line[n] = c
                n += 1
            else:
                over = True


async def _handle(app: App, text: bytes | None) -> None:
    action = ok = None  # consolereq's answer, once it has one: a retry then checks a configure again, not the proof
    for attempt in (0, 1):
        retry = False
        try:
            if ok is None:
                ok, action = _request("panic.consolereq", app, text)
            # configure: the merged settings, checked and written by panic.consolecfg on its own
            out = _request("panic.consolecfg", app, ok, action) if isinstance(action, dict) else ok
        except Exception as e:  # the console stays up whatever happened
            out = '{"v":1,"ok":false,"error":"internal","msg":%s}' % log.q(type(e).__name__)
            retry = isinstance(e, MemoryError)
        if not retry:
            break
        mem.sample()  # a collection, then once more: a fragmented heap may have a block by now
    sys.stdout.write(out)
    sys.stdout.write("\n")  # not out + "\n": a copy of the whole answer
    if action == "reboot":
        await asyncio.sleep_ms(200)  # let the answer leave the UART first
        app.hw.reset()


# _request(name, *args): <name>.answer(*args), the module (and panic.cfgbase, which it imports) loaded for
# this call and unloaded after it: panic.consolereq answers a request line, panic.consolecfg (with
# panic.cfgcheck) then checks and writes a configure's merged settings. The two run one after the other, each in a frame of its own (a stale
# reference left in a frame's value stack, which the collector scans as it is, would keep a module alive
# through the next): on a running unit the heap holds one of them at a time, not both. A retry after a
# MemoryError loads the module into a heap without the failed copy (see panic.app._command). (A comment,
# not a docstring: from .py source a docstring is parsed into the heap with the module, docs/firmware.md.)
def _request(name: str, *args: object) -> Any:
    try:
        return __import__(name, None, None, ("answer",)).answer(*args)
    finally:
        mem.unload(name)
        mem.unload("panic.cfgbase")
