"""The SMS wire format (protocol/README.md, "SMS"): the alert a button texts, the ack it reads back.

    alert: PB1 A <dev12> <seq> <type> <ref|-> <ts|-> <up> <loc|-> <bat|-> <pwr> <rssi|-> <mac>
    ack:   PB1 K <dev12> <ref> <state> <ts> <mac>
    mac  = first 16 hex digits of HMAC-SHA256(key, "panic/v1/sms\\n" + the text before " <mac>")

One GSM-7 SMS (136 characters at most), integers only: coordinates are
integer 1e-7 degrees as in the MQTT alert's loc. Readings out of their
range are handled as panic/messages.py handles them. Pure and small: the
modem driver imports it when SMS is needed; protocol/vectors/sms.json pins it.
"""

from panic import fix, messages
from panic.sign import SigError, Signer, compare

DOMAIN = "panic/v1/sms"
_TYPES = "SQCTMPBmpb"  # messages.ALERT_TYPES, in order (lower case: the restores of M, P, B)
_STATES = "RADOXCF"  # messages.ACK_STATES, in order
_HEX = "0123456789abcdef"
BAD_SMS = "bad_sms"
DEV_MISMATCH = "dev_mismatch"


def _mac(signer: Signer, signed: str) -> str:
    return signer.mac(DOMAIN, signed.encode())[:16].decode()


def alert(
    signer: Signer, dev: str, seq: int, kind: str, ts: int | None, up: int, bat: int | None, pwr: str,
    rssi: int | None, ref: int | None = None, loc: tuple[int, int, int, str, int] | None = None,
) -> bytes:
    """The signed alert SMS text (ASCII, a subset of GSM-7); ValueError for a bad seq, ref or type."""
    if seq < 1 or seq >> 53 or ref is not None and (ref < 1 or ref >> 53) or kind not in messages.ALERT_TYPES:
        raise ValueError("seq, ref or type out of range")
    where = "-"
    if loc is not None and fix.valid(loc):
        where = "%d,%d,%d,%d,%s" % (int(loc[0]), int(loc[1]), int(loc[2]), int(loc[4]), loc[3][0])
    signed = "PB1 A %s %d %s %s %s %s %s %s %s %s" % (
        dev[3:], seq, _TYPES[messages.ALERT_TYPES.index(kind)], "-" if ref is None else ref,
        "-" if ts is None or not 0 <= ts <= 0xFFFFFFFF else int(ts), messages._num(up, 0, 9007199254740991),
        where, messages._num(bat, 0, 100, "-"), pwr[0], messages._num(rssi, -150, 0, "-"),
    )
    return (signed + " " + _mac(signer, signed)).encode()


def _number(text: str, bits: int) -> int:
    # Canonical decimal (no sign, no leading zero) below 2^bits, else -1.
    if not text or len(text) > 1 and text[0] == "0" or len(text) > 16:
        return -1
    for c in text:
        if not "0" <= c <= "9":
            return -1
    n = int(text)
    return -1 if n >> bits else n


def _hex(text: str, n: int) -> bool:
    if len(text) != n:
        return False
    for c in text:
        if c not in _HEX:
            return False
    return True


def ack(signer: Signer, dev: str, text: str) -> tuple[int, str, int]:
    """(ref, state, ts) of a valid ack SMS for `dev`; SigError(bad_sms | dev_mismatch | bad_sig) otherwise."""
    part = text.split(" ")
    if len(part) != 7 or part[0] != "PB1" or part[1] != "K" or not _hex(part[2], 12) or not _hex(part[6], 16):
        raise SigError(BAD_SMS)
    ref, ts = _number(part[3], 53), _number(part[5], 32)
    if ref < 1 or ts < 0 or len(part[4]) != 1 or part[4] not in _STATES:
        raise SigError(BAD_SMS)
    if part[2] != dev[3:]:
        raise SigError(DEV_MISMATCH)
    if not compare(_mac(signer, text[:-17]).encode(), part[6].encode()):
        raise SigError("bad_sig")
    return ref, messages.ACK_STATES[_STATES.index(part[4])], ts
