"""`panic-sim gps-replay` against gpsd's decoding of real receiver captures (tests/data/nmea/).

The oracle is each capture's `.chk` file: gpsd's output interleaved with the
sentences it read. Each TPV gpsd printed is attributed to the epoch (UTC time
of the latest RMC/GGA/GNS/GLL before it); gpsd's verdict on an epoch is the
last TPV attributed to it (gpsd sometimes prints a position and then, on the
next sentence of the same epoch, mode 1: its last word is "no fix"). Positions
are compared, not dates (tests/data/nmea/README.md).

The replay must print a position for exactly the epochs where gpsd's verdict
has mode 2 or 3, in the same order, each within 1e-6 degrees of gpsd's. One
difference is expected and checked precisely: when a capture ends in the
middle of an epoch, gpsd (waiting for that receiver's end-of-epoch sentence)
prints nothing for it, while the firmware commits it once the receiver goes
quiet, as the replay's end of input does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "nmea"
CAPTURES = sorted(p.stem for p in DATA.glob("*.log"))
TIME_FIELD = {"RMC": 1, "GGA": 1, "GNS": 1, "GLL": 5}
NO_TPV = "no TPV"


def epoch_key(text: str) -> int:
    """hhmmss.sss as hhmmss and hundredths, rounded half up, as the firmware keeps it."""
    if not text:
        return -1
    return int((Decimal(text) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def gpsd_epochs(chk: Path) -> list[tuple[int, Any]]:
    """[(epoch, (lat, lon) | None for no fix | NO_TPV)] in the order gpsd met them."""
    epochs: list[list[Any]] = []
    for line in chk.read_text().splitlines():
        if line.startswith("$"):
            fields = line.split("*")[0].split(",")
            kind = fields[0][3:]
            if kind in TIME_FIELD and len(fields) > TIME_FIELD[kind]:
                key = epoch_key(fields[TIME_FIELD[kind]])
                if not epochs or epochs[-1][0] != key:
                    epochs.append([key, NO_TPV])
        elif line.startswith("{"):
            tpv = json.loads(line)
            if tpv["class"] == "TPV" and epochs:
                epochs[-1][1] = (tpv["lat"], tpv["lon"]) if tpv.get("mode", 0) >= 2 else None
    return [(key, verdict) for key, verdict in epochs]


def replay(path: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "gps-replay", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def by_epoch(rows: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Consecutive entries of one epoch merged, the last one kept."""
    merged: list[tuple[int, Any]] = []
    for key, value in rows:
        if merged and merged[-1][0] == key:
            merged[-1] = (key, value)
        else:
            merged.append((key, value))
    return merged


@pytest.mark.parametrize("name", CAPTURES)
def test_replay_agrees_with_gpsd(name: str) -> None:
    result, fixes = replay(DATA / f"{name}.log")
    assert result.returncode == 0, result.stderr
    ours = by_epoch([(epoch_key(f["utc"]), f) for f in fixes])
    epochs = gpsd_epochs(DATA / f"{name}.log.chk")
    theirs = by_epoch([(key, verdict) for key, verdict in epochs if verdict not in (None, NO_TPV)])
    assert theirs, "every capture has fixes"
    if len(ours) == len(theirs) + 1 and epochs[-1][1] == NO_TPV and ours[-1][0] == epochs[-1][0]:
        ours = ours[:-1]  # the capture's last epoch was cut short: gpsd never closed it (see the docstring)
    assert [key for key, _ in ours] == [key for key, _ in theirs]
    for (key, fix), (_, (lat, lon)) in zip(ours, theirs, strict=True):
        assert abs(Decimal(str(fix["lat"])) - Decimal(str(lat))) <= Decimal("1e-6"), (key, fix, lat)
        assert abs(Decimal(str(fix["lon"])) - Decimal(str(lon))) <= Decimal("1e-6"), (key, fix, lon)
        assert fix["fix"] in (2, 3) and fix["src"] == "gps"


def test_output_is_exact_decimal_text() -> None:
    result, fixes = replay(DATA / "nmea-fuzzy-cases.log")
    first = result.stdout.splitlines()[0]
    # 41° 34.49821229' = 41.5749702048.. and 93° 45.03351845' = 93.7505586408..: 7 decimals, rounded
    assert first.startswith('{"lat":41.5749702,"lon":-93.7505586,"acc":19,"src":"gps","age":0,"fix":3,"sats":9,'
                            '"hdop":1.00,'), first
    assert "sentences=28 rejected=0 fixes=14" in result.stderr
    assert len(fixes) == 14


def write(tmp_path: Path, text: bytes) -> Path:
    path = tmp_path / "capture.nmea"
    path.write_bytes(text)
    return path


def nmea(body: str) -> bytes:
    x = 0
    for b in body.encode():
        x ^= b
    return f"${body}*{x:02X}\r\n".encode()


GOOD = nmea("GNGGA,120000.00,0525.4371234,S,10515.4893817,E,1,09,0.8,12.0,M,5.0,M,,")


@pytest.mark.parametrize(("what", "text"), [
    ("garbage", b"# not a receiver\nhello world\n$$$\n,,,,*\n$GPGGA\n\n" + bytes(range(256)) + b"\n"),
    ("bad checksums", GOOD.replace(b"*", b"0*")),
    ("truncated sentences", GOOD[:40] + b"\n" + GOOD[:60] + GOOD[:20]),
    ("wrong baud", bytes((i * 37 + 11) % 256 for i in range(5000))),
    ("valid fix with zero satellites", nmea("GNGGA,120000.00,0525.4371,S,10515.4893,E,1,00,0.8,12.0,M,5.0,M,,")
     + nmea("GNRMC,120000.00,A,0525.4371,S,10515.4893,E,0.0,,010125,,,A")),
])
def test_bad_input_gives_no_position(tmp_path: Path, what: str, text: bytes) -> None:
    result, fixes = replay(write(tmp_path, text))
    assert result.returncode == 0, result.stderr
    assert fixes == [], what
    assert "fixes=0" in result.stderr


def test_bad_input_does_not_hide_the_good_sentences_around_it(tmp_path: Path) -> None:
    text = bytes((i * 37 + 11) % 256 for i in range(2000)) + b"\n" + GOOD + b"$GPRMC,1200" + b"\n" + GOOD.replace(
        b"120000.00", b"120001.00").replace(GOOD[-4:-2], b"00")
    result, fixes = replay(write(tmp_path, text))
    # The noise, the truncated RMC and the copy with a wrong checksum are dropped; the good GGA is read.
    assert [(f["lat"], f["lon"], f["utc"]) for f in fixes] == [(-5.4239521, 105.2581564, "120000.00")]
    assert "rejected=0" not in result.stderr


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result, fixes = replay(tmp_path / "absent.nmea")
    assert result.returncode == 2 and fixes == []
    assert "no such file" in result.stderr


def test_a_line_longer_than_the_heap_is_garbage_not_a_crash(tmp_path: Path) -> None:
    """A capture with a huge stretch and no line end (a binary log, a receiver at the wrong baud that never
    sends a newline) is dropped like any garbage; the sentences after it still give their fix."""
    huge = b"$GPGGA," + bytes(48 + i % 10 for i in range(200_000))
    result, fixes = replay(write(tmp_path, huge + b"\n# a comment " + b"x" * 100_000 + b"\n" + GOOD))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert [(f["lat"], f["lon"]) for f in fixes] == [(-5.4239521, 105.2581564)]
    assert "lines=2 " in result.stderr  # the huge line and the sentence; the comment is skipped


def test_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    result, fixes = replay(tmp_path)
    assert result.returncode == 2 and fixes == []
    assert "not a file" in result.stderr


def test_standard_input_is_read_as_a_capture() -> None:
    """`-` reads the receiver's sentences from standard input (a serial port piped in, a capture on the fly)."""
    capture = DATA / "garmin-10x.log"
    piped = subprocess.run([sys.executable, "-m", "simulator.cli", "gps-replay", "-"], cwd=ROOT,
                           input=capture.read_text(), capture_output=True, text=True, timeout=120)
    _, fixes = replay(capture)
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(line) for line in piped.stdout.splitlines()] == fixes and len(fixes) == 9
