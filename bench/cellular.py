"""Press → dispatch over Wi-Fi, emulated cellular data and the SMS path, side by side in one run.

    .venv/bin/python bench/cellular.py [--presses N] [--sms-presses N] [--sms-delay-s S] [--data-delay-ms MS]

One stack (Mosquitto with the project's config, the gateway on SQLite with its
SMS ingress on an emulated SIM800L, PANIC_SMS_PORT), the real firmware under
`micropython -X heapsize=110K` with its modem UART on an emulated A7670E
(simulator/smspath.py). Each latency is from the moment the hold completes
(the firmware raises the alert) to the enriched alert at a dispatch subscriber.

- **Wi-Fi** (the baseline): the button's Wi-Fi is the host's loopback.
- **SMS**: the same button with its Wi-Fi cut; the alert waits `sms_after_s`
  (5 s here, the configuration's minimum; 30 s by default), then goes as an SMS
  that the emulated network delivers after `--sms-delay-s` (default 7 s, a
  field figure: see docs/benchmarks.md, "Cellular and SMS"); the gateway's ack SMS
  takes as long back (also measured: press → the button's indicator `received`).
- **Cellular data**: a second button with no Wi-Fi and an APN: the real AT
  dialogue up to CONNECT, then (PPP is not emulated) its sockets go through a
  proxy holding every chunk `--data-delay-ms` each way (default 50 ms, an
  assumption: docs/benchmarks.md).

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.button import SimulatedButton
from simulator.linkproxy import LinkProxy
from simulator.smspath import SmsPath
from simulator.stack import MqttListener, Stack

HOLD_MS = 2000
SMS_AFTER_S = 5
COMMON: dict[str, Any] = {"hold_ms": HOLD_MS, "repeat_ms": 0, "cancel_window_s": 0, "reconnect_min_ms": 200,
          "reconnect_max_ms": 2000, "sms_after_s": SMS_AFTER_S}


def presses(button: SimulatedButton, dispatch: MqttListener, count: int, network: str, timeout: float) -> list[float]:
    """`count` presses over the data link `network`, each waited for to `received`: the latencies."""
    latencies = []
    for _ in range(count):
        latency, seen, _ = press_to_dispatch(button, dispatch, timeout)
        assert seen == network, seen
        latencies.append(latency)
        button.wait_for_indicator("received", timeout=timeout)
    return latencies


def press_to_dispatch(button: SimulatedButton, dispatch: MqttListener, timeout: float,
                      after: Callable[[], None] | None = None) -> tuple[float, str, float | None]:
    """(seconds from the hold's end to the dispatch alert, its network, seconds to the indicator `received`).

    The press runs in a thread, so the alert's arrival is taken the moment it comes (first revision only)."""
    dispatch.drain(0.3)  # revisions of the alert before (receipts, escalations)
    mark = button.mark()
    start = time.monotonic()
    presser = threading.Thread(target=button.press, args=(HOLD_MS + 300,))
    presser.start()
    while True:
        _topic, payload = dispatch.next(timeout, "/dispatch/alerts")
        arrived = time.monotonic()
        record = json.loads(payload)
        if record["rev"] == 1:
            break
    presser.join()
    seq = int(button.wait_for_log(r"alert: raised seq=(\d+)", since=mark).group(1))
    assert record["alert_id"].endswith(f":{seq}"), (record["alert_id"], seq)
    received = None
    if after is not None:
        after()
        received = time.monotonic() - start - HOLD_MS / 1000  # polled: an upper bound
    return arrived - start - HOLD_MS / 1000, record["device"]["network"], received


def row(name: str, values: list[float], note: str = "") -> str:
    if not values:
        return f"| {name} | - | - | - | {note} |"
    return (f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | "
            f"{note}{' ' if note else ''}(n={len(values)}) |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=5, help="presses over Wi-Fi and over cellular data")
    parser.add_argument("--sms-presses", type=int, default=3)
    parser.add_argument("--sms-delay-s", type=float, default=7.0, help="SMS delivery time, each way")
    parser.add_argument("--data-delay-ms", type=float, default=50.0, help="cellular data latency, each way")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"wifi": [], "sms": [], "sms_received": [], "cell": []}
    cell_note = ""
    with tempfile.TemporaryDirectory() as tmp, SmsPath(args.sms_delay_s) as path, \
            Stack(Path(tmp) / "stack", gateway_env=path.gateway_env()) as stack:
        path.wait_gateway_ready()
        dispatch = stack.dispatch()
        button = path.button(stack, Path(tmp) / "flash-wifi", "pb-00000000ce11", log_file=Path(tmp) / "wifi.log",
                             **COMMON)
        with button:
            button.wait_for_indicator("idle", timeout=60)
            results["wifi"] = presses(button, dispatch, args.presses, "wifi", 30)
            button.wifi(False)
            button.wait_for_log(r"link: .*lost|link: disconnected", timeout=30)
            for _ in range(args.sms_presses):
                latency, network, received = press_to_dispatch(
                    button, dispatch, 180, lambda: button.wait_for_indicator("received", timeout=180))
                assert network == "sms", network
                results["sms"].append(latency)
                results["sms_received"].append(received or 0.0)
        try:
            with LinkProxy(stack.broker_config.host, stack.broker_config.port,
                           delay_s=args.data_delay_ms / 1000) as proxy:
                cell = path.button(stack, Path(tmp) / "flash-cell", "pb-00000000ce12", wifi=False, apn="internet",
                                   broker_port=proxy.port, sim_number=None, log_file=Path(tmp) / "cell.log",
                                   **COMMON)
                with cell:
                    cell.wait_for_indicator("idle", timeout=120)
                    results["cell"] = presses(cell, dispatch, args.presses, "cell", 60)
        except Exception as exc:  # the cellular data bearer not there (or failing): said, not hidden
            cell_note = f"not benched: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        dispatch.close()
    print(f"press -> dispatch (s), hold end to the enriched alert; SMS each way {args.sms_delay_s:g} s, "
          f"cellular data {args.data_delay_ms:g} ms each way, sms_after_s {SMS_AFTER_S}")
    print("| path | median | min | max | note |")
    print("| --- | --- | --- | --- | --- |")
    print(row("Wi-Fi (baseline)", results["wifi"]))
    print(row("cellular data (emulated)", results["cell"], cell_note))
    print(row("SMS: press -> dispatch", results["sms"], f"includes sms_after_s = {SMS_AFTER_S} s;"))
    print(row("SMS: press -> button 'received'", results["sms_received"], "the ack SMS back;"))
    print(row("SMS after sms_after_s", [v - SMS_AFTER_S for v in results["sms"]],
              "what the SMS itself takes;"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
