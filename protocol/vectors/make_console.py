"""Generate console.json: serial console lines and the answer each must get (protocol/console.md).

`python make_console.py` writes the file; `--check` fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vectorfile import main, sign

KEY = bytes(range(32))
DEVICE = "pb-0123456789ab"
NONCE = "00112233445566778899aabbccddeeff"

# (name, line sent as text, or hex bytes with "hex:", expected "ok" or the error code)
LINES = [
    ("hello", '{"v":1,"op":"hello","id":1}', "ok"),
    ("info", '{"v":1,"op":"info","id":2}', "ok"),
    ("selftest", '{"v":1,"op":"selftest","id":3}', "ok"),
    ("identify", '{"v":1,"op":"identify","id":16}', "ok"),
    ("garbage bytes", "hex:00ff03fe1b5b41", "bad_json"),
    ("plain text", "help", "bad_json"),
    ("a JSON array", "[1,2,3]", "bad_json"),
    ("truncated JSON", '{"v":1,"op":"hel', "bad_json"),
    ("overlong line", "x" * 2000, "too_long"),
    ("unknown op", '{"v":1,"op":"format_flash","id":4}', "unknown_op"),
    ("op not a string", '{"v":1,"op":7,"id":5}', "unknown_op"),
    ("no version", '{"op":"hello","id":6}', "bad_version"),
    ("future version", '{"v":2,"op":"hello","id":7}', "bad_version"),
    ("id not an integer", '{"v":1,"op":"hello","id":"x"}', "bad_request"),
    ("configure: set not an object", '{"v":1,"op":"configure","id":8,"set":5}', "bad_request"),
    ("configure: wrong type", '{"v":1,"op":"configure","id":9,"set":{"broker_host":"h","heartbeat_s":"30"}}',
     "invalid"),
    ("configure: out of range", '{"v":1,"op":"configure","id":10,"set":{"broker_host":"h","hold_ms":5}}', "invalid"),
    ("configure: unknown key", '{"v":1,"op":"configure","id":11,"set":{"broker_host":"h","hold_msec":5}}',
     "invalid"),
    ("configure: a secret", '{"v":1,"op":"configure","id":12,"set":{"broker_host":"h","mqtt_password":"p"}}',
     "invalid"),
    ("set_secrets: short key", '{"v":1,"op":"set_secrets","id":13,"secrets":{"device_key":"abc","mqtt_password":"p"}}',
     "invalid"),
    ("set_secrets: unknown secret", '{"v":1,"op":"set_secrets","id":14,"secrets":{"pin":"1234"}}', "invalid"),
    ("test_mode: on not a boolean", '{"v":1,"op":"test_mode","id":15,"on":"yes"}', "bad_request"),
]

proof = sign(KEY, "console", f"{DEVICE} {NONCE} set_secrets".encode())

if __name__ == "__main__":
    data = {
        "description": "Console lines for a unit never registered, each with the answer it must get (ok or the "
                 "error code); after every line the unit still answers hello. auth: the proof a registered "
                 "unit wants (protocol/console.md).",
        "vectors": [{"name": n, "send": s, "expect": e} for n, s, e in LINES],
        "auth": {"device_key_hex": KEY.hex(), "device_id": DEVICE, "nonce": NONCE, "op": "set_secrets",
                 "message": f"console\n{DEVICE} {NONCE} set_secrets", "proof": proof},
    }
    sys.exit(main(Path(__file__).with_name("console.json"), data, sys.argv[1:]))
