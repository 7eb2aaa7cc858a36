"""DC-09 codec: framing, CRC, AES rules, answers; cross-checked with pysiaalarm's own code in process."""

from __future__ import annotations

import random
import time

import pytest
from pysiaalarm import SIAAccount
from pysiaalarm.event import SIAEvent

from gateway.dc09.answer import AnswerError, parse_answer
from gateway.dc09.crc import crc16_arc
from gateway.dc09.crypto import BLOCK, Dc09Key, KeyFormatError
from gateway.dc09.frame import FrameError, frame, split_frames, unframe
from gateway.dc09.location import Location
from gateway.dc09.message import Message, MessageError, Route, decode_message
from gateway.dc09.timestamp import format_timestamp, parse_timestamp
from tests.gateway.dc09.harness import KEY_HEX, PYSIA_KEY

ROUTE = Route("1", "1")
KEY = Dc09Key.from_hex(KEY_HEX)
RNG = random.Random(7)
NOW = 1_780_000_000.0  # 2026-05-28


def adm(data: str = "#123456|1120 01 001", **fields: object) -> Message:
    values: dict[str, object] = {
        "message_id": "ADM-CID",
        "sequence": 42,
        "route": ROUTE,
        "account": "123456",
        "timestamp": NOW,
        "data": data,
    } | fields
    return Message(**values)  # type: ignore[arg-type]


def text_of(raw: bytes) -> str:
    frames, rest = split_frames(raw)
    assert rest == b"" and len(frames) == 1
    return frames[0]


def pysia_parse(raw: bytes, key: str | None = None) -> SIAEvent:
    """pysiaalarm's receiving path, as its server runs it: strip the frame, parse, check CRC."""
    account = SIAAccount("123456", key, allowed_timeband=None)
    return SIAEvent.from_line(raw.decode("ascii").strip(), {"123456": account})


def test_crc16_arc_check_value_and_pysiaalarm_agree() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D  # the catalogued check value of CRC-16/ARC
    rng = random.Random(1)
    for _ in range(200):
        text = "".join(rng.choice('"#[]|_:,-ADMCIN0123456789 ') for _ in range(rng.randrange(1, 90)))
        assert f"{crc16_arc(text.encode()):04X}" == SIAEvent._crc_calc(text)


def test_plain_message_layout() -> None:
    raw = adm(extended=("X105.2612345", "Y-5.4291234")).encode(None, RNG)
    body = '"ADM-CID"0042R1L1#123456[#123456|1120 01 001][X105.2612345][Y-5.4291234]_20:26:40,05-28-2026'
    assert raw == b"\n" + f"{crc16_arc(body.encode()):04X}{len(body):04X}".encode() + body.encode() + b"\r"


def test_plain_and_encrypted_messages_parse_in_pysiaalarm() -> None:
    plain = pysia_parse(adm().encode(None, RNG))
    assert (plain.valid_message, plain.code, plain.account, plain.ri, plain.sequence) == (
        True,
        "PA",
        "123456",
        "001",
        "0042",
    )
    secret = pysia_parse(adm(data="#123456|3137 01 001").encode(KEY, RNG), key=PYSIA_KEY)
    assert (secret.valid_message, secret.encrypted, secret.code, secret.event_qualifier) == (True, True, "TR", "3")


def test_encrypted_region_follows_the_standard() -> None:
    message = adm()
    text = text_of(message.encode(KEY, RNG))
    body = unframe(text)
    assert body.startswith('"*ADM-CID"0042R1L1#123456[')  # '*' before the id; '[' stays in clear
    cipher = body.split("[", 1)[1]
    assert len(cipher) % (2 * BLOCK) == 0 and cipher == cipher.upper()
    plain = KEY.decrypt(cipher)
    pad, _, region = plain.partition("|")
    assert region == "#123456|1120 01 001]" + format_timestamp(NOW)
    assert 1 <= len(pad) <= BLOCK and not set(pad) & set("|[]")
    assert decode_message(text, KEY).message == message


def test_pad_fills_to_a_block_and_an_aligned_region_gets_a_full_block() -> None:
    pads = set()
    for extra in range(BLOCK):  # every region length modulo 16
        probe = adm(extended=("I" + "z" * extra,))
        plain = KEY.decrypt(unframe(text_of(probe.encode(KEY, RNG))).split("[", 1)[1])
        pad, bar, rest = plain.partition("|")
        after_pad = len(bar) + len(rest)
        assert len(pad) == (BLOCK if after_pad % BLOCK == 0 else BLOCK - after_pad % BLOCK)
        pads.add(len(pad))
    assert pads == set(range(1, BLOCK + 1))


def test_the_same_message_encrypts_differently_each_time() -> None:
    assert adm().encode(KEY, RNG) != adm().encode(KEY, RNG)


def test_key_sizes_and_key_errors_never_show_the_key() -> None:
    assert [Dc09Key.from_hex("ab" * n).bits for n in (16, 24, 32)] == [128, 192, 256]
    for bad in ("ab" * 15, "zz" * 16, "ab" * 20):
        with pytest.raises(KeyFormatError) as caught:
            Dc09Key.from_hex(bad)
        assert bad not in str(caught.value)
    assert KEY_HEX not in repr(KEY)


@pytest.mark.parametrize("position", ["crc", "length", "body"])
def test_tampered_frames_are_refused(position: str) -> None:
    text = text_of(adm().encode(None, RNG))
    index = {"crc": 0, "length": 7, "body": 20}[position]
    tampered = text[:index] + ("1" if text[index] != "1" else "2") + text[index + 1 :]
    with pytest.raises(FrameError):
        decode_message(tampered, None)


def test_pysiaalarm_refuses_a_bad_crc() -> None:
    text = text_of(adm().encode(None, RNG))
    tampered = ("0000" if not text.startswith("0000") else "FFFF") + text[4:]
    event = pysia_parse(f"\n{tampered}\r".encode())
    assert not event.valid_message and event.create_response() == b"\n\r"


def test_wrong_key_does_not_decode() -> None:
    text = text_of(adm().encode(KEY, RNG))
    with pytest.raises(MessageError):
        decode_message(text, Dc09Key.from_hex("A5" * 16))


def test_fields_are_validated() -> None:
    with pytest.raises(MessageError):
        adm(sequence=0)
    with pytest.raises(MessageError):
        adm(sequence=10000)
    with pytest.raises(MessageError):
        adm(account="12")
    with pytest.raises(MessageError):
        adm(data="#123456|1120 01 001]")
    with pytest.raises(MessageError):
        Route("1234567", "1")
    with pytest.raises(FrameError):
        frame("x" * 0x1000)


def test_timestamps_are_utc() -> None:
    assert format_timestamp(0) == "_00:00:00,01-01-1970"
    assert parse_timestamp(format_timestamp(NOW)) == NOW


def test_location_is_exact_in_both_directions() -> None:
    where = Location(lat_e7=-54291234, lon_e7=1052612345)
    assert where.extended_data() == ("X105.2612345", "Y-5.4291234")
    assert Location(lat_e7=-1, lon_e7=-1800000000).extended_data() == ("X-180.0000000", "Y-0.0000001")
    decoded = decode_message(text_of(adm(extended=where.extended_data()).encode(KEY, RNG)), KEY).message
    assert Location.from_extended_data(decoded.extended) == where
    with pytest.raises(ValueError):
        Location(lat_e7=900000001, lon_e7=0)


# ---- answers, built by pysiaalarm's own response code ----------------------------------------------------------


def pysia_answer(message: Message, key: str | None, timeband: tuple[int, int] | None = None) -> str:
    raw = message.encode(Dc09Key.from_hex(key.encode().hex()) if key else None, RNG).decode().strip()
    account = SIAAccount("123456", key, allowed_timeband=timeband)
    return text_of(SIAEvent.from_line(raw, {"123456": account}).create_response())


def test_ack_from_pysiaalarm_plain_and_encrypted() -> None:
    plain = parse_answer(pysia_answer(adm(), None), None)
    assert (plain.kind, plain.sequence, plain.account, plain.encrypted) == ("ACK", 42, "123456", False)
    secret = parse_answer(pysia_answer(adm(), PYSIA_KEY), KEY)
    assert (secret.kind, secret.sequence, secret.encrypted) == ("ACK", 42, True)
    assert secret.timestamp is not None and abs(secret.timestamp - time.time()) < 5


def test_encrypted_ack_with_another_key_is_refused() -> None:
    with pytest.raises(AnswerError):
        parse_answer(pysia_answer(adm(), PYSIA_KEY), Dc09Key.from_hex("A5" * 16))


def test_nak_for_time_carries_the_receivers_clock() -> None:
    stale = adm(timestamp=time.time() - 600)
    nak = parse_answer(pysia_answer(stale, None, timeband=(40, 20)), None)
    assert (nak.kind, nak.sequence) == ("NAK", 0)
    assert nak.timestamp is not None and abs(nak.timestamp - time.time()) < 5


def test_duh_bare_nak_and_tampered_answers() -> None:
    duh_body = '"DUH"0042R1L1#123456[]'
    duh = parse_answer(text_of(frame(duh_body)), None)
    assert (duh.kind, duh.sequence, duh.account) == ("DUH", 42, "123456")
    assert parse_answer('"NAK"', None).kind == "NAK"
    ack = text_of(frame('"ACK"0042R1L1#123456[]'))
    with pytest.raises(FrameError):
        parse_answer(ack[:8] + ack[8:].replace("0042", "0043"), None)
    with pytest.raises(FrameError):
        parse_answer(ack[:4] + "0099" + ack[8:], None)
    with pytest.raises(AnswerError):
        parse_answer(text_of(frame('"RSP"0042R1L1#123456[]')), None)


def test_split_frames_keeps_partial_input_and_drops_empty_frames() -> None:
    ack = frame('"ACK"0001R1L1#123456[]')
    frames, rest = split_frames(b"\n\r" + ack + ack[:5])
    assert frames == [ack.decode().strip()] and rest == ack[:5]
