"""SMS PDUs (3GPP TS 23.040) and the GSM 7-bit default alphabet (TS 23.038), as modems speak them in PDU mode.

The gateway reads SMS-DELIVER PDUs (AT+CMGF=0, AT+CMGR) and sends
SMS-SUBMIT PDUs (AT+CMGS); the modem emulator (simulator/modem/) does the
reverse with the same tables. PDU mode, not text mode, because only the PDU
says what the text really was: its alphabet (a UCS-2 or 8-bit message is
`not_gsm7`) and whether it is one part of a concatenated message
(`multipart`), which text mode hides or reports differently per modem.
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
    alphabet = _alphabet(dcs)
    header, multipart = 0, False
    if first & 0x40 and data:  # a user data header
        header = 1 + data[0]
        multipart = _concatenated(data[1:header])
    if alphabet == "gsm7":
        fill = (7 - (header * 8) % 7) % 7
        skip = (header * 8 + fill) // 7
        if len(data) * 8 < udl * 7:
            raise PduError("user data cut short")
        text: str | None = septets_text(unpack_septets(data[header:], udl - skip, fill))
    elif alphabet == "ucs2":
        body = data[header:udl]
        if len(body) % 2 or len(data) < udl:
            raise PduError("UCS-2 user data cut short")
        text = body.decode("utf-16-be", errors="replace")
    else:
        text = None
    return Delivered(sender, text, alphabet, multipart, timestamp)


def _concatenated(header: bytes) -> bool:
    at = 0
    while at + 1 < len(header):
        iei, length = header[at], header[at + 1]
        if iei in _IEI_CONCAT:
            return True
        at += 2 + length
    return False


def encode_submit(number: str, text: str, validity: int = 0xAA) -> tuple[str, int]:
    """An SMS-SUBMIT of GSM 7-bit `text` to `number`: (hex PDU with an empty service centre address,
    the length AT+CMGS wants: octets after the service centre address). Relative validity, 4 days."""
    septets = gsm7_septets(text)
    if len(septets) > 160:
        raise ValueError(f"{len(septets)} septets: more than one SMS")
    tpdu = bytes([0x11, 0x00]) + _address(number) + bytes([0x00, 0x00, validity, len(septets)])
    tpdu += pack_septets(septets)
    return "00" + tpdu.hex().upper(), len(tpdu)


def decode_submit(hex_pdu: str) -> tuple[str, str | None, str]:
    """(destination, text, alphabet) of an SMS-SUBMIT, as a modem receives it with AT+CMGS."""
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
    if alphabet == "gsm7":
        return number, septets_text(unpack_septets(data, udl)), alphabet
    if alphabet == "ucs2":
        return number, data[:udl].decode("utf-16-be", errors="replace"), alphabet
    return number, None, alphabet


def encode_deliver(sender: str, text: str, timestamp: str = "62113012000000", *, alphabet: str = "gsm7",
                   concat: tuple[int, int, int] | None = None) -> str:
    """An SMS-DELIVER as a modem stores it (hex, with an empty service centre address).

    `alphabet` gsm7 or ucs2; `concat` = (reference, parts, this part) adds a concatenation header."""
    header = b"" if concat is None else bytes([5, 0x00, 3, *concat])
    first = 0x04 | (0x40 if header else 0)
    if alphabet == "ucs2":
        user = header + text.encode("utf-16-be")
        dcs, udl, data = 0x08, len(user), user
    else:
        fill = (7 - (len(header) * 8) % 7) % 7
        septets = gsm7_septets(text)
        dcs, udl = 0x00, (len(header) * 8 + fill) // 7 + len(septets)
        data = header + pack_septets(septets, fill)
    pdu = bytes([first]) + _address(sender) + bytes([0x00, dcs]) + bytes.fromhex(timestamp) + bytes([udl]) + data
    return "00" + pdu.hex().upper()
