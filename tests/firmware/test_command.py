"""panic/command.py under MicroPython: the command vectors (protocol/vectors/commands.json), the
result bodies, and the stored cseq. End to end (real broker, real gateway) in tests/simulator/test_commands.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import PROTOCOL

COMMANDS = PROTOCOL / "vectors" / "commands.json"

# One vector per line as JSON; prints "<name> ok" or "<name> <reason>".
CHECK_SCRIPT = """
import binascii, json
from panic.command import check, Rejected
from panic.sign import Signer
s = Signer(binascii.unhexlify(KEY))
with open("vectors.txt") as f:
    for line in f:
        v = json.loads(line)
        try:
            c = check(s, v["topic"], DEV, v["payload"].encode(), v["last_cseq"], v["utc"])
            print(v["name"], "ok", c["cseq"], c["cmd"])
        except Rejected as e:
            print(v["name"], e.args[0], e.args[1]["cseq"] if len(e.args) > 1 else "-")
"""

RESULT_SCRIPT = """
import binascii, json
from panic.command import result
with open("vectors.txt") as f:
    for line in f:
        v = json.loads(line)
        a = v["args"]
        print(v["name"], binascii.hexlify(result(DEV, a[0], a[1], a[2], a[3], a[4], a[5])).decode())
"""

CSEQ_SCRIPT = """
from panic.command import last_cseq, Rejected
for content in (None, b"41\\n", b"garbage", b"9" * 40):
    if content is not None:
        with open("cseq", "wb") as f:
            f.write(content)
    try:
        print("cseq", last_cseq())
    except Rejected as e:
        print("cseq", e.args[0])
"""


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COMMANDS.read_text())
    return data


def _run(run_micropython: Callable[..., Any], tmp_path: Path, script: str, rows: list[dict[str, Any]]) -> list[str]:
    data = _load()
    (tmp_path / "vectors.txt").write_text("".join(json.dumps(row) + "\n" for row in rows))
    prologue = f"KEY = {data['device']['key_hex']!r}\nDEV = {data['device']['id']!r}\n"
    lines: list[str] = run_micropython(prologue + script, cwd=tmp_path).stdout.splitlines()
    return lines


def test_every_command_vector_gets_its_verdict(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    vectors = _load()["vectors"]
    reasons = {v["reason"] for v in vectors}
    assert {None, "no_sig", "bad_sig", "bad_json", "bad_field", "dev_mismatch", "replay", "expired", "unknown_cmd",
            "bad_args", "out_of_range"} <= reasons
    lines = _run(run_micropython, tmp_path, CHECK_SCRIPT, vectors)
    got = {line.split()[0]: line.split()[1:] for line in lines}
    assert set(got) == {v["name"] for v in vectors}
    for v in vectors:
        verdict = got[v["name"]]
        if v["reason"] is None:
            body = json.loads(v["payload"])
            assert verdict == ["ok", str(body["cseq"]), body["cmd"]], v["name"]
        else:
            assert verdict[0] == v["reason"], (v["name"], verdict)
            if v["reason"] in ("replay", "expired", "unknown_cmd", "bad_args", "out_of_range", "dev_mismatch"):
                # past the type checks, a rejection names the command's cseq (the gateway matches it up)
                assert verdict[1] == str(json.loads(v["payload"])["cseq"]), v["name"]


def test_result_bodies_are_exactly_the_vectors(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    results = _load()["results"]
    lines = _run(run_micropython, tmp_path, RESULT_SCRIPT, results)
    got = dict(line.split() for line in lines)
    for r in results:
        assert bytes.fromhex(got[r["name"]]).decode() == r["body"], r["name"]


def test_the_stored_cseq(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """No file: nothing accepted yet. A damaged one refuses every command rather than accept old ones."""
    lines = _run(run_micropython, tmp_path, CSEQ_SCRIPT, [])
    assert [line for line in lines if line.startswith("cseq")] == ["cseq 0", "cseq 41", "cseq failed", "cseq failed"]
    assert [line.split(" ", 2)[2] for line in lines if line.startswith("E ")] == ["cmd: cseq unreadable"] * 2


LOCATE_SCRIPT = """
from panic import command

class Gps:  # the GPS task's object, as the alerts hold it (panic/gps.py: loc(uptime_ms))
    def __init__(self, fix):
        self.fix = fix
    def loc(self, now):
        return self.fix

class Alerts:
    pass

class App:
    pass

app = App()
app.alerts = Alerts()
print("none", command.loc(app))
for fix in (None, (-54291234, 1052612345, 6, "gps", 1)):
    app.alerts.gps = Gps(fix)
    print("gps", command.loc(app))
"""


def test_locate_answers_the_fix_the_alerts_would_carry(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """The hook into the GPS: no GPS, no fix -> null (and logged); a fix -> an alert's `loc` text."""
    lines = _run(run_micropython, tmp_path, LOCATE_SCRIPT, [])
    answers = [line for line in lines if line.startswith(("none ", "gps "))]
    assert answers == ["none null", "gps null",
                       'gps {"lat":-5.4291234,"lon":105.2612345,"acc":6,"src":"gps","age":1}']
    assert [line.split(" ", 2)[2] for line in lines if line.startswith("I ")] == [
        "cmd: locate loc=null gps=none", "cmd: locate loc=null gps=nofix"]
