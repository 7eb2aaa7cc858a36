"""The MicroPython heap a TLS session costs, beside plain TCP, in one run.

    .venv/bin/python bench/tls_heap.py [--baseline REV] [--samples 3] [--frozen-binary PATH]

Starts the project's Mosquitto with its TLS listener and development CA
(broker/tls.py) and the gateway (SQLite), then measures under
``micropython -X heapsize=110K``:

1. **The MQTT client alone** (panic/mqtt.py + panic/mqttc.py + panic/tls.py,
   from source on the 110 KB heap): live heap (after ``gc.collect()``) of a
   connected client on plain TCP and on TLS, and the peak while it connects
   - a task collects and samples every millisecond, so the TLS handshake
   peak is seen, not just the session it leaves; the same task sees the
   longest time the event loop was held (mbedTLS's ECDHE and signature steps
   run inside one socket write).
2. **The whole firmware** (the simulated button, compiled .mpy as a unit
   runs it, GPS board, Wi-Fi): boot, press, the gateway's ack, then the
   firmware's own ``mem: acked`` figures (free, peak, code) and the heap
   after (free, largest free block, qstrs): for ``--baseline``'s firmware
   (default: main) on plain TCP, this tree's on plain TCP, this tree's on TLS;
   with ``--frozen-binary`` (a unix-port micropython with this tree's
   firmware frozen in, bench/build_frozen_unix.sh) also that frozen firmware
   on plain TCP and on TLS.

mbedTLS's own buffers (about 16 KB in, 4-16 KB out, the parsed CA) are not
on the MicroPython heap on the unix and ESP32 ports and are not counted
here. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import textwrap
from pathlib import Path

from simulator.button import FIRMWARE_DIR, SimulatedButton, micropython_binary
from simulator.stack import Stack

ROOT = Path(__file__).resolve().parents[1]

CLIENT = """
import asyncio, gc, json, sys
sys.path.insert(0, FIRMWARE)
from panic.mqtt import MQTTClient
import panic.mqttc, panic.tls, tls  # loaded before the baseline: code is not what is measured
import time
peak = 0
pause = 0  # longest time the loop did not get back to the sampler (a blocking step), microseconds
async def sampler(base):
    global peak, pause
    last = time.ticks_us()
    while True:
        gc.collect()
        peak = max(peak, gc.mem_alloc() - base)
        await asyncio.sleep_ms(1)
        now = time.ticks_us()
        pause = max(pause, time.ticks_diff(now, last))
        last = now
async def one(host, port):
    global peak, pause
    c = MQTTClient(DEV, host, port, user=DEV, password=PW)
    gc.collect()
    base = gc.mem_alloc()
    peak = pause = 0
    s = asyncio.create_task(sampler(base))
    await asyncio.sleep_ms(5)
    await c.connect(timeout_ms=10000)
    await c.subscribe(ACK)
    await asyncio.sleep_ms(20)
    s.cancel()
    gc.collect()
    connected = gc.mem_alloc() - base
    await c.disconnect()
    gc.collect()
    return {"connected": connected, "connect_peak": peak, "after_disconnect": gc.mem_alloc() - base,
            "pause_ms": pause // 1000}
async def main():
    fig = await one(*SESSION)
    print("RESULT", json.dumps(fig))
asyncio.run(main())
"""


def client_figures(stack: Stack, flash: Path, over_tls: bool) -> dict[str, int]:
    """One connection in a fresh interpreter (garbage of an earlier one would blur the figures)."""
    cfg = stack.broker_config
    dev = "pb-" + "b" * 12
    cfg.accounts().set(dev, "bench-pw")
    session = ("mqtts://localhost", cfg.tls_port) if over_tls else (cfg.host, cfg.port)
    consts = {"FIRMWARE": str(FIRMWARE_DIR), "DEV": dev, "PW": "bench-pw", "SESSION": session,
              "ACK": f"panic/v1/dev/{dev}/ack"}
    code = "".join(f"{k} = {v!r}\n" for k, v in consts.items()) + textwrap.dedent(CLIENT)
    done = subprocess.run([micropython_binary(), "-X", "heapsize=110K", "-c", code], cwd=flash,
                          capture_output=True, text=True, timeout=120)
    found = re.search(r"^RESULT (.*)$", done.stdout, re.M)
    if not found:
        raise SystemExit(f"client measurement failed:\n{done.stdout}\n{done.stderr}")
    figures: dict[str, int] = json.loads(found.group(1))
    return figures


def button_figures(stack: Stack, work: Path, name: str, firmware: Path, over_tls: bool,
                   frozen_binary: Path | None = None) -> dict[str, int]:
    device = "pb-" + format(abs(hash(name)) % (1 << 48), "012x")
    issued = stack.register_button(device)
    cfg = stack.broker_config
    assert cfg.tls_port is not None and cfg.ca_der is not None
    flash = work / name.replace(" ", "-")
    where = ({"brokers": [("localhost", cfg.tls_port, True)], "ca_der": cfg.ca_der} if over_tls
             else {"broker_host": cfg.host, "broker_port": cfg.port})
    SimulatedButton.provision(flash, device_id=device, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], reconnect_min_ms=100, hold_ms=1500,
                              **where)  # type: ignore[arg-type]
    button = SimulatedButton(flash, firmware_dir=firmware, log_file=work / f"{flash.name}.log",
                             frozen_binary=frozen_binary)
    button.start()
    try:
        button.wait_for_indicator("idle", timeout=60)
        button.press(2000)
        seq = int(button.wait_for_log(r"outbox: stored seq=(\d+) ", timeout=30).group(1))
        button.wait_for_log(rf"mem: acked seq={seq} ", timeout=60)
        acked = button.memory()
        now = button.heap()
    finally:
        button.stop()
    return {"acked_free": acked["free"], "acked_peak": acked["peak"], "code": acked["code"],
            "free_after": now["free"], "largest_free": now["largest_free"], "qstrs": now["qstrs"],
            "qstr_pools": now["qstr_pools"]}


def export(rev: str, into: Path) -> Path:
    """firmware/ as it is at `rev` (git archive), for the baseline."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "firmware"], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "firmware"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision of the baseline firmware (default main)")
    parser.add_argument("--samples", type=int, default=3, help="runs of the client measurement")
    parser.add_argument("--frozen-binary", type=Path, default=None,
                        help="also the button frozen into this unix-port micropython (bench/build_frozen_unix.sh)")
    args = parser.parse_args()
    frozen = args.frozen_binary.resolve() if args.frozen_binary is not None else None
    with tempfile.TemporaryDirectory(prefix="tls-heap-") as tmp:
        work = Path(tmp)
        with Stack(work / "stack", tls=True) as stack:
            assert stack.broker_config.ca_der is not None
            flash = work / "client"
            flash.mkdir()
            (flash / "ca.der").write_bytes(stack.broker_config.ca_der.read_bytes())
            print("MQTT client alone, live heap in bytes (110 KB heap, from source):")
            print(f"{'run':>4} {'session':>12} {'connected':>10} {'connect peak':>13} {'after disconnect':>17} "
                  f"{'longest loop pause, ms':>23}")
            for i in range(args.samples):
                for over_tls in (False, True):
                    fig = client_figures(stack, flash, over_tls)
                    print(f"{i + 1:>4} {'TLS' if over_tls else 'plain TCP':>12} {fig['connected']:>10} "
                          f"{fig['connect_peak']:>13} {fig['after_disconnect']:>17} {fig['pause_ms']:>23}")
            baseline = export(args.baseline, work / "baseline")
            rows: list[tuple[str, Path, bool, Path | None]] = [
                (f"{args.baseline}, plain", baseline, False, None), ("this tree, plain", FIRMWARE_DIR, False, None),
                ("this tree, TLS", FIRMWARE_DIR, True, None)]
            if frozen is not None:
                rows += [("frozen, plain", FIRMWARE_DIR, False, frozen), ("frozen, TLS", FIRMWARE_DIR, True, frozen)]
            print("\nThe simulated button (compiled .mpy unless frozen, 110 KB heap), after an acked alert, bytes:")
            keys = ["acked_free", "acked_peak", "code", "free_after", "largest_free", "qstrs", "qstr_pools"]
            print(f"{'firmware, session':>20} " + " ".join(f"{k:>12}" for k in keys))
            for name, firmware, over_tls, binary in rows:
                fig = button_figures(stack, work, name, firmware, over_tls, binary)
                print(f"{name:>20} " + " ".join(f"{fig[k]:>12}" for k in keys))


if __name__ == "__main__":
    main()
