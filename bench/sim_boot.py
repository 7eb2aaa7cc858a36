"""Booting the simulated button: compiled firmware (the default) against .py sources.

    .venv/bin/python bench/sim_boot.py [--boots 5]

Starts the stack (Mosquitto with the project's config, the gateway on
SQLite) and boots a registered simulated button `--boots` times in each way
of loading the code, under ``micropython -X heapsize=110K``:

- ``compiled``: the firmware and simmain/vhal as .mpy (simulator/compiled.py);
- ``from source``: ``panic-sim run --from-source``: the firmware's .py files,
  simmain/vhal still compiled;
- ``all source``: the baseline, everything compiled on the device's heap, as
  the simulator ran before it compiled anything.

For each it prints the median time from starting the process to the
virtual hardware's ``hello`` (every module imported) and to the indicator
showing ``idle`` (configured, connected to the broker), and the heap one
second after that, after a collection: live, free and the largest free block
(``SimulatedButton.heap()``). Boots that fail (a MemoryError while
importing) are counted. Last, the smallest heap each boots in (bisection
over whole KB): the headroom the 110 KB leave. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulator.button import DEVICE_DIR, SimulatedButton, SimulatorError
from simulator.stack import Stack

HEAP_K = 110  # an ESP32 without PSRAM


class AllSourceButton(SimulatedButton):
    """The simulator as it was: firmware and simmain/vhal loaded from .py."""

    device_dir = DEVICE_DIR

    def _firmware_path(self) -> list[Path]:
        return [self.firmware_dir, self.device_dir]


@dataclass
class Variant:
    label: str
    from_source: bool
    button: type[SimulatedButton] = SimulatedButton
    hello_s: list[float] = field(default_factory=list)
    idle_s: list[float] = field(default_factory=list)
    heaps: list[dict[str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    smallest_heap_k: int | None = None


@dataclass
class Boot:
    hello_s: float
    idle_s: float
    heap: dict[str, int]


def boot(stack: Stack, work: Path, variant: Variant, heap_k: int = HEAP_K) -> Boot | str:
    """Boot once with a `heap_k` KB heap: the figures, or why it did not boot."""
    device_id = "pb-" + secrets.token_hex(6)
    issued = stack.register_button(device_id)
    flash = work / f"flash-{device_id}"
    SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port)
    button = variant.button(flash, from_source=variant.from_source, heapsize=f"{heap_k}K",
                            log_file=flash / "console.log")
    started = time.monotonic()
    try:
        button.start(timeout=30)
        hello = time.monotonic() - started
        button.wait_for_indicator("idle", timeout=10)
        idle = time.monotonic() - started
        time.sleep(1)
        return Boot(hello, idle, button.heap())
    except (SimulatorError, TimeoutError) as e:
        errors = [line for line in str(e).splitlines() if "Error" in line]
        return errors[-1] if errors else str(e).splitlines()[0]
    finally:
        button.stop()


def record(stack: Stack, work: Path, variant: Variant) -> None:
    result = boot(stack, work, variant)
    if isinstance(result, str):
        variant.failures.append(result)
        return
    variant.hello_s.append(result.hello_s)
    variant.idle_s.append(result.idle_s)
    variant.heaps.append(result.heap)


def smallest_heap(stack: Stack, work: Path, variant: Variant) -> int | None:
    """The smallest heap (KB) the button boots to idle in, by bisection (fragmentation may make it ragged)."""
    low, high = 32, HEAP_K  # boots at high (checked), assumed not at low
    if isinstance(boot(stack, work, variant, high), str):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if isinstance(boot(stack, work, variant, middle), str):
            low = middle
        else:
            high = middle
    return high


def median(values: list[int] | list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boots", type=int, default=5)
    args = parser.parse_args()
    variants = [Variant("compiled (default)", False), Variant("from source (--from-source)", True),
                Variant("baseline: all source", True, AllSourceButton)]
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp)) as stack:
        for _ in range(args.boots):  # interleaved, so a busy moment on the machine hits every variant
            for variant in variants:
                record(stack, Path(tmp), variant)
        for variant in variants:
            variant.smallest_heap_k = smallest_heap(stack, Path(tmp), variant)
    report(variants)


def report(variants: list[Variant]) -> None:
    print(f"heap {HEAP_K}K; medians; heap figures one second after idle, after gc.collect()")
    print(f"{'':30} {'boots':>6} {'to hello':>9} {'to idle':>9} {'live':>8} {'free':>8} {'largest free':>13} "
          f"{'smallest heap':>14}")
    for v in variants:
        booted = f"{len(v.heaps)}/{len(v.heaps) + len(v.failures)}"
        heap = {key: median([h[key] for h in v.heaps]) for key in ("alloc", "free", "largest_free")}
        smallest = f"{v.smallest_heap_k}K" if v.smallest_heap_k else "-"
        print(f"{v.label:30} {booted:>6} {median(v.hello_s) * 1000:>7.0f}ms {median(v.idle_s) * 1000:>7.0f}ms "
              f"{heap['alloc']:>8,.0f} {heap['free']:>8,.0f} {heap['largest_free']:>13,.0f} {smallest:>14}")
        for failure in dict.fromkeys(v.failures):
            print(f"    failed: {failure}")


if __name__ == "__main__":
    main()
