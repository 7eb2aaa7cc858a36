"""Simulator entry (MicroPython): virtual hardware + the unmodified firmware.

Run by simulator/button.py, compiled (simulator/compiled.py) like the firmware, as::

    micropython -X heapsize=110K -m simmain <host> <port> <unique_id> <board name> <buzzer 0|1> [<why not>]

with the compiled firmware (or, for debugging, its .py sources) on
MICROPYPATH and the device's flash directory as the working directory. The
host reads the flash's board.json (name, buzzer; an empty name: none usable).
Connects the control channel, starts the virtual hardware's tasks and calls
the firmware's entry, panic.app.main. Besides vhal's commands it answers
``heap`` on the channel by logging the heap after a collection, followed by
``micropython.mem_info()`` (whose ``max free sz`` is the largest free block,
in GC blocks of four machine words) and ``micropython.qstr_info()`` (how many
names are interned: the pools they live in double in size, docs/firmware.md).
"""

# As in firmware/main.py: from .py sources the firmware is compiled first, while
# the heap is empty, and the MQTT client first of all (it needs ~90 KB while compiling).
import panic.mqtt  # noqa: F401  # isort: skip
from panic import app, mem  # isort: skip
# panic.boarddef as on a unit, where panic.hal parses the board with it and unloads it: its names
# stay interned and its code leaves the same hole (the board itself comes from the host here).
import panic.boarddef  # noqa: F401  # isort: skip  - both compiled now, unloaded once used
import panic.config  # noqa: F401  # isort: skip

import asyncio
import gc
import micropython
import socket
import sys

from micropython import const

import panic
import vhal
from panic import log


_GPS_BACKLOG = const(512)


async def _control(stream: asyncio.StreamReader, hw: vhal.VirtualHardware) -> None:
    while True:
        line = await stream.readline()
        if not line:
            # The host is gone: nothing can drive or watch this device any more.
            sys.exit(0)
        text = line.decode().strip()
        if text == "heap":
            gc.collect()
            block = 32 if sys.maxsize > (1 << 32) else 16
            log.info("sim", "heap alloc=%d free=%d block=%d" % (gc.mem_alloc(), gc.mem_free(), block))
            micropython.mem_info()
            micropython.qstr_info()  # "qstr pool: n_pool=.. n_qstr=..": interned names, for good (docs/firmware.md)
        else:
            hw.command(text)
        # A UART's buffer is small: the host waits, not the heap (no receiver: simulator/device/cellmain.py).
        while hw.gps_uart and hw.gps_uart.waiting() > _GPS_BACKLOG:
            await asyncio.sleep_ms(10)


def main() -> None:
    mem.unload("panic.boarddef")  # as panic.hal does once the pins are set up; the board came from the host
    host, port, uid, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if not name:  # the host found no usable board.json (simulator/button.py, board_args)
        print("W 0 sim: no board definition err=%s" % sys.argv[6])
        name = "virtual"
    sock = socket.socket()
    sock.connect(socket.getaddrinfo(host, port)[0][-1])
    sock.setblocking(False)
    stream = asyncio.StreamReader(sock)
    has_buzzer = sys.argv[5] == "1"
    hw = vhal.VirtualHardware(stream, name, uid, has_buzzer)
    # Which firmware runs: panic/__init__.mpy when compiled, .py from source.
    log.info("sim", "firmware file=%s" % log.q(panic.__file__))
    vhal.send(stream, "hello")
    # Tasks created before asyncio.run() join the loop the firmware starts.
    asyncio.create_task(hw.button.run())
    asyncio.create_task(_control(stream, hw))
    app.main(hw)


main()
