"""panic/seq.py under MicroPython: the seq counter never repeats, across reboots and full flash.

Each "boot" is a new MicroPython process on the same flash directory, so
nothing survives between boots except what the firmware wrote to flash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

BOOT = """
from panic.seq import SeqCounter
c = SeqCounter(block={block})
c.load({floor})
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
from panic.seq import SeqCounter
c = SeqCounter(block=4)
c.load(0)
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
