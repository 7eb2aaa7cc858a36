"""The firmware's SMS format (panic/smsfmt.py) against protocol/vectors/sms.json, under MicroPython.

As in test_vectors.py, the vectors are streamed one per line (JSON, or hex for
text that is not ASCII) so the ESP32-sized heap never holds the whole file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import PROTOCOL

SMS = PROTOCOL / "vectors" / "sms.json"

ALERT_SCRIPT = """
import binascii, json
from panic import smsfmt
from panic.sign import Signer
with open("vectors.txt") as f:
    for line in f:
        v = json.loads(line)
        args = v["args"]
        if args["loc"] is not None:
            args["loc"] = tuple(args["loc"])
        try:
            text = smsfmt.alert(Signer(binascii.unhexlify(v["key"])), **args)
            print(v["name"], "text", binascii.hexlify(text).decode())
        except ValueError:
            print(v["name"], "error", "ValueError")
"""

ACK_SCRIPT = """
import binascii
from panic import smsfmt
from panic.sign import Signer, SigError
with open("vectors.txt") as f:
    for line in f:
        name, key, dev, text = line.split()
        try:
            ref, state, ts = smsfmt.ack(Signer(binascii.unhexlify(key)), dev, binascii.unhexlify(text).decode())
            print(name, "ok", ref, state, ts)
        except SigError as e:
            print(name, "rejected", e.args[0])
"""


def _results(out: str) -> dict[str, list[str]]:
    return {name: rest for name, *rest in (line.split() for line in out.splitlines())}


def test_alert_texts_are_written_exactly(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    data = json.loads(SMS.read_text())
    key = data["device"]["key_hex"]
    cases = data["alerts"] + data["encode_errors"]
    (tmp_path / "vectors.txt").write_text("".join(
        json.dumps({"name": v["name"], "key": key, "args": v["args"]}) + "\n" for v in cases))
    results = _results(run_micropython(ALERT_SCRIPT, cwd=tmp_path).stdout)
    assert set(results) == {v["name"] for v in cases}
    for v in data["alerts"]:
        kind, value = results[v["name"]]
        assert (kind, bytes.fromhex(value).decode()) == ("text", v["text"]), v["name"]
        assert len(v["text"]) <= 160, v["name"]
    for v in data["encode_errors"]:
        assert results[v["name"]] == ["error", v["error"]], v["name"]


def test_acks_are_verified_and_bad_ones_refused_with_their_reason(
    run_micropython: Callable[..., Any], tmp_path: Path,
) -> None:
    data = json.loads(SMS.read_text())
    key, dev = data["device"]["key_hex"], data["device"]["id"]
    cases = data["acks"] + data["rejected_acks"]
    (tmp_path / "vectors.txt").write_text("".join(
        f"{v['name']} {key} {dev} {v['text'].encode().hex()}\n" for v in cases))
    results = _results(run_micropython(ACK_SCRIPT, cwd=tmp_path).stdout)
    assert set(results) == {v["name"] for v in cases}
    for v in data["acks"]:
        args = v["args"]
        assert results[v["name"]] == ["ok", str(args["ref"]), args["state"], str(args["ts"])], v["name"]
    for v in data["rejected_acks"]:
        assert results[v["name"]] == ["rejected", v["reason"]], v["name"]
