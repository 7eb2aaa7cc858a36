"""The GPS in the running button: a receiver capture on its virtual UART, the alert's `loc`, dispatch's location.

The real firmware (compiled, `-X heapsize=110K`) with its GPS task, the real
broker and gateway (simulator.stack.Stack), and a dispatch consumer. The
expected coordinates are computed here from the capture's own text with exact
fractions, independently of the firmware's long division.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from simulator import cli
from simulator.button import SimulatedButton
from simulator.stack import DEMO_OWNER, MqttListener, Stack
from tests.contract import assert_valid

NMEA_DIR = Path(__file__).resolve().parents[1] / "data" / "nmea"
CAPTURE = NMEA_DIR / "neo-m8n.log"
# repeat_ms 0: the tests press twice within the default 30 s, which would coalesce the second hold.
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "hold_ms": 1500, "repeat_ms": 0}
HOLD_MS = 1800


@pytest.fixture
def button(stack: Stack, tmp_path: Path) -> Iterator[SimulatedButton]:
    device_id = "pb-0badc0ffee09"
    issued = stack.register_button(device_id)
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id=device_id, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port, **FAST)
    simulated = SimulatedButton(flash, log_file=tmp_path / "button.log")
    simulated.start()
    try:
        simulated.wait_for_indicator("idle", timeout=30)
        yield simulated
    finally:
        simulated.stop()


def e7(text: str, hemisphere: str) -> int:
    """NMEA d..dmm.mmmm + hemisphere to 1e-7 degrees, rounded to nearest, halves away from zero."""
    whole, _, decimals = text.partition(".")
    minutes = Fraction(int(whole[-2:] + decimals), 10 ** len(decimals))
    value = (int(whole[:-2]) + minutes / 60) * 10**7
    rounded = int(value + Fraction(1, 2))
    return -rounded if hemisphere in "SW" else rounded


def last_epoch(path: Path) -> tuple[list[str], int, int]:
    """The capture's last RMC and GGA (its final fix) and their position in 1e-7 degrees."""
    lines = [line.strip() for line in path.read_text(encoding="ascii").splitlines()]
    rmc = next(line for line in reversed(lines) if line[3:6] == "RMC")
    gga = next(line for line in reversed(lines) if line[3:6] == "GGA")
    f = gga.split(",")
    assert rmc.split(",")[1] == f[1], "the capture ends with an RMC and a GGA of the same epoch"
    return [rmc, gga], e7(f[2], f[3]), e7(f[4], f[5])


def press_and_dispatch(button: SimulatedButton, dispatch: MqttListener) -> dict[str, Any]:
    """Hold the button; the dispatch record of the alert it raised."""
    mark = button.mark()
    button.press(HOLD_MS)
    return dispatched(dispatch, button.wait_for_log(r"alert: raised seq=(\d+) ", since=mark).group(1), 20)


def dispatched(dispatch: MqttListener, seq: str, timeout: float) -> dict[str, Any]:
    """The dispatch record (checked against its schema) of alert `seq`, skipping other buttons' and revisions."""
    while True:
        _topic, payload = dispatch.next(timeout=timeout, topic_suffix="/alerts")
        record = json.loads(payload)
        assert_valid("dispatch-alert.json", record)
        if record["alert_id"].endswith(f":{seq}"):
            return record


class Receiver:
    """A receiver that keeps reporting the same epoch every half second, until stopped."""

    def __init__(self, button: SimulatedButton, epoch: list[str]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(button, epoch), daemon=True)

    def _run(self, button: SimulatedButton, epoch: list[str]) -> None:
        while not self._stop.wait(0.5):  # the receiver's own pace, not a synchronisation
            button.feed_nmea(epoch)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_alerts_carry_the_exact_gps_position_then_the_last_fix_with_its_age(
    button: SimulatedButton, dispatch: MqttListener
) -> None:
    epoch, lat, lon = last_epoch(CAPTURE)
    assert button.feed_nmea(CAPTURE.read_text(encoding="ascii").splitlines()) > 200
    button.wait_for_log(r"gps: fix dim=", timeout=15)
    with Receiver(button, epoch):  # still talking: the fix stays current
        record = press_and_dispatch(button, dispatch)
    where = record["location"]
    assert where["source"] == "gps" and where["age_s"] <= 1, where
    assert (round(where["lat"] * 10**7), round(where["lon"] * 10**7)) == (lat, lon)
    assert where["accuracy_m"] == 20  # HDOP 1.05 x 19 m, rounded up

    time.sleep(4.5)  # the receiver goes silent (the scenario itself, not a wait for an event)
    later = press_and_dispatch(button, dispatch)
    stale = later["location"]
    assert stale["source"] == "last_gps", stale
    assert stale["age_s"] >= 5 and stale["age_s"] > where["age_s"], (where, stale)
    assert (round(stale["lat"] * 10**7), round(stale["lon"] * 10**7)) == (lat, lon)
    assert button.gps_powered, "an alert keeps the receiver on"


def test_without_a_fix_loc_is_null_and_the_gateway_falls_back_to_the_premises(
    button: SimulatedButton, dispatch: MqttListener
) -> None:
    record = press_and_dispatch(button, dispatch)
    premises = DEMO_OWNER["premises"][0]
    assert record["location"] == {"lat": float(premises["lat"]), "lon": float(premises["lon"]),
                                  "accuracy_m": None, "source": "premises", "age_s": None}
    assert button.gps_powered, "searching for a first fix: on since boot"


def garbage(seed: int) -> bytes:
    """What a broken or misconfigured receiver sends: nothing in it is a position."""
    rng = random.Random(seed)
    good_rmc = "GNRMC,171948.00,A,4404.13902,N,12118.85371,W,0.059,,180315,,,A"
    good_gga = "GNGGA,171948.00,4404.13902,N,12118.85371,W,1,12,1.05,1139.4,M,-21.3,M,,"

    def sentence(body: str, checksum: int | None = None) -> bytes:
        x = 0
        for c in body.encode():
            x ^= c
        return b"$%s*%02X\r\n" % (body.encode(), x if checksum is None else checksum)

    parts = [
        bytes(rng.getrandbits(8) for _ in range(3000)),  # noise, with '$', CR and LF in it by chance
        sentence(good_rmc, checksum=0x00) + sentence(good_gga, checksum=0xFF),  # bad checksums
        sentence(good_rmc)[:30] + sentence(good_gga)[:41],  # truncated: a new '$' before the line ended
        bytes((b << 1 | 0x81) & 0xFF for b in sentence(good_rmc) * 8),  # the same receiver at the wrong baud
        # A fix claimed with zero satellites, and an RMC "A" vetoed by its epoch's GGA quality 0.
        sentence("GNGGA,171950.00,4404.13902,N,12118.85371,W,1,00,1.05,1139.4,M,-21.3,M,,"),
        sentence("GNRMC,171951.00,A,4404.13902,N,12118.85371,W,0.059,,180315,,,A"),
        sentence("GNGGA,171951.00,4404.13902,N,12118.85371,W,0,08,1.05,1139.4,M,-21.3,M,,"),
        b"$GNGGA,171952.00,4404.1x902,N,12118.85371,W,1,12,1.05,1139.4,M,-21.3,M,,*00\r\n",  # not a number
        b"\xff" * 500 + b"$" * 200 + b"\r\n" * 50,
    ]
    return b"".join(parts)


def test_gps_garbage_crashes_nothing_and_gives_no_position(
    button: SimulatedButton, dispatch: MqttListener
) -> None:
    mark = button.mark()
    button.gps(garbage(seed=8))
    record = press_and_dispatch(button, dispatch)
    assert record["location"]["source"] == "premises", record["location"]
    assert button.running and button.reboots == 0
    assert not any("Error" in line or "Traceback" in line for line in button.lines[mark:]), button.tail()
    # And the parser is still in step: the next good epochs give the right fix.
    epoch, lat, lon = last_epoch(CAPTURE)
    button.feed_nmea(CAPTURE.read_text(encoding="ascii").splitlines())
    button.wait_for_log(r"gps: fix dim=", timeout=15)
    with Receiver(button, epoch):
        fixed = press_and_dispatch(button, dispatch)
    where = fixed["location"]
    assert where["source"] == "gps" and (round(where["lat"] * 10**7), round(where["lon"] * 10**7)) == (lat, lon)


def test_panic_sim_run_refuses_a_capture_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`panic-sim run --nmea FILE` with a missing file: a clear error before anything starts."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--flash", str(tmp_path / "flash"), "--nmea", str(tmp_path / "missing.nmea")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "cannot read the NMEA capture" in err and "missing.nmea" in err, err
    assert not (tmp_path / "flash").exists()


def test_panic_sim_run_replays_a_capture_into_the_running_button(stack: Stack, tmp_path: Path) -> None:
    """The CLI's --nmea: the button gets a fix from the file while it runs."""
    issued = stack.register_button("pb-0badc0ffee0a")
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id="pb-0badc0ffee0a", device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port)
    capture = tmp_path / "short.nmea"
    capture.write_text("# one epoch of neo-m8n.log\n" + "\n".join(last_epoch(CAPTURE)[0]) + "\n")
    log = tmp_path / "console.log"
    process = subprocess.Popen([sys.executable, "-m", "simulator.cli", "run", "--flash", str(flash), "--nmea",
                                str(capture), "--log", str(log)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # ends when the process does: a timeout of its own below
            seen.append(line)
            if "gps: fix dim=3 sats=12 hdop=105" in line:
                break
        else:
            pytest.fail("no fix from the replayed capture:\n" + "".join(seen))
    finally:
        process.communicate("quit\n", timeout=30)
