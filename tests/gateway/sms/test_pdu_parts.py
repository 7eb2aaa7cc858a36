"""Concatenated SMS (gateway/sms/pdu.py `encode_submit_parts`): what the notifier's texts are sent as.

Every part is decoded again with `decode_submit` (the modem emulator's reader) and the parts joined by
their header, as a phone does; the boundaries are TS 23.040's: 160 septets or 70 UCS-2 units alone,
153 or 67 beside the 6-octet concatenation header.
"""

from __future__ import annotations

import pytest

from gateway.sms import pdu

TO = "+6281277001234"


def parts_of(text: str, reference: int = 42) -> list[pdu.Submitted]:
    return [pdu.decode_submit(hex_pdu) for hex_pdu, _ in pdu.encode_submit_parts(TO, text, reference)]


def joined(parts: list[pdu.Submitted]) -> str:
    """The parts put together by their headers (in the order of their part numbers, whatever they came in)."""
    if len(parts) == 1 and parts[0].concat is None:
        assert parts[0].text is not None
        return parts[0].text
    assert all(p.concat is not None for p in parts), "a part without a concatenation header"
    concats = [p.concat for p in parts if p.concat is not None]
    assert {c[0] for c in concats} == {concats[0][0]} and {c[1] for c in concats} == {len(parts)}
    assert sorted(c[2] for c in concats) == list(range(1, len(parts) + 1))
    return "".join(p.text or "" for _, p in sorted(zip([c[2] for c in concats], parts, strict=True),
                                                   key=lambda pair: pair[0]))


def septets(text: str | None) -> int:
    assert text is not None
    return len(pdu.gsm7_septets(text))


@pytest.mark.parametrize(("length", "count"), [(1, 1), (153, 1), (154, 1), (160, 1), (161, 2), (306, 2),
                                               (307, 3), (153 * pdu.MAX_PARTS, pdu.MAX_PARTS)])
def test_gsm7_splits_at_153_septets_and_joins_back(length: int, count: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(length))
    parts = parts_of(text)
    assert len(parts) == count and joined(parts) == text
    assert {p.alphabet for p in parts} == {"gsm7"} and {p.number for p in parts} == {TO}
    if count > 1:
        assert [septets(p.text) for p in parts[:-1]] == [153] * (count - 1)
        assert [p.concat for p in parts] == [(42, count, i) for i in range(1, count + 1)]
    else:
        assert parts[0].concat is None, "one SMS carries no header"


def test_a_part_is_header_fill_bit_then_septets() -> None:
    """Checked on the octets, not through the decoder: UDHI, UDL 7 + 153, IEI 0x00, a zero fill bit."""
    text = "@" + "b" * 200  # "@" is septet 0: it shows whether the content starts after exactly one fill bit
    hex_pdu, length = pdu.encode_submit_parts(TO, text, 0x9C)[0]
    raw = bytes.fromhex(hex_pdu)
    assert raw[0] == 0 and length == len(raw) - 1
    assert raw[1] & 0x40, "UDHI"
    udl_at = 1 + 2 + 2 + (len(TO) - 1 + 1) // 2 + 3  # first, MR, address (length, type, BCD), PID, DCS, VP
    assert raw[udl_at] == 160
    user = raw[udl_at + 1:]
    assert user[:6] == bytes([5, 0x00, 3, 0x9C, 2, 1])
    # octet 6: the fill bit (bit 0), then "@" (septet 0) in bits 1-7; octet 7 starts with "b" (septet 0x62)
    assert user[6] == 0x00 and user[7] & 0x7F == 0x62
    assert len(user) == 6 + (1 + 153 * 7 + 7) // 8


def test_an_escape_pair_is_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10  # € is ESC + 0x65: septets 153 and 154
    parts = parts_of(text)
    assert [p.text for p in parts] == ["a" * 152, "€" + "b" * 10]
    assert joined(parts) == text
    brackets = "[" * 90  # 180 septets, all pairs: 76 whole pairs (152 septets) in the first part
    parts = parts_of(brackets)
    assert [p.text for p in parts] == ["[" * 76, "[" * 14] and joined(parts) == brackets


@pytest.mark.parametrize(("length", "count"), [(70, 1), (71, 2), (134, 2), (135, 3),
                                               (67 * pdu.MAX_PARTS, pdu.MAX_PARTS)])
def test_ucs2_splits_at_67_characters(length: int, count: int) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(length))
    parts = parts_of(text)
    assert len(parts) == count and joined(parts) == text and {p.alphabet for p in parts} == {"ucs2"}
    if count > 1:
        assert [len(p.text or "") for p in parts[:-1]] == [67] * (count - 1)


@pytest.mark.parametrize("text", ["Toko Renée, Jl. Peñas", "é ñ ü Ä € [x]"])
def test_gsm7_letters_with_accents_stay_gsm7(text: str) -> None:
    assert [(p.alphabet, p.text) for p in parts_of(text)] == [("gsm7", text)]


@pytest.mark.parametrize("text", ["Ayşe", "王小明", "محمد", "Budi 🚨", "Ç Ł"])
def test_anything_else_goes_as_ucs2(text: str) -> None:
    assert [(p.alphabet, p.text) for p in parts_of(text)] == [("ucs2", text)]


def test_a_surrogate_pair_is_never_split() -> None:
    text = "王" * 66 + "🚨" * 3  # 72 UTF-16 units; the first emoji's units are 67 and 68
    parts = parts_of(text)
    assert [p.text for p in parts] == ["王" * 66, "🚨" * 3] and joined(parts) == text
    alone = "王" * 68 + "🚨"  # 70 units: one SMS, no header
    assert [(p.text, p.concat) for p in parts_of(alone)] == [(alone, None)]


def test_more_than_the_cap_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match=f"9 SMS, more than {pdu.MAX_PARTS}"):
        pdu.encode_submit_parts(TO, "a" * (153 * pdu.MAX_PARTS + 1), 1)
    with pytest.raises(ValueError, match=f"9 SMS, more than {pdu.MAX_PARTS}"):
        pdu.encode_submit_parts(TO, "王" * (67 * pdu.MAX_PARTS + 1), 1)


def test_the_reference_is_the_callers_and_a_16_bit_one_is_read_too() -> None:
    assert {p.concat[0] for p in parts_of("x" * 400, 7) if p.concat} == {7}
    assert {p.concat[0] for p in parts_of("x" * 400, 300) if p.concat} == {300 & 0xFF}
    delivered = pdu.decode_deliver(pdu.encode_deliver("+6281", "part", concat=(0x1234, 3, 2)))
    assert (delivered.text, delivered.multipart, delivered.concat) == ("part", True, (0x1234, 3, 2))


def test_protocol_sms_stay_single() -> None:
    """The button protocol's own SMS (acks) go through encode_submit, which still refuses a second part."""
    with pytest.raises(ValueError, match="more than one SMS"):
        pdu.encode_submit(TO, "a" * 161)
    with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
        pdu.encode_submit(TO, "王")


def test_a_number_written_with_spaces_and_dashes_is_dialled_as_its_digits() -> None:
    """Contacts' phones are stored as people typed them (the API keeps "+62 812 7000 1234")."""
    assert [p.number for p in parts_of("x")] == [TO]
    assert [pdu.decode_submit(h).number for h, _ in pdu.encode_submit_parts("+62 812-7700 (1234)", "x", 1)] == [TO]
    with pytest.raises(ValueError, match="not a phone number"):
        pdu.encode_submit_parts("+62 812 7700 1234 ext 5", "x", 1)
