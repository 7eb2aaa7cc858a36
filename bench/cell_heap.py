"""The cellular button's heap beside the Wi-Fi button's (docs/benchmarks.md, "Cellular button").

    .venv/bin/python bench/cell_heap.py [--heapsize 110K] [--gps] [--tls] [--frozen-binary PATH]

Runs the compiled simulated button (real broker and gateway, simulator.stack)
three times: as a Wi-Fi button from .mpy files (the baseline, as it ships; GPS
running), the same from a ROMFS image (docs/firmware.md, "ROMFS"), and as a
cellular button from ROMFS, as it ships (no Wi-Fi configured, an emulated
A7670E bridged to its modem UART; no GPS receiver unless --gps). ROMFS rows
leave the image's block out of code, alloc and peak (it is flash on a unit).
For each: the firmware's ``mem:`` figures and the
heap after a collection (largest free block, interned names) once the session
is up, and after an acknowledged alert. ``--tls``: both buttons on the
broker's TLS listener (development CA). ``--frozen-binary``: every row runs the
firmware frozen into that unix-port micropython (bench/build_frozen_unix.sh)
instead of as .mpy on this venv's. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from simulator.button import SimulatedButton
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from simulator.stack import Stack

DEVICE = "pb-0badc0ffee0d"


def run(heapsize: str, cellular: bool, gps: bool, tls: bool = False, frozen_binary: Path | None = None,
        romfs: bool = False) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """(point, `mem:` figures (SimulatedButton.memory: without a ROMFS image's block), heap after gc) at up, acked."""
    tmp = Path(tempfile.mkdtemp(prefix="cell-heap-"))
    with Stack(tmp, tls=tls) as stack:
        dispatch = stack.dispatch()
        issued = stack.register_button(DEVICE)
        flash = tmp / "flash"
        cfg = stack.broker_config
        settings: dict[str, Any] = {"hold_ms": 1500, **({"apn": "internet"} if cellular else {})}
        if tls:  # as bench/tls_heap.py provisions a TLS button
            settings.update(brokers=[("localhost", cfg.tls_port, True)], ca_der=cfg.ca_der)
        else:
            settings.update(broker_host=cfg.host, broker_port=cfg.port)
        SimulatedButton.provision(flash, device_id=DEVICE, device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], **settings)
        modem = EmulatedModem(Network(), "+6281200000002", "A7670E").start() if cellular else None
        button = SimulatedButton(flash, heapsize=heapsize, modem=modem, wifi=not cellular, gps=gps or not cellular,
                                 frozen_binary=frozen_binary, romfs=romfs and frozen_binary is None)
        rows = []
        try:
            button.start()
            button.wait_for_indicator("idle", timeout=120)
            rows.append(("up", button.memory(), button.heap()))
            button.press(1800)
            button.wait_for_log(r"mem: acked seq=", timeout=120)
            rows.append(("acked", button.memory(), button.heap()))
            session = button.wait_for_log(r"link: connected host=(\S+) port=(\d+)")
            warnings = [line for line in button.lines if line.startswith(("W ", "E "))]
            print(f"  session {session[1]}:{session[2]}; device W/E lines: {len(warnings)}"
                  + (f", first: {warnings[0]}" if warnings else ""))
        finally:
            button.stop()
            dispatch.close()
            if modem is not None:
                modem.close()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heapsize", default="110K")
    parser.add_argument("--gps", action="store_true", help="the cellular button with its GPS receiver too")
    parser.add_argument("--tls", action="store_true", help="both buttons on the broker's TLS listener")
    parser.add_argument("--frozen-binary", type=Path, default=None,
                        help="a unix-port micropython with the firmware frozen in (bench/build_frozen_unix.sh)")
    args = parser.parse_args()
    frozen = args.frozen_binary.resolve() if args.frozen_binary is not None else None
    print(f"heap {args.heapsize}; bytes; 'after gc' = free (largest free block), qstrs (pools); "
          f"firmware {'frozen into ' + str(frozen) if frozen else '.mpy'}{', TLS' if args.tls else ''}")
    # The Wi-Fi button as it ships (.mpy files) is the baseline; ROMFS is how a button with a modem ships.
    rows = (("Wi-Fi, .mpy (baseline)", False, False), ("Wi-Fi, ROMFS", False, True), ("cellular, ROMFS", True, True))
    for label, cellular, romfs in rows:
        for point, memory, heap in run(args.heapsize, cellular, args.gps, args.tls, frozen, romfs):
            print(f"{label:24} {point:6} code={memory['code']:7,} alloc={memory['alloc']:7,} "
                  f"free={memory['free']:7,} peak={memory['peak']:7,}  after gc: {heap['free']:,} "
                  f"({heap['largest_free']:,}), {heap['qstrs']} ({heap['qstr_pools']})")


if __name__ == "__main__":
    main()
