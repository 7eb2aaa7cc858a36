"""The boot: configuration (panic.config), outbox and seq counter, read from flash.

Boot-only code: imported while the app starts (panic.app._boot), unloaded
once the configuration, the outbox and the seq counter are read, and small
on purpose (it is compiled at boot, when the heap already holds the
firmware, and a compile needs contiguous blocks).

The outbox: a file becomes an entry only if everything about it is right.

A file becomes an entry only if its name, size, topic, seq and signature
are right. Anything else - a directory, a 200 KB file, a non-UTF-8 topic, a
payload with a bad or missing signature - is deleted with an
``E ... outbox: discarding unusable entry`` line and counted (the app shows
``fault`` for it), one file at a time: one bad file never stops the others
from loading. Resending a payload the gateway will never accept would keep
the button "sending" forever.

Names here reuse words the firmware already has where that reads well:
every new identifier is a qstr, and on the unix port the 621st qstr costs
7.4 KB of heap at once (docs/firmware.md, "Heap and qstrs").
"""

import os

from micropython import const

from panic import flash, log, mem, messages
from panic.outbox import Entry, Outbox
from panic.seq import SeqCounter
from panic.sign import Signer

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Callable

    from panic.app import App
    from panic.config import Config


def start(app: App, device_id: str) -> tuple:
    """config.boot(device_id) (Config or None, key fingerprint, error); with a Config, `app`'s outbox and seq.

    panic.config is unloaded once read, as this module is by the caller.
    """
    try:
        from panic import config

        cfg, fingerprint, error = config.boot(device_id)
    except Exception as e:
        log.exc("app", "reading the configuration failed", e)
        return None, "", "load failed exc=%s" % type(e).__name__
    finally:
        mem.unload("panic.config")
        mem.unload("panic.cfgcheck")  # config.settings' module
        mem.unload("panic.cellcfg")  # loaded with it for cellular settings (both files: once)
    if cfg is not None:
        log.info(
            "config",
            "loaded device_id=%s broker=%s:%d wifi_ssid=%s heartbeat_s=%d hold_ms=%d key=%s"
            % (cfg.device_id, cfg.broker_host, cfg.broker_port, log.q(cfg.wifi_ssid or ""),
               cfg.heartbeat_s, cfg.hold_ms, fingerprint),
        )
        for key in cfg.unknown_keys:
            log.warn("config", "unknown key=%s ignored" % log.q(key))
        _load(app, cfg)
        if getattr(cfg, "modem", None) is not None:
            # A cellular button (panic.cellcfg): panic.cellular loaded now, with the rest of the code, and
            # hooked into the app; after a collection, into the holes the boot's garbage leaves. A long
            # module name in a str: a Wi-Fi button interns nothing for it.
            mem.sample()  # a collection (panic.boot imports no gc: a global less on every button)
            __import__("panic.cellular", None, None, ("load",)).load(app, cfg)
    return cfg, fingerprint, error


def _load(app: App, cfg: Config) -> None:
    """The outbox and the seq counter, from flash."""
    outbox = app.outbox = Outbox(capacity=cfg.outbox_max)
    try:
        if entries(outbox, messages.topic(cfg.device_id, ""), Signer(cfg.device_key).verify):
            app.fault = "outbox"
    except Exception as e:  # the outbox stays empty here; new alerts still go out
        log.exc("app", "reading the outbox failed", e)
        app.fault = "outbox"
        try:
            os.mkdir(outbox.dir)  # so new alerts can still be kept on flash
        except OSError:
            pass
    found = outbox.entries
    app.seq = SeqCounter(block=cfg.seq_block)
    load_seq(app.seq, found[-1].seq if found else 0)


def load_seq(self: SeqCounter, floor: int = 0) -> None:
    """SeqCounter `self` resumes after the stored ceiling, and never at or below `floor` (boot-only).

    `floor` is the newest seq known otherwise (the outbox's). A file that
    cannot be read or parsed - which atomic writes should make impossible -
    is logged as an error and flagged as a fault; counting resumes after
    `floor`, the best evidence left.
    """
    stored = 0
    try:
        raw = flash.read(self.path, 32)  # 16 digits and a newline: a bigger file is damaged
        if raw is not None:
            value = int(raw)
            if value < 0 or value > 9007199254740991:
                raise ValueError
            stored = value
    except (OSError, ValueError):
        log.error("seq", "%s unreadable, resuming after floor=%d" % (self.path, floor))
        self.fault = True
    self.last = max(stored, floor)
    self.ceiling = self.last
    log.info("seq", "loaded ceiling=%d next=%d block=%d" % (stored, self.last + 1, self.block))


def entries(outbox: Outbox, topic_prefix: str, verify: Callable[[str, bytes], bytes]) -> int:
    """Fill `outbox.entries` from its directory, oldest first; never raises.

    Returns how many unusable files were found (and removed). `verify(topic,
    payload)` raises for a payload not signed with the device key. A flash
    that cannot even be listed is a fault, and the button raises and sends
    alerts from RAM. When the heap runs out (far more entries than
    `capacity`) the rest stay on flash for a later boot.
    """
    directory = outbox.dir
    drops = 0
    try:
        try:
            kind = os.stat(directory)[0] & 0x4000
        except OSError:
            kind = -1  # missing
        if not kind:
            drops += _drop(directory, "not a directory")
        if kind <= 0:
            os.mkdir(directory)
        n = flash.clean_tmp(directory)
        if n:
            log.warn("outbox", "removed interrupted writes count=%d" % n)
        # ilistdir gives the type, and on LittleFS the size, without a stat per file.
        for entry in list(os.ilistdir(directory)):
            path = directory + "/" + entry[0]
            try:
                why = _check(outbox, entry, path, topic_prefix, verify)
            except MemoryError:
                raise
            except Exception as e:  # unreadable, a non-UTF-8 topic, ...
                why = "unreadable exc=%s" % type(e).__name__
            if why:
                drops += _drop(path, why)
    except Exception as e:  # OSError from the flash, MemoryError
        outbox.fault = True
        log.exc("outbox", "cannot read the whole outbox; alerts stay in RAM", e)
    found = outbox.entries
    found.sort(key=lambda e: e.seq)
    i = 1
    while i < len(found):  # two files for one seq (renamed by hand): one is enough
        if found[i].seq == found[i - 1].seq:
            drops += _drop(found.pop(i).path, "duplicate seq")
        else:
            i += 1
    log.info("outbox", "loaded entries=%d damaged=%d" % (len(found), drops))
    return drops


def _check(outbox: Outbox, entry: tuple, path: str, topic_prefix: str, verify: Callable[[str, bytes], bytes]) -> str:
    """Load the entry in `path` (an ilistdir item); returns why it is unusable, "" when loaded."""
    parts = entry[0].rpartition(".")
    kind = parts[2]
    # Up to 16 digits (2^53-1, the protocol's highest seq); older firmware wrote 10.
    if kind not in ("c", "n") or not 0 < len(parts[0]) <= 16 or not parts[0].isdigit():
        return "not an entry name"
    seq = int(parts[0])
    if not 0 < seq <= 9007199254740991:
        return "seq out of range"
    if entry[1] & 0x4000:
        return "a directory"
    size = entry[3] if len(entry) > 3 else os.stat(path)[6]  # the unix port lists no sizes
    if size > 1024:  # an alert entry is about 300 bytes: a bigger file is not one of ours
        return "too big bytes=%d" % size  # never read: it could not fit in the heap
    data = flash.read(path, 1024) or b""
    nl = data.find(b"\n")
    if nl <= 0:
        return "no topic line"
    topic = data[:nl].decode()  # UnicodeError for a non-UTF-8 topic
    payload = data[nl + 1 :]
    if not topic.startswith(topic_prefix):
        return "foreign topic"
    # an alert body (messages.alert) naming this seq; member order is free
    if ('"seq":%d,' % seq).encode() not in payload or b'"type":"' not in payload:
        return "seq does not match the name"
    try:
        verify(topic, payload)
    except Exception:  # SigError: a payload the gateway would refuse forever
        return "bad signature"
    e = Entry(seq, topic, payload, kind == "c")
    e.persisted = True
    e.path = path
    outbox.entries.append(e)
    return ""


def _drop(path: str, why: str) -> int:
    """Remove an unusable file (or empty directory); returns 1, to be counted."""
    log.error("outbox", "discarding unusable entry file=%s reason=%s" % (log.q(path), log.q(why)))
    if not flash.remove(path):
        try:
            os.rmdir(path)  # an empty directory; a full one stays, skipped at every boot
        except OSError:
            log.error("outbox", "cannot remove file=%s" % log.q(path))
    return 1
