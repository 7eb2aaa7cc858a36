#!/usr/bin/env python3
"""Generate protocol/vectors/commands.json: commands (gateway → device) and results (device → gateway).

Standard library only and deterministic, like make_signing.py:

    python protocol/vectors/make_commands.py           # rewrite commands.json
    python protocol/vectors/make_commands.py --stdout  # print it instead
    python protocol/vectors/make_commands.py --check   # exit 1 if it is stale

`commands`: what the device does with each command payload, given the last
cseq it accepted (`last_cseq`) and its clock (`utc`, null: unknown):
`reason` null means accepted, otherwise the rejection code of
protocol/README.md, "Commands" (stated by hand below, not computed).
Valid bodies are written in the member order the gateway signs them in.

`results`: the readings a device formats a result from (`args`, as
firmware/panic/command.py's `result()` takes them: cseq, cmd, reason, utc,
up, more) and the exact body (without its sig) it must write.
"""

from __future__ import annotations

import sys
from pathlib import Path

import vectorfile
from make_signing import DEV_A, DEV_B, KEY_A, KEY_B, topic
from vectorfile import sign, with_sig

OUT = Path(__file__).resolve().with_name("commands.json")
CMD = topic(DEV_A, "cmd")
RESULT = topic(DEV_A, "result")
LAST = 7  # the device has accepted commands up to cseq 7
UTC = 1795800100  # the device's clock
TS, EXP = 1795800000, 1795800300  # signed at TS, valid until EXP


def body(cseq: object = 8, cmd: str = "locate", args: str = "{}", dev: str = DEV_A, ts: int = TS, exp: int = EXP,
         extra: str = "") -> str:
    return f'{{"v":1,"dev":"{dev}","cseq":{cseq},"cmd":"{cmd}","args":{args},"ts":{ts},"exp":{exp}{extra}}}'


def signed(text: str, key: bytes = KEY_A) -> str:
    raw = text.encode()
    return with_sig(raw, sign(key, CMD, raw)).decode()


def tampered(text: str, old: str, new: str) -> str:
    """Signed, then changed: what an attacker without the key can do to a captured command."""
    return signed(text).replace(old, new, 1)


UNSIGNED = body()
# (name, payload, last_cseq, utc, reason, schema-valid, note)
COMMANDS: list[tuple[str, str, int, int | None, str | None, bool, str]] = [
    ("valid_locate", signed(body()), LAST, UTC, None, True, "the next cseq, before exp"),
    ("valid_test", signed(body(cmd="test")), LAST, UTC, None, True, "raises a test alert"),
    ("valid_identify", signed(body(cmd="identify")), LAST, UTC, None, True, "blinks and beeps"),
    ("valid_reboot", signed(body(cmd="reboot")), LAST, UTC, None, True, "answers, then restarts"),
    ("valid_config_heartbeat", signed(body(cmd="config", args='{"heartbeat_s":60}')), LAST, UTC, None, True,
     "one setting"),
    ("valid_config_both_at_bounds", signed(body(cmd="config", args='{"heartbeat_s":86400,"hold_ms":100}')),
     LAST, UTC, None, True, "each value at an end of its range in firmware/panic/bounds.py"),
    ("valid_config_gestures", signed(body(cmd="config", args='{"hold_ms":1500,"cancel_ms":12000,'
                                                               '"cancel_window_s":60,"taps_ms":2500}')),
     LAST, UTC, None, True, "the gesture timings; the device also requires cancel_ms above hold_ms (its current "
     "value for the one a command leaves out), out_of_range otherwise"),
    ("valid_config_gesture_bounds", signed(body(cmd="config", args='{"cancel_ms":60000,"cancel_window_s":0,'
                                                                     '"taps_ms":500}')),
     LAST, UTC, None, True, "each at an end of its range; cancel_window_s 0 turns the cancel gesture off"),
    ("valid_cseq_jumps", signed(body(cseq=1000)), LAST, UTC, None, True,
     "any cseq above the last is taken (commands the device never got are simply skipped)"),
    ("valid_clock_unknown_past_exp", signed(body(exp=TS)), LAST, None, None, True,
     "a device that does not know the time cannot tell expiry: cseq alone protects it"),
    ("valid_exp_now", signed(body(exp=UTC)), LAST, UTC, None, True, "exp is the last second it is valid"),
    ("forged_other_key", signed(body(), KEY_B), LAST, UTC, "bad_sig", True, "signed with another device's key"),
    ("forged_tampered_args", tampered(body(cmd="config", args='{"heartbeat_s":60}'), '"heartbeat_s":60',
                                      '"heartbeat_s":61'), LAST, UTC, "bad_sig", True,
     "a captured config command with its value changed"),
    ("forged_tampered_cseq", tampered(body(), '"cseq":8', '"cseq":9'), LAST, UTC, "bad_sig", True,
     "a captured command renumbered to get past the replay check"),
    ("unsigned", UNSIGNED, LAST, UTC, "no_sig", False, "no sig member"),
    ("unsigned_sig_not_last", UNSIGNED[:-1] + ',"sig":"' + "0" * 64 + '","x":1}', LAST, UTC, "no_sig", False,
     "a sig that is not the last member"),
    ("replayed_same_cseq", signed(body(cseq=LAST)), LAST, UTC, "replay", True,
     "the command last accepted, sent again (also after a reboot: the cseq is on flash)"),
    ("replayed_older", signed(body(cseq=3, cmd="reboot")), LAST, UTC, "replay", True, "an older command"),
    ("replayed_clock_unknown", signed(body(cseq=LAST)), LAST, None, "replay", True,
     "replay protection does not depend on the clock"),
    ("expired", signed(body(exp=UTC - 1)), LAST, UTC, "expired", True, "the device's clock is past exp"),
    ("unknown_cmd", signed(body(cmd="selfdestruct")), LAST, UTC, "unknown_cmd", False, "not a command"),
    ("unknown_cmd_case", signed(body(cmd="LOCATE")), LAST, UTC, "unknown_cmd", False,
     "command names are lower case"),
    ("out_of_range_heartbeat_zero", signed(body(cmd="config", args='{"heartbeat_s":0}')), LAST, UTC,
     "out_of_range", False, "heartbeat_s is 1 … 86400"),
    ("out_of_range_heartbeat_high", signed(body(cmd="config", args='{"heartbeat_s":86401}')), LAST, UTC,
     "out_of_range", False, "heartbeat_s is 1 … 86400"),
    ("out_of_range_hold_low", signed(body(cmd="config", args='{"heartbeat_s":60,"hold_ms":99}')), LAST, UTC,
     "out_of_range", False, "hold_ms is 100 … 30000; the valid heartbeat_s beside it is not applied either"),
    ("out_of_range_cancel_low", signed(body(cmd="config", args='{"cancel_ms":2999}')), LAST, UTC,
     "out_of_range", False, "cancel_ms is 3000 … 60000"),
    ("out_of_range_window_high", signed(body(cmd="config", args='{"cancel_window_s":3601}')), LAST, UTC,
     "out_of_range", False, "cancel_window_s is 0 … 3600"),
    ("out_of_range_taps_high", signed(body(cmd="config", args='{"taps_ms":10001}')), LAST, UTC,
     "out_of_range", False, "taps_ms is 500 … 10000"),
    ("bad_args_unknown_setting", signed(body(cmd="config", args='{"wdt_ms":5000}')), LAST, UTC, "bad_args",
     False, "only heartbeat_s and the gesture timings may be changed remotely"),
    ("bad_args_float", signed(body(cmd="config", args='{"heartbeat_s":60.0}')), LAST, UTC, "bad_args", False,
     "60.0 is not an integer here"),
    ("bad_args_bool", signed(body(cmd="config", args='{"heartbeat_s":true}')), LAST, UTC, "bad_args", False,
     "true is not 1"),
    ("bad_args_config_empty", signed(body(cmd="config")), LAST, UTC, "bad_args", False, "config changes something"),
    ("bad_args_on_locate", signed(body(args='{"now":1}')), LAST, UTC, "bad_args", False,
     "commands other than config take no arguments"),
    ("dev_mismatch", signed(body(dev=DEV_B)), LAST, UTC, "dev_mismatch", True,
     "another device's command, signed with this device's key"),
    ("bad_field_missing_exp", signed(f'{{"v":1,"dev":"{DEV_A}","cseq":8,"cmd":"locate","args":{{}},"ts":{TS}}}'),
     LAST, UTC, "bad_field", False, "every member is required"),
    ("bad_field_extra_member", signed(body(extra=',"why":"x"')), LAST, UTC, "bad_field", False,
     "no other members"),
    ("bad_field_cseq_zero", signed(body(cseq=0)), LAST, UTC, "bad_field", False, "cseq is 1 … 2^53-1"),
    ("bad_field_cseq_float", signed(body(cseq="8.0")), LAST, UTC, "bad_field", False, "8.0 is not an integer"),
    ("bad_field_v2", signed(body().replace('"v":1', '"v":2')), LAST, UTC, "bad_field", False, "contract v1"),
    ("bad_field_sig_inside", signed(body(extra=',"sig":"' + "0" * 64 + '"')), LAST, UTC, "bad_field", False,
     "a second sig inside the signed part"),
    ("bad_json", signed("{locate}"), LAST, UTC, "bad_json", False, "signed, but not JSON"),
]

LOC = '{"lat":-5.4291234,"lon":105.2612345,"acc":6,"src":"gps","age":1}'
# (name, [cseq, cmd, reason, utc, up, more], note)
RESULTS: list[tuple[str, list[object], str]] = [
    ("ok_locate_no_gps", [8, "locate", None, UTC, 61250, ',"loc":null'], "no fix (or no GPS yet): loc null"),
    ("ok_locate_fix", [8, "locate", None, UTC, 61250, ',"loc":' + LOC], "the current fix"),
    ("ok_test", [9, "test", None, UTC, 61250, ',"seq":66'], "the test alert's seq"),
    ("ok_identify", [10, "identify", None, UTC, 61250, ""], ""),
    ("ok_config", [11, "config", None, UTC, 61250, ""], ""),
    ("ok_reboot_clock_unknown", [12, "reboot", None, None, 61250, ""], "answered before the restart"),
    ("rejected_replay", [7, "locate", "replay", UTC, 61250, ""], "cseq and cmd of the replayed command"),
    ("rejected_out_of_range", [13, "config", "out_of_range", UTC, 61250, ""], ""),
    ("rejected_unknown_cmd", [13, None, "unknown_cmd", UTC, 61250, ""], "cmd null: not a command"),
    ("rejected_forged", [None, None, "bad_sig", UTC, 61250, ""], "nothing in a forged command is believed"),
]


def result_body(args: list[object]) -> str:
    cseq, cmd, reason, utc, up, more = args
    members = {"cseq": "null" if cseq is None else cseq, "cmd": "null" if cmd is None else f'"{cmd}"',
               "status": '"ok"' if reason is None else '"rejected"',
               "reason": "null" if reason is None else f'"{reason}"',
               "ts": "null" if utc is None else utc, "up": up}
    return f'{{"v":1,"dev":"{DEV_A}",' + ",".join(f'"{k}":{v}' for k, v in members.items()) + f"{more}}}"


DESCRIPTION = (
    "Remote commands (protocol/README.md, Commands). `device`: the device and its key. `commands`: a command "
    "payload on `topic`, what the device knows (`last_cseq`, the last cseq it accepted; `utc`, its clock or "
    "null), and its verdict: `reason` null (accepted) or the rejection code; `schema_valid` says whether the "
    "payload is JSON without repeated member names that validates against device-cmd.json. `results`: the "
    "result body (signed part) a device writes for "
    "`args` = [cseq, cmd, reason, utc, up, more]; `payload` is it signed on `topic`; each validates against "
    "device-result.json. Generated by make_commands.py; do not edit by hand."
)


def build() -> dict[str, object]:
    commands = [
        {"name": name, "topic": CMD, "payload": payload, "last_cseq": last, "utc": utc, "reason": reason,
         "schema_valid": valid, "note": note}
        for name, payload, last, utc, reason, valid, note in COMMANDS
    ]
    results = []
    for name, args, note in RESULTS:
        text = result_body(args)
        results.append({"name": name, "topic": RESULT, "args": args, "body": text,
                        "payload": with_sig(text.encode(), sign(KEY_A, RESULT, text.encode())).decode(),
                        "note": note})
    return {"description": DESCRIPTION, "device": {"id": DEV_A, "key_hex": KEY_A.hex()},
            "vectors": commands, "results": results}


if __name__ == "__main__":
    sys.exit(vectorfile.main(OUT, build(), sys.argv[1:]))
