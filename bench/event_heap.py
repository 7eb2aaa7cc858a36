"""The button's heap with the GPS running, after each kind of event it raises or command it answers.

    .venv/bin/python bench/event_heap.py

Starts the stack (Mosquitto with the project's config, the gateway on
SQLite) and one simulated button as the tests run it: the compiled firmware
(`.mpy`, the bytecode of `panic-fw build`) under ``micropython -X
heapsize=110K``, the default board with its GPS receiver. A receiver capture
(tests/data/nmea/neo-m8n.log) is played into the virtual GPS UART until the
firmware has a fix, and one epoch of it again before each step, so every
alert carries its `loc` from a GPS that is parsing. Then, in turn: an SOS
(hold), its cancel (a long hold in the cancel window), a silent SOS (three
presses), a test alert (the `test` command), the tamper switch opened and
closed, mains lost and back, the battery low and recovered, and the
`locate`, `identify` and `config` commands.

After each it waits for the firmware's own ``mem:`` line (``acked seq=…``
once the gateway's ack for that alert is in; ``cmd`` once a command is
answered, its module still loaded) and reads ``peak`` from it (panic/mem.py:
the highest live heap after a collection since boot), then asks the device
for its heap after a collection: free, largest free block and interned
names (qstrs). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.button import SimulatedButton
from simulator.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "tests" / "data" / "nmea" / "neo-m8n.log"
DEVICE = "pb-0e7e47c0ffee"
# Shorter gestures than the defaults (2 s hold, 10 s cancel), no coalescing: the same code paths, quicker.
CONFIG: dict[str, Any] = {"hold_ms": 1500, "cancel_ms": 3000, "cancel_window_s": 60, "repeat_ms": 0,
          "reconnect_min_ms": 100, "reconnect_max_ms": 1000, "retry_min_ms": 300, "retry_max_ms": 1000}
TAPS = [150, 300, 150, 300, 150]


def epochs(path: Path) -> list[list[str]]:
    """The capture's sentences grouped by epoch (a new group at each RMC)."""
    groups: list[list[str]] = [[]]
    for line in path.read_text().splitlines():
        if not line.startswith("$"):
            continue
        if line[3:6] == "RMC" and groups[-1]:
            groups.append([])
        groups[-1].append(line)
    return [g for g in groups if g]


class Bench:
    def __init__(self, button: SimulatedButton, stack: Stack) -> None:
        self.button = button
        self.stack = stack
        self.epochs = epochs(CAPTURE)
        self.next_epoch = 0
        self.rows: list[tuple[str, dict[str, int], dict[str, int]]] = []

    def gps_epoch(self) -> None:
        self.button.feed_nmea(self.epochs[self.next_epoch % len(self.epochs)])
        self.next_epoch += 1

    def measure(self, name: str, logged: dict[str, int]) -> None:
        heap = self.button.heap()
        self.rows.append((name, logged, heap))
        print(f"{name:32} peak={logged.get('peak', 0):,} free={heap['free']:,} "
              f"largest={heap['largest_free']:,} qstrs={heap['qstrs']} ({heap['qstr_pools']})", flush=True)

    def alert(self, name: str, kind: str, act: Callable[[], None]) -> None:
        """`act` raises an alert of type `kind`; measured once the gateway's ack for it is in."""
        self.gps_epoch()
        mark = self.button.mark()
        act()
        seq = self.button.wait_for_log(rf"alert: raised seq=(\d+) type={kind}\b", since=mark, timeout=30)[1]
        self.button.wait_for_log(rf"mem: acked seq={seq} ", since=mark, timeout=30)
        self.measure(name, self.button.memory())

    def command(self, cmd: str, **args: int) -> None:
        self.gps_epoch()
        mark = self.button.mark()
        self.stack.gateway.request("POST", f"/devices/{DEVICE}/commands", {"cmd": cmd, "args": args})
        self.button.wait_for_log(r"mem: cmd ", since=mark, timeout=30)
        self.measure(f"command {cmd}", self.button.memory())


def run(work: Path) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    with Stack(work) as stack:
        issued = stack.register_button(DEVICE)
        flash = work / "flash"
        SimulatedButton.provision(flash, device_id=DEVICE, device_key_hex=issued["device_key"],
                                  mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                                  broker_port=stack.broker_config.port, **CONFIG)
        button = SimulatedButton(flash, log_file=work / "button.log")
        button.start()
        try:
            button.wait_for_indicator("idle", timeout=60)
            bench = Bench(button, stack)
            mark = button.mark()
            for group in bench.epochs:
                button.feed_nmea(group)
            button.wait_for_log(r"gps: fix dim=", since=mark, timeout=30)
            time.sleep(2)
            bench.measure("idle, GPS fixed", button.memory())
            bench.alert("sos (hold)", "sos", lambda: button.press(1700))
            bench.alert("cancel (long hold in the window)", "cancel", lambda: button.press(3500))
            bench.alert("silent_sos (three presses)", "silent_sos", lambda: button.pattern(TAPS))
            bench.alert("test (command)", "test",
                        lambda: stack.gateway.request("POST", f"/devices/{DEVICE}/commands", {"cmd": "test"}))
            bench.alert("tamper (lid open)", "tamper", lambda: button.tamper(True))
            bench.alert("tamper_restored", "tamper_restored", lambda: button.tamper(False))
            bench.alert("power_lost (mains)", "power_lost", lambda: button.mains(False))
            bench.alert("power_restored", "power_restored", lambda: button.mains(True))
            bench.alert("battery_low (15 %)", "battery_low", lambda: button.battery(15))
            bench.alert("battery_restored (35 %)", "battery_restored", lambda: button.battery(35))
            bench.command("locate")
            bench.command("identify")
            bench.command("config", heartbeat_s=30)
            time.sleep(12)  # identify's 10 s are over, its module unloaded
            bench.measure("idle again, GPS running", button.memory())
            faults = [line for line in button.lines if re.match(r"[WE] ", line) and "MemoryError" in line]
            print("MemoryError lines:", len(faults))
            return bench.rows
        finally:
            button.stop()


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    with tempfile.TemporaryDirectory(prefix="event-heap-") as tmp:
        rows = run(Path(tmp))
    print()
    print("| after | heap peak | free | largest free block | qstrs (pools) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, logged, heap in rows:
        print(f"| {name} | {logged.get('peak', 0):,} | {heap['free']:,} | {heap['largest_free']:,} | "
              f"{heap['qstrs']} ({heap['qstr_pools']}) |")


if __name__ == "__main__":
    main()
