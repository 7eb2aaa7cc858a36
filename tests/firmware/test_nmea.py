"""panic/nmea.py under MicroPython: exact coordinates, talkers, checksums, validity, bad input, no allocation."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

Run = Callable[..., Any]

# Feeds the bytes in odd-sized chunks (a UART read never lines up with sentences), then ends
# the last cycle as a quiet receiver would. Prints each committed fix and, last, the counters.
SCRIPT = """
import json
from panic.nmea import Nmea
p = Nmea()
data = %r
seen = 0
def report():
    global seen
    if p.fixes != seen:
        seen = p.fixes
        print(json.dumps({"lat": p.lat, "lon": p.lon, "dim": p.dim, "sats": p.sats, "hdop": p.hdop, "utc": p.utc}))
i = 0
while i < len(data):
    n = min(7, len(data) - i)
    p.feed(data[i:i + n], n)
    report()
    i += n
p.end_cycle()
report()
print(json.dumps({"end": 1, "valid": p.valid, "sentences": p.sentences, "rejected": p.rejected}))
"""


def sentence(body: str, checksum: int | None = None) -> bytes:
    """`$body*hh` CR LF with the right checksum (or the one given)."""
    x = 0
    for b in body.encode():
        x ^= b
    return f"${body}*{x if checksum is None else checksum:02X}\r\n".encode()


def parse(run: Run, data: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out = run(SCRIPT % data).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    return rows[:-1], rows[-1]


def exact_e7(field: str, hemisphere: str) -> int:
    """What the firmware must give: ddmm.mmm... / 60 in 1e-7 degrees, rounded half away from zero."""
    whole, _, frac = field.partition(".")
    minutes = Fraction(int(whole) % 100) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    e7 = (int(whole) // 100 + minutes / 60) * 10_000_000
    rounded = int(e7 + Fraction(1, 2))  # e7 >= 0: floor(x + 1/2) is half away from zero
    return -rounded if hemisphere in "SW" else rounded


def float32_e7(field: str, hemisphere: str) -> int:
    """The same through ESP32-style single-precision floats (what the firmware must not do)."""
    whole, _, frac = field.partition(".")
    f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]  # noqa: E731
    degrees = f32(int(whole) // 100 + f32(f32(float(f"{int(whole) % 100}.{frac or 0}")) / 60))
    e7 = round(degrees * 1e7)
    return -e7 if hemisphere in "SW" else e7


def gga(lat: str, ns: str, lon: str, ew: str, time: str = "120000.00", quality: str = "1", sats: str = "08",
        hdop: str = "0.9", alt: str = "12.0", talker: str = "GP") -> bytes:
    return sentence(f"{talker}GGA,{time},{lat},{ns},{lon},{ew},{quality},{sats},{hdop},{alt},M,5.0,M,,")


def rmc(lat: str, ns: str, lon: str, ew: str, time: str = "120000.00", status: str = "A", mode: str = "A",
        talker: str = "GP") -> bytes:
    return sentence(f"{talker}RMC,{time},{status},{lat},{ns},{lon},{ew},0.1,,010125,,,{mode}")


# Coordinates with 7 (and more) decimals of minutes, and the rounding edges.
VECTORS = [
    ("0525.4371234", "S", "10515.4893817", "E"),  # Bandar Lampung, 7 decimals
    ("4404.1406637", "N", "12118.8548153", "W"),
    ("4134.49821229", "N", "09345.03351845", "W"),  # 8 decimals (Trimble RTK)
    ("0000.0000030", "N", "00000.0000029", "E"),  # exactly half a unit (rounds away from zero) / just below
    ("0000.0000030", "S", "00000.0000030", "W"),  # the same south and west: away from zero is more negative
    ("8959.9999999", "N", "17959.9999999", "E"),  # rounds up across a whole degree
    ("1234.5", "N", "12345", "E"),  # few or no decimals
    ("934.5678", "N", "934.5678", "W"),  # degrees not zero-padded
]


def test_exact_conversion_without_floats(run_micropython: Run) -> None:
    data = b"".join(rmc(lat, ns, lon, ew, time=f"1200{i:02d}.00") for i, (lat, ns, lon, ew) in enumerate(VECTORS))
    fixes, end = parse(run_micropython, data)
    assert [(f["lat"], f["lon"]) for f in fixes] == [(exact_e7(a, b), exact_e7(c, d)) for a, b, c, d in VECTORS]
    assert end["rejected"] == 0
    # The first vector is one single-precision floats get wrong: the exact path is needed.
    lat, ns, lon, ew = VECTORS[0]
    assert (float32_e7(lat, ns), float32_e7(lon, ew)) != (exact_e7(lat, ns), exact_e7(lon, ew))
    # By hand: 25.4371234 / 60 = 0.42395205666.. and 15.4893817 / 60 = 0.25815636166..
    assert fixes[0]["lat"] == -54239521 and fixes[0]["lon"] == 1052581564


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD", "GB"])
def test_every_constellation_talker_is_read(run_micropython: Run, talker: str) -> None:
    fixes, _ = parse(run_micropython, gga("0525.4371234", "S", "10515.4893817", "E", talker=talker))
    assert len(fixes) == 1 and fixes[0]["lat"] == -54239521


def test_other_talkers_and_proprietary_sentences_are_ignored(run_micropython: Run) -> None:
    data = gga("0525.4371", "S", "10515.4893", "E", talker="XX") + sentence("PUBX,00,120000.00,0525.4371,S")
    fixes, end = parse(run_micropython, data)
    assert fixes == [] and end["sentences"] == 0


def test_checksums(run_micropython: Run) -> None:
    bad = sentence("GPGGA,120000.00,0525.4371,S,10515.4893,E,1,08,0.9,12.0,M,5.0,M,,", checksum=0x00)
    no_checksum = b"$GPGGA,120002.00,0625.4371,S,10515.4893,E,1,08,0.9,12.0,M,5.0,M,,\r\n"
    good = gga("0525.4371", "S", "10515.4893", "E", time="120001.00")
    lower = next(s for s in (gga("0525.4371", "S", "10515.4893", "E", time=f"1200{t:02d}.00") for t in range(3, 60))
                 if s[-4:-2].isalpha() or s[-3:-2].isalpha())
    lower = lower[:-4] + lower[-4:-2].lower() + b"\r\n"  # lower-case hex digits are accepted
    fixes, end = parse(run_micropython, bad + no_checksum + good + lower)
    assert [f["utc"] for f in fixes] == [12000100, int(lower[7:13]) * 100]
    assert end["rejected"] == 2


@pytest.mark.parametrize(("what", "data"), [
    ("RMC status V", rmc("0525.4371", "S", "10515.4893", "E", status="V")),
    ("RMC mode N", rmc("0525.4371", "S", "10515.4893", "E", mode="N")),
    ("GGA quality 0", gga("0525.4371", "S", "10515.4893", "E", quality="0")),
    ("GGA simulation", gga("0525.4371", "S", "10515.4893", "E", quality="8")),
    ("GGA manual input", gga("0525.4371", "S", "10515.4893", "E", quality="7")),
    ("GGA zero satellites", gga("0525.4371", "S", "10515.4893", "E", sats="00")),
    ("GLL status V", sentence("GPGLL,0525.4371,S,10515.4893,E,120000.00,V,N")),
    ("GNS mode N", sentence("GNGNS,120000.00,0525.4371,S,10515.4893,E,NNN,08,0.9,12.0,5.0,,")),
    ("GNS simulator", sentence("GNGNS,120000.00,0525.4371,S,10515.4893,E,SS,08,0.9,12.0,5.0,,")),
    ("null island", rmc("0000.0000", "N", "00000.0000", "E")),
    ("RMC valid, GGA zero satellites in the same epoch",
     rmc("0525.4371", "S", "10515.4893", "E") + gga("0525.4371", "S", "10515.4893", "E", sats="0")),
    ("GGA valid, RMC void in the same epoch",
     gga("0525.4371", "S", "10515.4893", "E") + rmc("0525.4371", "S", "10515.4893", "E", status="V")),
    ("minutes of 60", rmc("0560.0000", "S", "10515.4893", "E")),
    ("latitude over 90", rmc("9100.0000", "N", "10515.4893", "E")),
    ("no hemisphere", rmc("0525.4371", "", "10515.4893", "E")),
])
def test_no_fix_unless_the_receiver_says_valid(run_micropython: Run, what: str, data: bytes) -> None:
    fixes, end = parse(run_micropython, data)
    assert fixes == [], what
    assert end["valid"] is False


def test_valid_sentences_of_each_kind(run_micropython: Run) -> None:
    data = (
        sentence("GPGLL,0525.4371,S,10515.4893,E,120000.00,A")  # NMEA 2.x GLL: no mode field
        + sentence("GNGNS,120001.00,0525.4372,S,10515.4893,E,NA,07,1.3,12.0,5.0,,")
        + rmc("0525.4373", "S", "10515.4893", "E", time="120002.00", mode="")
        + gga("0525.4374", "S", "10515.4893", "E", time="120003.00", alt="")
    )
    fixes, _ = parse(run_micropython, data)
    assert [f["lat"] for f in fixes] == [exact_e7(f"0525.437{i}", "S") for i in range(1, 5)]
    assert [(f["dim"], f["sats"], f["hdop"]) for f in fixes] == [(2, -1, -1), (3, 7, 130), (2, -1, -1), (2, 8, 90)]


def test_an_epoch_merges_its_sentences(run_micropython: Run) -> None:
    def epoch(time: str) -> bytes:
        return (
            rmc("0525.4371", "S", "10515.4893", "E", time=time)
            + gga("0525.4371", "S", "10515.4893", "E", time=time, sats="09", hdop="1.26", alt="")
            + sentence("GNGSA,A,3,01,02,03,04,,,,,,,,,1.9,1.2,1.5")
            + sentence("GNGSA,A,3,65,66,,,,,,,,,,,1.9,1.2,1.5")
            + sentence("GPGSV,1,1,01,01,40,083,46")
        )

    fixes, _ = parse(run_micropython, epoch("120000.00") + epoch("120001.00"))
    # One fix per epoch; dimension from GSA (GGA had no altitude), satellites and HDOP from GGA.
    assert [(f["utc"], f["dim"], f["sats"], f["hdop"]) for f in fixes] == [(12000000, 3, 9, 126), (12000100, 3, 9, 126)]


def test_a_stuck_clock_still_ends_epochs(run_micropython: Run) -> None:
    # A receiver repeating one time: a second RMC starts a new epoch all the same.
    data = rmc("0525.4371", "S", "10515.4893", "E") + rmc("0525.4372", "S", "10515.4893", "E")
    fixes, _ = parse(run_micropython, data)
    assert [f["lat"] for f in fixes] == [exact_e7("0525.4371", "S"), exact_e7("0525.4372", "S")]


def test_bad_input_is_dropped_and_the_stream_recovers(run_micropython: Run) -> None:
    rng = random.Random(8)
    noise = bytes(rng.randrange(256) for _ in range(3000))  # a receiver at the wrong baud: binary noise
    good = rmc("0525.4371", "S", "10515.4893", "E", time="120100.00")
    truncated = good[:30]  # cut off mid-sentence: the next '$' starts over
    garbage = b"hello\r\n$$$,,,*\r\n$GPRMC\r\n$GPGGA,,,,,,,,,,,,,,*56\r\n" + b"$GP" + b"A" * 300 + b"\r\n"
    fields = b"$GPRMC,120000.00,A,05x5.4371,S,10515.4893,E,0.1,,010125,,,A*00\r\n"
    fixes, end = parse(run_micropython, noise + truncated + garbage + fields + noise[:100] + b"\r\n" + good)
    assert [(f["lat"], f["lon"]) for f in fixes] == [(exact_e7("0525.4371", "S"), exact_e7("10515.4893", "E"))]
    assert end["rejected"] > 3


def test_parsing_allocates_nothing(run_micropython: Run) -> None:
    epoch = (
        rmc("0525.4371234", "S", "10515.4893817", "E") + gga("0525.4371234", "S", "10515.4893817", "E")
        + sentence("GNGSA,A,3,01,02,03,04,,,,,,,,,1.9,1.2,1.5") + sentence("GPGSV,1,1,01,01,40,083,46")
    )
    script = f"""
import gc
from panic.nmea import Nmea
p = Nmea()
data = {epoch!r}
noise = bytes(range(256))
p.feed(data, len(data))  # once before measuring: a first call may set up what it keeps
p.feed(noise, len(noise))
p.end_cycle()
def measure():  # locals, not globals: a new global would grow the module's dict
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(20):
        p.feed(data, len(data))
        p.feed(noise, len(noise))
        p.end_cycle()
    return gc.mem_alloc() - before
print("allocated", measure(), "fixes", p.fixes)
"""
    out = run_micropython(script).stdout.split()
    assert out == ["allocated", "0", "fixes", "21"], out  # 21: each epoch ends at the next one
