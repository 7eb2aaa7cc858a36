"""The firmware's signing (panic/sign.py) and message bodies (panic/messages.py) against protocol/vectors/.

Runs under MicroPython with the ESP32-sized heap. The vector files are read
here on the CPython side and streamed to MicroPython one vector per line (hex
fields), so the 110 KB heap never has to hold a whole vector file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROTOCOL

SIGNING = PROTOCOL / "vectors" / "signing.json"
MALFORMED = PROTOCOL / "vectors" / "malformed.json"
BOUNDS = PROTOCOL / "vectors" / "bounds.json"

SIGN_SCRIPT = """
import binascii
from panic.sign import Signer
with open("vectors.txt") as f:
    for line in f:
        name, key, topic, signed = line.split()
        s = Signer(binascii.unhexlify(key))
        out = s.sign(binascii.unhexlify(topic).decode(), binascii.unhexlify(signed))
        print(name, binascii.hexlify(out).decode())
"""

VERIFY_SCRIPT = """
import binascii
from panic.sign import Signer, SigError
with open("vectors.txt") as f:
    for line in f:
        name, key, topic, payload = line.split()
        s = Signer(binascii.unhexlify(key))
        try:
            signed = s.verify(binascii.unhexlify(topic).decode(), binascii.unhexlify(payload))
            print(name, "ok", binascii.hexlify(signed).decode())
        except SigError as e:
            print(name, "rejected", e.args[0])
"""


# One vector per line as JSON: {"name", "message", "args"}; prints the body in hex or the error's type.
# A fix goes through panic.fix.location first, as the GPS task will pass it.
BOUNDS_SCRIPT = """
import binascii, json
from panic import fix, messages
with open("vectors.txt") as f:
    for line in f:
        v = json.loads(line)
        args = v["args"]
        if "loc" in args:
            args["loc"] = "null" if args["loc"] is None else fix.location(args["loc"])
        try:
            body = getattr(messages, v["message"])(**args)
            print(v["name"], "body", binascii.hexlify(body).decode())
        except ValueError:
            print(v["name"], "error", "ValueError")
"""


def payload_bytes(vector: dict[str, Any]) -> bytes:
    if "payload_hex" in vector:
        return bytes.fromhex(vector["payload_hex"])
    return str(vector["payload"]).encode()


def run_lines(
    run_micropython: Callable[..., Any], tmp_path: Path, script: str, rows: list[list[str]]
) -> dict[str, list[str]]:
    (tmp_path / "vectors.txt").write_text("".join(" ".join(row) + "\n" for row in rows))
    out = run_micropython(script, cwd=tmp_path).stdout
    results = {}
    for line in out.splitlines():
        name, *rest = line.split()
        results[name] = rest
    return results


def load(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.fail(f"{path} is missing (protocol/README.md, Shared test vectors)")
    data: dict[str, Any] = json.loads(path.read_text())
    assert data["vectors"], f"{path} has no vectors"
    return data


def test_signing_vectors_reproduced(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    vectors = load(SIGNING)["vectors"]
    rows = [[v["name"], v["key_hex"], v["topic"].encode().hex(), v["signed"].encode().hex()] for v in vectors]
    results = run_lines(run_micropython, tmp_path, SIGN_SCRIPT, rows)
    assert set(results) == {v["name"] for v in vectors}
    for v in vectors:
        produced = bytes.fromhex(results[v["name"]][0])
        assert produced == v["payload"].encode(), v["name"]
        assert produced.endswith(b',"sig":"' + v["sig"].encode() + b'"}'), v["name"]


def test_verification_accepts_signed_vectors(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """Every signing vector (acks from the gateway among them) verifies, and yields its `signed` bytes."""
    vectors = load(SIGNING)["vectors"]
    assert any(v["topic"].endswith("/ack") for v in vectors), "signing.json should hold gateway acks"
    rows = [[v["name"], v["key_hex"], v["topic"].encode().hex(), v["payload"].encode().hex()] for v in vectors]
    results = run_lines(run_micropython, tmp_path, VERIFY_SCRIPT, rows)
    for v in vectors:
        assert results[v["name"]][0] == "ok", (v["name"], results[v["name"]])
        assert bytes.fromhex(results[v["name"]][1]) == v["signed"].encode(), v["name"]


def test_verification_rejects_malformed_envelopes(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """no_sig and bad_sig vectors are rejected with that reason; the valid controls pass."""
    data = load(MALFORMED)
    key = data["device"]["key_hex"]
    chosen = [v for v in data["vectors"] if v["reason"] in (None, "no_sig", "bad_sig")]
    assert {v["reason"] for v in chosen} == {None, "no_sig", "bad_sig"}
    rows = [[v["name"], key, v["topic"].encode().hex(), payload_bytes(v).hex()] for v in chosen]
    results = run_lines(run_micropython, tmp_path, VERIFY_SCRIPT, rows)
    for v in chosen:
        got = results[v["name"]]
        if v["reason"] is None:
            assert got[0] == "ok", (v["name"], got)
        else:
            assert got == ["rejected", v["reason"]], (v["name"], got)


def test_message_bodies_keep_every_number_in_range(run_micropython: Callable[..., Any], tmp_path: Path) -> None:
    """panic/messages.py writes exactly the body of every bounds vector (clamped, nulled) or raises its error."""
    vectors = load(BOUNDS)["vectors"]
    (tmp_path / "vectors.txt").write_text("".join(
        json.dumps({"name": v["name"], "message": v["message"], "args": v["args"]}) + "\n" for v in vectors
    ))
    out = run_micropython(BOUNDS_SCRIPT, cwd=tmp_path).stdout
    results = {name: (kind, value) for name, kind, value in (line.split() for line in out.splitlines())}
    assert set(results) == {v["name"] for v in vectors}
    for v in vectors:
        if v["error"]:
            assert results[v["name"]] == ("error", v["error"]), v["name"]
        else:
            kind, value = results[v["name"]]
            assert (kind, bytes.fromhex(value).decode()) == ("body", v["body"]), v["name"]


def test_firmware_version_is_one_the_gateway_accepts(run_micropython: Callable[..., Any]) -> None:
    """The birth message's fw is VERSION: it must match device-status.json's pattern or it would be left out."""
    schema = json.loads((PROTOCOL / "schemas" / "device-status.json").read_text())
    version = run_micropython("from panic import VERSION\nprint(VERSION)").stdout.strip()
    assert re.search(schema["properties"]["fw"]["pattern"], version), version
