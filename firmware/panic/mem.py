"""Heap accounting, and unloading of modules that are needed only at boot.

``peak`` is the largest ``gc.mem_alloc()`` seen right after ``gc.collect()``
(live objects, not garbage). ``code`` is the live heap when the app has
imported everything it runs with, before it allocates its own state: on the
unix port (and on a device running .py or .mpy files) that is mostly module
bytecode and interned names, which a production image freezes into flash.
``peak - code`` is what the firmware's own data needs. The supervisor
samples every second; ``report`` samples and logs::

    I <up> mem: <event> alloc=<bytes> free=<bytes> peak=<bytes> code=<bytes>
"""

import gc
import sys

from panic import log

peak = 0
code = 0


def sample() -> int:
    global peak
    gc.collect()
    used = gc.mem_alloc()
    if used > peak:
        peak = used
    return used


def mark_code() -> None:
    global code
    code = sample()


def report(event: str) -> None:
    used = sample()
    log.info("mem", "%s alloc=%d free=%d peak=%d code=%d" % (event, used, gc.mem_free(), peak, code))


def unload(name: str) -> None:
    """Forget a module (e.g. "panic.config") so its code can be collected.

    The caller must drop its own references to the module and anything
    defined in it (functions keep their module's globals alive).
    """
    sys.modules.pop(name, None)
    package, _, leaf = name.rpartition(".")
    parent = sys.modules.get(package)
    if parent is not None and leaf in parent.__dict__:
        delattr(parent, leaf)
