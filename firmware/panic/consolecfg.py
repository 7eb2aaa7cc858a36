"""A console ``configure``'s check and write (protocol/console.md), on demand.

panic.consolereq merges the new settings and asks for the proof a registered
unit needs, then panic.console unloads it and only then loads this module
(and panic.cfgcheck, the boot's rules) to check the result and write
config.json atomically. Not part of panic.cfgcheck: that one is loaded at
every boot, and from .py source its bytes there are what the boot lacks.
"""

import json

from micropython import const

from panic import flash, mem
from panic.cfgbase import CONFIG_FILE, ConfigError
from panic.cfgcheck import settings

TYPE_CHECKING = const(False)
if TYPE_CHECKING:
    from panic.app import App


def answer(app: App, text: str, raw: dict) -> str:
    """The answer line: `text` (consolereq's) when `raw` (the merged settings) is valid and written, else the
    refusal. Parameter names the firmware interns anyway (docs/benchmarks.md: the qstr pools)."""
    mem.unload("panic.cfgcheck")  # with this module: this frame holds `settings`
    try:
        cfg = settings(raw, "pb-" + app.hw.unique_id())
        if cfg.unknown_keys:
            raise ConfigError("unknown key %s" % cfg.unknown_keys[0])
        try:
            flash.write_atomic(CONFIG_FILE, json.dumps(raw).encode())
            return text
        except OSError as e:
            err = ("flash", "writing %s failed errno=%s; the old file is kept" % (CONFIG_FILE, e.errno))
    except ConfigError as e:
        err = ("invalid", e.args[0])
    return '{"v":1,"id":%s,"ok":false,"error":"%s","msg":%s}' % (json.dumps(json.loads(text)["id"]), err[0],
                                                                 json.dumps(err[1]))
