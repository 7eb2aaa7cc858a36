"""SMS PDUs (3GPP TS 23.040) and the GSM 7-bit default alphabet (TS 23.038), as modems speak them in PDU mode.

The gateway reads SMS-DELIVER PDUs (AT+CMGF=0, AT+CMGR) and sends
SMS-SUBMIT PDUs (AT+CMGS); the modem emulator (simulator/modem/) does the
reverse with the same tables. PDU mode, not text mode, because only the PDU
says what the text really was: its alphabet (a UCS-2 or 8-bit message is
`not_gsm7`) and whether it is one part of a concatenated message
(`multipart`), which text mode hides or reports differently per modem.

Two ways out: `encode_submit` is one GSM-7 SMS and nothing else (the button
protocol's acks: an alert and its ack are always one SMS, protocol/README.md
"SMS"); `encode_submit_parts` is for people (notifications): GSM-7 when the
text allows, else UCS-2, as a concatenated SMS when one is not enough.
"""

from __future__ import annotations

from dataclasses import dataclass

# TS 23.038 default alphabet (index = septet) and the extension table (after the escape 0x1B).
BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
             0x40: "|", 0x65: "€"}
_SEPTET = {ch: i for i, ch in enumerate(BASIC) if i != 0x1B}
_ESCAPED = {ch: code for code, ch in EXTENSION.items()}
_IEI_CONCAT = (0x00, 0x08)  # concatenated short message, 8- and 16-bit reference
_ESCAPE = 0x1B  # never a character itself: in a septet list it always starts an escape pair
# What one SMS carries (140 octets of user data): 160 septets or 70 UCS-2 units alone; beside the 6-octet
# concatenation header 153 septets (after one fill bit) or 67 units.
SINGLE = {"gsm7": 160, "ucs2": 70}
PART = {"gsm7": 153, "ucs2": 67}
# The most parts a notification may take: 8 are 1224 septets or 536 UCS-2 characters, far beyond any
# alert text but for pathological owner names or addresses; longer is refused (not worth 10+ SMS).
MAX_PARTS = 8
_SEPARATORS = str.maketrans("", "", " -.()")  # how people group a phone number's digits ("+62 812-7000 1234")


class PduError(ValueError):
    """Not a PDU this code can read: the modem gave garbage, or another kind of message."""


@dataclass(frozen=True)
class Delivered:
    """An SMS-DELIVER, decoded. `text` is None for 8-bit data; `alphabet` is gsm7, 8bit or ucs2."""

    sender: str
    text: str | None
    alphabet: str
    multipart: bool  # a part of a concatenated message (a user data header names it)
    timestamp: str  # the service centre's time stamp, as its 14 digits + zone
    concat: tuple[int, int, int] | None = None  # (reference, parts, this part) when multipart


@dataclass(frozen=True)
class Submitted:
    """An SMS-SUBMIT, decoded (what a modem is given with AT+CMGS)."""

    number: str
    text: str | None  # None for 8-bit data
    alphabet: str
    concat: tuple[int, int, int] | None = None  # (reference, parts, this part) of a concatenated message


def gsm7_septets(text: str) -> list[int]:
    """Septets of `text`; ValueError for a character outside the alphabet."""
    out: list[int] = []
    for ch in text:
        if ch in _SEPTET:
            out.append(_SEPTET[ch])
        elif ch in _ESCAPED:
            out += [0x1B, _ESCAPED[ch]]
        else:
            raise ValueError(f"{ch!a} is not in the GSM 7-bit alphabet")
    return out


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    value, bits, out = 0, fill_bits, bytearray()
    for septet in septets:
        value |= septet << bits
        bits += 7
        while bits >= 8:
            out.append(value & 0xFF)
            value >>= 8
            bits -= 8
    if bits:
        out.append(value & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def septets_text(septets: list[int]) -> str:
    out, escaped = [], False
    for septet in septets:
        if escaped:
            out.append(EXTENSION.get(septet, " "))  # TS 23.038: an unknown escape shows as a space
            escaped = False
        elif septet == 0x1B:
            escaped = True
        else:
            out.append(BASIC[septet])
    return "".join(out)


def _address(number: str) -> bytes:
    """An address field: digit count, type (0x91 international with "+", else 0x81), swapped BCD."""
    digits = number.lstrip("+")
    if not digits.isdigit() or not digits.isascii() or len(digits) > 20:
        raise ValueError(f"not a phone number: {number!a}")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if number.startswith("+") else 0x81]) + bytes.fromhex(swapped)


def _read_address(pdu: bytes, at: int) -> tuple[str, int]:
    length, kind = pdu[at], pdu[at + 1]
    octets = (length + 1) // 2
    raw = pdu[at + 2: at + 2 + octets]
    if len(raw) != octets:
        raise PduError("address cut short")
    if kind & 0x70 == 0x50:  # alphanumeric (an operator's name), GSM 7-bit packed
        number = septets_text(unpack_septets(raw, length * 4 // 7))
    else:
        swapped = raw.hex().upper()
        number = "".join(swapped[i + 1] + swapped[i] for i in range(0, len(swapped), 2)).rstrip("F")
        if kind & 0x70 == 0x10:
            number = "+" + number
    return number, at + 2 + octets


def _alphabet(dcs: int) -> str:
    if dcs & 0xC0 == 0x00 or dcs & 0xF0 == 0x40:  # general data coding (compressed text is not supported)
        if dcs & 0x20:
            return "compressed"
        return {0x00: "gsm7", 0x04: "8bit", 0x08: "ucs2"}.get(dcs & 0x0C, "gsm7")
    if dcs & 0xF0 == 0xF0:
        return "8bit" if dcs & 0x04 else "gsm7"
    if dcs & 0xF0 == 0xE0:
        return "ucs2"
    return "gsm7"


def decode_deliver(hex_pdu: str) -> Delivered:
    """An SMS-DELIVER as AT+CMGR gives it in PDU mode (with the service centre address in front)."""
    try:
        pdu = bytes.fromhex(hex_pdu.strip())
        at = 1 + pdu[0]  # skip the service centre address
        first = pdu[at]
        if first & 0x03 != 0x00:
            raise PduError("not an SMS-DELIVER")
        sender, at = _read_address(pdu, at + 1)
        dcs, timestamp = pdu[at + 1], pdu[at + 2: at + 9].hex()
        udl, data = pdu[at + 9], pdu[at + 10:]
    except IndexError:
        raise PduError("PDU cut short") from None
    except ValueError as exc:
        raise PduError(f"not hex: {exc}") from None
    text, concat = _read_user_data(first, _alphabet(dcs), udl, data)
    return Delivered(sender, text, _alphabet(dcs), concat is not None, timestamp, concat)


def _read_user_data(first: int, alphabet: str, udl: int, data: bytes) -> tuple[str | None, tuple[int, int, int] | None]:
    """The text of user data (None for 8-bit) and its concatenation header, if the UDHI bit says it has one."""
    header, concat = 0, None
    if first & 0x40 and data:  # a user data header
        header = 1 + data[0]
        concat = _concatenated(data[1:header])
    if alphabet == "gsm7":
        fill = (7 - (header * 8) % 7) % 7
        skip = (header * 8 + fill) // 7
        if len(data) * 8 < udl * 7:
            raise PduError("user data cut short")
        return septets_text(unpack_septets(data[header:], udl - skip, fill)), concat
    if alphabet == "ucs2":
        body = data[header:udl]
        if len(body) % 2 or len(data) < udl:
            raise PduError("UCS-2 user data cut short")
        return body.decode("utf-16-be", errors="replace"), concat
    return None, concat


def _concatenated(header: bytes) -> tuple[int, int, int] | None:
    """(reference, parts, this part) of a concatenation element in a user data header, else None."""
    at = 0
    while at + 1 < len(header):
        iei, length = header[at], header[at + 1]
        if iei in _IEI_CONCAT:
            value = header[at + 2: at + 2 + length]
            if len(value) != (3 if iei == 0x00 else 4):
                raise PduError("concatenation header cut short")
            return int.from_bytes(value[:-2], "big"), value[-2], value[-1]
        at += 2 + length
    return None


def _user_data(alphabet: str, text: str, header: bytes = b"") -> tuple[int, int, bytes]:
    """(data coding scheme, user data length, user data) of `text` after `header` (a UDH, with its length octet).
    GSM-7 septets start on a septet boundary after the header (fill bits)."""
    if alphabet == "ucs2":
        user = header + text.encode("utf-16-be")
        return 0x08, len(user), user
    fill = (7 - (len(header) * 8) % 7) % 7
    septets = gsm7_septets(text)
    return 0x00, (len(header) * 8 + fill) // 7 + len(septets), header + pack_septets(septets, fill)


def encode_submit(number: str, text: str, validity: int = 0xAA) -> tuple[str, int]:
    """An SMS-SUBMIT of GSM 7-bit `text` to `number`: (hex PDU with an empty service centre address,
    the length AT+CMGS wants: octets after the service centre address). Relative validity, 4 days.
    One SMS only: the button protocol's messages never span two (ValueError if it would)."""
    if len(gsm7_septets(text)) > SINGLE["gsm7"]:
        raise ValueError(f"{len(gsm7_septets(text))} septets: more than one SMS")
    return _submit(number, text, "gsm7", b"", validity)


def _submit(number: str, text: str, alphabet: str, header: bytes, validity: int) -> tuple[str, int]:
    dcs, udl, data = _user_data(alphabet, text, header)
    first = 0x11 | (0x40 if header else 0)  # SMS-SUBMIT, relative validity; UDHI when there is a header
    tpdu = bytes([first, 0x00]) + _address(number) + bytes([0x00, dcs, validity, udl]) + data
    return "00" + tpdu.hex().upper(), len(tpdu)


def split_text(text: str) -> tuple[str, list[str]]:
    """(alphabet, the texts of the parts) `text` is sent as: GSM-7 if every character is in it, else UCS-2;
    one part when one SMS holds it. A part never ends inside a GSM-7 escape pair or a UTF-16 surrogate pair,
    so each part is whole characters. ValueError beyond MAX_PARTS."""
    try:
        units: list[int] = gsm7_septets(text)
        alphabet = "gsm7"
    except ValueError:
        raw = text.encode("utf-16-be")  # UnicodeEncodeError (a ValueError) for a lone surrogate
        units = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
        alphabet = "ucs2"
    if len(units) <= SINGLE[alphabet]:
        return alphabet, [text]
    cuts, at = [], 0
    while at < len(units):
        end = min(at + PART[alphabet], len(units))
        last = units[end - 1]
        if end < len(units) and (last == _ESCAPE if alphabet == "gsm7" else 0xD800 <= last < 0xDC00):
            end -= 1  # an escape or a high surrogate: the pair goes whole into the next part
        cuts.append(units[at:end])
        at = end
    if len(cuts) > MAX_PARTS:
        raise ValueError(f"{len(units)} {'septets' if alphabet == 'gsm7' else 'UCS-2 units'}: "
                         f"{len(cuts)} SMS, more than {MAX_PARTS}")
    if alphabet == "gsm7":
        return alphabet, [septets_text(cut) for cut in cuts]
    return alphabet, [b"".join(u.to_bytes(2, "big") for u in cut).decode("utf-16-be") for cut in cuts]


def encode_submit_parts(number: str, text: str, reference: int, validity: int = 0xAA) -> list[tuple[str, int]]:
    """The SMS-SUBMITs (hex PDU, AT+CMGS length) that send `text` of any alphabet to `number`: one, or a
    concatenated SMS (TS 23.040 9.2.3.24.1, 8-bit `reference`, which should differ per message).
    `number` as people write it: spaces, dashes, dots and brackets between the digits are dropped."""
    number = number.translate(_SEPARATORS)
    alphabet, parts = split_text(text)
    if len(parts) == 1:
        return [_submit(number, text, alphabet, b"", validity)]
    return [_submit(number, part, alphabet, _concat_header(reference & 0xFF, len(parts), i), validity)
            for i, part in enumerate(parts, 1)]


def _concat_header(reference: int, parts: int, part: int) -> bytes:
    """A user data header (with its length octet) naming one part: IEI 0x00 (8-bit reference), or 0x08 (16-bit)."""
    if reference > 0xFF:
        return bytes([6, 0x08, 4, *reference.to_bytes(2, "big"), parts, part])
    return bytes([5, 0x00, 3, reference, parts, part])


def decode_submit(hex_pdu: str) -> Submitted:
    """An SMS-SUBMIT, as a modem receives it with AT+CMGS."""
    try:
        pdu = bytes.fromhex(hex_pdu.strip())
        at = 1 + pdu[0]
        first = pdu[at]
        if first & 0x03 != 0x01:
            raise PduError("not an SMS-SUBMIT")
        number, at = _read_address(pdu, at + 2)
        dcs = pdu[at + 1]
        at += 2 + {0x00: 0, 0x08: 7, 0x10: 1, 0x18: 7}[first & 0x18]
        udl, data = pdu[at], pdu[at + 1:]
    except IndexError:
        raise PduError("PDU cut short") from None
    except ValueError as exc:
        raise PduError(f"not hex: {exc}") from None
    alphabet = _alphabet(dcs)
    text, concat = _read_user_data(first, alphabet, udl, data)
    return Submitted(number, text, alphabet, concat)


def encode_deliver(sender: str, text: str, timestamp: str = "62113012000000", *, alphabet: str = "gsm7",
                   concat: tuple[int, int, int] | None = None) -> str:
    """An SMS-DELIVER as a modem stores it (hex, with an empty service centre address).

    `alphabet` gsm7 or ucs2; `concat` = (reference, parts, this part) adds a concatenation header."""
    header = b"" if concat is None else _concat_header(*concat)
    dcs, udl, data = _user_data(alphabet, text, header)
    first = 0x04 | (0x40 if header else 0)
    pdu = bytes([first]) + _address(sender) + bytes([0x00, dcs]) + bytes.fromhex(timestamp) + bytes([udl]) + data
    return "00" + pdu.hex().upper()
