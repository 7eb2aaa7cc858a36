"""panic/seq.py under MicroPython: the seq counter never repeats, across reboots and full flash.

Each "boot" is a new MicroPython process on the same flash directory, so
nothing survives between boots except what the firmware wrote to flash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

BOOT = """
from panic import boot
from panic.seq import SeqCounter
c = SeqCounter(block={block})
boot.load_seq(c, {floor})
print("seqs", " ".join(str(c.next()) for _ in range({count})))
print("fault", int(c.fault))
"""


def boot(run: Callable[..., Any], flash: Path, count: int, block: int = 8, floor: int = 0) -> tuple[list[int], str]:
    out = run(BOOT.format(block=block, floor=floor, count=count), cwd=flash).stdout
    seqs = [int(x) for line in out.splitlines() if line.startswith("seqs") for x in line.split()[1:]]
    return seqs, out


def test_seqs_never_repeat_across_reboots(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    issued: list[int] = []
    for count in (3, 8, 1, 20, 0, 5):
        seqs, _ = boot(run_micropython, tmp_path, count)
        issued += seqs
    assert issued == sorted(set(issued)), issued
    assert issued[0] == 1


def test_reservation_is_written_once_per_block(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    seqs, _ = boot(run_micropython, tmp_path, 3, block=8)
    assert seqs == [1, 2, 3]
    assert (tmp_path / "seq").read_text().strip() == "8"  # 1..8 reserved before 1 was used
    seqs, _ = boot(run_micropython, tmp_path, 6, block=8)
    assert seqs == [9, 10, 11, 12, 13, 14]  # 4..8 may have been used: skipped, never reused
    assert (tmp_path / "seq").read_text().strip() == "16"
    seqs, _ = boot(run_micropython, tmp_path, 9, block=8)
    assert seqs == list(range(17, 26))
    assert (tmp_path / "seq").read_text().strip() == "32"
    assert not list(tmp_path.glob("*.tmp"))


def test_resumes_above_the_outbox_floor(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "seq").write_text("8\n")
    seqs, _ = boot(run_micropython, tmp_path, 2, floor=40)
    assert seqs == [41, 42]


def test_interrupted_write_leaves_the_old_ceiling(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "seq").write_text("16\n")
    (tmp_path / "seq.tmp").write_text("9")  # power cut before the rename
    seqs, _ = boot(run_micropython, tmp_path, 1)
    assert seqs == [17]


def test_unreadable_file_is_a_fault_not_a_crash(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "seq").write_text("garbage")
    seqs, out = boot(run_micropython, tmp_path, 2, floor=7)
    assert seqs == [8, 9]
    assert any(line.startswith("E ") and "seq:" in line and "unreadable" in line for line in out.splitlines()), out
    assert (tmp_path / "seq").read_text().strip() == "15"


UNWRITABLE = """
import os
from panic import boot
from panic.seq import SeqCounter
c = SeqCounter(block=4)
boot.load_seq(c, 0)
print("seqs", c.next(), c.next())
os.mkdir("seq.tmp")  # the reservation's temp file can no longer be written
got = [c.next() for _ in range(6)]
print("seqs", " ".join(str(s) for s in got))
print("fault", int(c.fault), "ceiling", c.ceiling)
os.rmdir("seq.tmp")
got = [c.next() for _ in range(4)]
print("seqs", " ".join(str(s) for s in got))
print("fault", int(c.fault), "ceiling", c.ceiling)
"""


def test_unwritable_reservation_keeps_counting_in_ram(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """Refusing to number an SOS would lose it: numbering goes on from RAM, flagged as a fault."""
    out = run_micropython(UNWRITABLE, cwd=tmp_path).stdout
    lines = out.splitlines()
    seqs = [int(x) for line in lines if line.startswith("seqs") for x in line.split()[1:]]
    assert seqs == list(range(1, 13)), out
    faults = [line for line in lines if line.startswith("fault")]
    assert faults[0] == "fault 1 ceiling 4", out
    assert faults[1] == "fault 0 ceiling 12", out  # writable again: 9..12 reserved, fault cleared
    assert (tmp_path / "seq").read_text().strip() == "12"
    assert any(line.startswith("E ") and "seq: reserve failed" in line for line in lines), out


CAP = 2**53 - 1

AT_THE_CAP = """
from panic import boot
from panic.seq import SeqCounter
c = SeqCounter(block=64)
boot.load_seq(c, 0)
print("seqs", c.next(), c.next())
print("ceiling", c.ceiling, "fault", int(c.fault))
for _ in range(2):
    try:
        c.next()
        print("handed out past the cap")
    except OverflowError:
        print("exhausted fault", int(c.fault))
"""


def test_seq_stops_at_the_protocol_cap(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """Finding 3: seq is capped at 2^53-1; beyond it nothing is handed out (no repeat, no wrap)."""
    (tmp_path / "seq").write_text(f"{CAP - 2}\n")
    out = run_micropython(AT_THE_CAP, cwd=tmp_path).stdout
    lines = out.splitlines()
    assert f"seqs {CAP - 1} {CAP}" in lines, out
    assert f"ceiling {CAP} fault 0" in lines, out  # the reservation never goes beyond the cap
    assert lines.count("exhausted fault 1") == 2, out
    assert (tmp_path / "seq").read_text().strip() == str(CAP)
    assert any(line.startswith("E ") and "seq: exhausted" in line for line in lines), out


def test_a_ceiling_beyond_the_cap_is_damage(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "seq").write_text(f"{CAP + 1}\n")
    seqs, out = boot(run_micropython, tmp_path, 1, floor=5)
    assert seqs == [6], out
    assert any(line.startswith("E ") and "unreadable" in line for line in out.splitlines()), out


def test_huge_or_odd_seq_files_are_a_fault_not_a_crash(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    for content in (b"7" * 200_000, b"\xff\xfe12", b"-3"):
        (tmp_path / "seq").write_bytes(content)
        seqs, out = boot(run_micropython, tmp_path, 1, floor=9)
        assert seqs == [10], out
        assert any(line.startswith("E ") and "unreadable" in line for line in out.splitlines()), out
    (tmp_path / "seq").unlink()
    (tmp_path / "seq").mkdir()
    seqs, out = boot(run_micropython, tmp_path, 2, floor=9)
    assert seqs == [10, 11], out  # counted in RAM: the directory cannot be replaced
    assert "fault 1" in out.splitlines(), out
