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
            if over:
                sys.stdout.write('{"v":1,"ok":false,"error":"too_long","max":%d}\n' % _MAX_LINE)
            elif n and line is not None:
                text = bytes(line[:n])
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


async def _handle(app: App, text: bytes) -> None:
    action = ""
    for attempt in (0, 1):
        retry = False
        try:
            out, action = _request(app, text)
        except Exception as e:  # the console stays up whatever happened
            out = '{"v":1,"ok":false,"error":"internal","msg":%s}' % log.q(type(e).__name__)
            retry = isinstance(e, MemoryError)
        if not retry:
            break
        mem.sample()  # a collection, then once more: a fragmented heap may have a block by now
    sys.stdout.write(out + "\n")
    if action == "reboot":
        await asyncio.sleep_ms(200)  # let the answer leave the UART first
        app.hw.reset()


def _request(app: App, text: bytes) -> tuple:
    """consolereq.handle(app, text): the module (and panic.config, which it imports) loaded for this
    request and unloaded after it (with panic.cfgbase). Referenced from this frame only, which ends here: a retry after a
    MemoryError loads it into a heap without the failed copy (see panic.app._command)."""
    try:
        from panic import consolereq

        answer, action = consolereq.handle(app, text)
        del consolereq  # this frame's reference too: the module's heap is free for the check below
    finally:
        mem.unload("panic.consolereq")
        mem.unload("panic.cfgbase")
    if isinstance(action, dict):  # configure: the merged settings, checked and written on their own
        try:
            from panic import consolecfg

            answer = consolecfg.answer(app, answer, action)
        finally:
            mem.unload("panic.consolecfg")
            mem.unload("panic.config")
            mem.unload("panic.cfgbase")
        action = ""
    return answer, action
