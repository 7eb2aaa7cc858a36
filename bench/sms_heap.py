"""What the SMS format (firmware/panic/smsfmt.py) costs the firmware's heap.

    .venv/bin/python bench/sms_heap.py

Under ``micropython -X heapsize=110K``, as .py source and as the compiled
.mpy the simulator runs (simulator/compiled.py): the modules the app has
loaded anyway (panic.sign, messages, fix) are imported first, then

- ``code``: the live heap smsfmt adds once imported (after gc.collect);
- ``alert``: bytes allocated while writing one alert SMS (the longest one);
- ``ack``: bytes allocated while verifying one ack SMS.

Prints numbers; asserts nothing. The results are in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from simulator.button import DEVICE_DIR, FIRMWARE_DIR, micropython_binary
from simulator.compiled import firmware_path

MEASURE = """
import gc
from panic import fix, messages, sign
s = sign.Signer(bytes(32))
gc.collect(); before = gc.mem_alloc()
from panic import smsfmt
gc.collect(); code = gc.mem_alloc() - before
loc = (-900000000, -1800000000, 100000, "last_gps", 31536000)
gc.collect(); a = gc.mem_alloc()
text = smsfmt.alert(s, "pb-3c71bf4a9e10", 9007199254740991, "battery_low", 4294967295, 9007199254740991, 100,
                    "battery", -150, None, loc)
alert = gc.mem_alloc() - a
signed = "PB1 K 3c71bf4a9e10 18 R 1717215010"
ack_text = signed + " " + s.mac("panic/v1/sms", signed.encode())[:16].decode()
gc.collect(); a = gc.mem_alloc()
try:
    smsfmt.ack(s, "pb-3c71bf4a9e10", ack_text)
except sign.SigError:
    pass
ack = gc.mem_alloc() - a
print(code, alert, ack, len(text))
"""


def measure(path: list[Path]) -> list[int]:
    env_path = ":".join(str(p) for p in path)
    out = subprocess.run([micropython_binary(), "-X", "heapsize=110K", "-c", MEASURE], capture_output=True,
                         text=True, check=True, env={"MICROPYPATH": env_path})
    return [int(x) for x in out.stdout.split()]


def main() -> int:
    binary = micropython_binary()
    print("| loaded as | code (bytes) | writing an alert (bytes allocated) | verifying an ack | alert length |")
    print("| --- | --- | --- | --- | --- |")
    for name, from_source in (("py", True), ("mpy", False)):
        code, alert, ack, length = measure(firmware_path(FIRMWARE_DIR, DEVICE_DIR, binary, from_source=from_source))
        print(f"| .{name} | {code:,} | {alert:,} | {ack:,} | {length} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
