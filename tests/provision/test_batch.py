"""`panic-provision batch`: several simulated buttons from one CSV file, resumable."""

from __future__ import annotations

import json
from pathlib import Path

from tests.provision.conftest import MakeBlank, Site, provision_tool


def test_batch_registers_every_row_and_a_second_run_resumes(site: Site, blank_button: MakeBlank,
                                                            tmp_path: Path) -> None:
    buttons = [blank_button(f"b{i}") for i in range(3)]
    rows = []
    for i, b in enumerate(buttons):
        owner, premises = site.owner()
        port = b.console_path if i < 2 else "/dev/does-not-exist"
        rows.append(f"{owner},{premises},{port}")
    csv_file = tmp_path / "units.csv"
    csv_file.write_text("owner,premises,port\n" + "\n".join(rows) + "\n")
    args = ["--lang", "en", "batch", str(csv_file), "--gateway", site.url, "--broker", site.broker]
    first = provision_tool(*args, token=site.tech_token)
    assert first.code == 1, first.out + first.err  # the third row has no board
    assert "[#..] row 1/3" in first.out and "[###] row 3/3" in first.out
    assert "no serial port /dev/does-not-exist" in first.out
    summary = first.out.split("summary:")[1]
    assert summary.count("PASS") == 2 and summary.count("FAIL") == 1
    logged = [json.loads(line) for line in (tmp_path / "units.log").read_text().splitlines()]
    assert [e["status"] for e in logged] == ["ok", "ok", "failed"]
    for b in buttons[:2]:
        b.wait_for_indicator("idle", timeout=20)
    # the board for row 3 turns up: the same command does only what is left
    rows[2] = rows[2].replace("/dev/does-not-exist", str(buttons[2].console_path))
    csv_file.write_text("owner,premises,port\n" + "\n".join(rows) + "\n")
    second = provision_tool(*args, token=site.tech_token)
    assert second.code == 0, second.out + second.err
    assert second.out.split("summary:")[0].count("already done in the log, skipped") == 2
    buttons[2].wait_for_indicator("idle", timeout=20)
