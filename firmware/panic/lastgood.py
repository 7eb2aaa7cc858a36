"""The last good configuration: what the button runs on when its files are damaged.

Once ``config.json`` and ``secrets.json`` have loaded, they are copied to
``config.good.json`` / ``secrets.good.json`` (only when they changed, so
the flash is not rewritten at every boot). When the current files are
damaged later - truncated, garbage, a directory, too big - the button runs
on that last good copy: it still calls for help, and the app reports the
fault. Without a good copy the current files' error stands.

Boot-only code: the app imports it with panic.config and unloads both.
"""

from panic import config, flash, log

GOOD_CONFIG_FILE = "config.good.json"
GOOD_SECRETS_FILE = "secrets.good.json"


def load(default_device_id: str | None) -> tuple:
    """(Config, error): the current files, or else the last good copy.

    `error` is "" when the current files are good; otherwise it says what is
    wrong with them while the Config is the last good one. Raises
    ConfigError (about the current files) when there is no good copy either.
    """
    try:
        cfg = config.load(default_device_id)
    except config.ConfigError as e:
        try:
            return config.load(default_device_id, GOOD_CONFIG_FILE, GOOD_SECRETS_FILE), e.args[0]
        except config.ConfigError:
            raise e
    _keep(config.CONFIG_FILE, GOOD_CONFIG_FILE)
    _keep(config.SECRETS_FILE, GOOD_SECRETS_FILE)
    return cfg, ""


def _keep(path: str, good: str) -> None:
    """Copy `path` to `good` unless it already holds the same bytes."""
    try:
        data = config.raw_bytes(path)
        try:
            same = flash.read(good, config.MAX_FILE_BYTES) == data
        except OSError:
            same = False
        if not same:
            flash.write_atomic(good, data)
    except (OSError, config.ConfigError) as e:  # a full flash: the old copy (if any) stays
        log.warn("config", "cannot keep a good copy file=%s err=%s" % (good, log.q(e)))
