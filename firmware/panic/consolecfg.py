"""A console ``configure``'s check and write (protocol/console.md), on demand.

panic.consolereq merges the new settings, asks for the proof a registered
unit needs, and hands the merged object back; panic.console unloads it and
only then loads this module and panic.config to check the settings with the
boot's own rules (panic.config.settings) and write config.json atomically.
Both modules and panic.config at once do not fit the heap of a running unit.
"""

import json

from micropython import const

from panic import config, flash

TYPE_CHECKING = const(False)
if TYPE_CHECKING:
    from panic.app import App


def answer(app: App, ok: str, merged: dict) -> str:
    """The answer line: `ok` (consolereq's) when `merged` is valid and written, else the refusal."""
    err = _check(app, merged)
    if err is None:
        return ok
    out = json.loads(ok)
    del out["reboot_needed"]
    out["ok"], out["error"], out["msg"] = False, err[0], err[1]
    return json.dumps(out)


def _check(app: App, merged: dict) -> tuple | None:
    """None when `merged` is a valid configuration and is written; else (error code, message)."""
    try:
        cfg = config.settings(merged, "pb-" + app.hw.unique_id())
    except config.ConfigError as e:
        return "invalid", e.args[0]
    if cfg.unknown_keys:
        return "invalid", "unknown key %s" % cfg.unknown_keys[0]
    try:
        flash.write_atomic(config.CONFIG_FILE, json.dumps(merged).encode())
    except OSError as e:
        return "flash", "writing %s failed errno=%s; the old file is kept" % (config.CONFIG_FILE, e.errno)
    return None
