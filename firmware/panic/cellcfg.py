"""Cellular settings of config.json and secrets.json, checked at boot and by the console.

Loaded by panic.config / panic.cfgbase only when the files hold one of these keys (a Wi-Fi
button never loads it) and unloaded with them (panic.boot; the console's request path). ``cfg.modem`` becomes::

    {"apn": str | None, "apn_user": str | None, "sms_to": [str] | None, "sms_after_s": int,
     "apn_password": str | None, "sim_pin": str | None}

- ``apn``: 1..100 letters, digits, '-', '.' (3GPP TS 23.003); into AT+CGDCONT (panic.cellup);
  without it the button has no cellular data bearer;
- ``apn_user`` / ``apn_password`` (secret): the PPP login (PAP), printable ASCII without '"',
  at most 64;
- ``sim_pin`` (secret): 4..8 digits, sent once per boot at most (panic.cellup);
- ``sms_to``: 1..4 gateway numbers in E.164 (+ and 7..15 digits), for the SMS fallback;
- ``sms_after_s``: 5..3600 (default 30): how long an alert waits for a data link before SMS.

A ConfigError names the key, never a secret's value.
"""

from panic.cfgbase import CONFIG_FILE, SECRETS_FILE, Config, ConfigError

_KEYS = ("apn", "apn_user", "sms_to", "sms_after_s")


def _bad(key: str, what: str) -> ConfigError:
    return ConfigError("%s: %s %s" % (CONFIG_FILE, key, what))


def _text(value: object) -> bool:
    """A string fit for an AT command's quoted argument: printable ASCII without '"', at most 64."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    for c in value.encode():
        if c < 32 or c > 126 or c == 34:
            return False
    return True


def settings(raw: dict, known: list) -> dict:
    known.extend(_KEYS)
    apn = raw.get("apn")
    if apn is not None:
        ok = isinstance(apn, str) and 0 < len(apn) <= 100
        for c in apn.encode() if ok else b"":
            if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 45 or c == 46):
                ok = False
        if not ok:
            raise _bad("apn", "must be 1..100 letters, digits, '-' or '.'")
    user = raw.get("apn_user")
    if user is not None and not _text(user):
        raise _bad("apn_user", "must be printable ASCII without '\"', at most 64")
    to = raw.get("sms_to")
    if to is not None and not (isinstance(to, list) and 0 < len(to) < 5 and all(
            isinstance(n, str) and 8 <= len(n) <= 16 and n[0] == "+" and n[1:].isdigit() for n in to)):
        raise _bad("sms_to", "must be a list of 1..4 numbers in E.164 (+ and 7..15 digits)")
    after = raw.get("sms_after_s", 30)
    if not isinstance(after, int) or isinstance(after, bool) or not 5 <= after <= 3600:
        raise _bad("sms_after_s", "must be an integer in 5..3600")
    for key in ("apn_password", "sim_pin"):
        if key in raw:
            raise _bad(key, "belongs in " + SECRETS_FILE)
    return {"apn": apn, "apn_user": user, "sms_to": to, "sms_after_s": after, "apn_password": None,
            "sim_pin": None}


def add_secrets(cfg: Config, sec: dict) -> None:
    """secrets.json's apn_password and sim_pin, checked, into cfg.modem (when the config has one)."""
    value = sec.get("apn_password")
    if value is not None and not _text(value):
        raise ConfigError("%s: apn_password must be printable ASCII without '\"', at most 64" % SECRETS_FILE)
    pin = sec.get("sim_pin")
    if pin is not None and not (isinstance(pin, str) and 4 <= len(pin) <= 8 and pin.isdigit()):
        raise ConfigError("%s: sim_pin must be 4..8 digits" % SECRETS_FILE)
    modem = getattr(cfg, "modem", None)
    if modem is not None:
        modem["apn_password"] = value
        modem["sim_pin"] = pin
