"""The forgiving decoders: the run-based ISO-2022-JP fallback maps exactly what a byte walk maps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrecover.rfc822 import (
    _iso2022jp_as_cp932,
    decode_header_value,
    decode_text,
    decode_text_pieces,
    header_fields,
    normalize_address,
)


def _byte_walk(data: bytes) -> str:
    """The mapping spelled out one byte at a time: the reference for the fast version."""
    out = bytearray()
    mode = "ascii"
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x1B and i + 2 < n:
            seq = data[i + 1 : i + 3]
            modes = {b"$B": "jis", b"$@": "jis", b"(B": "ascii", b"(J": "ascii", b"(I": "kana"}
            if seq in modes:
                mode, i = modes[seq], i + 3
                continue
        if mode == "jis" and 0x21 <= b <= 0x7E and i + 1 < n and 0x21 <= data[i + 1] <= 0x7E:
            j1, j2 = b, data[i + 1]
            s1 = ((j1 - 0x21) >> 1) + 0x81
            s1 += 0x40 if s1 > 0x9F else 0
            s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0) if j1 % 2 else j2 + 0x7E
            out += bytes((s1, s2))
            i += 2
            continue
        out.append(b + 0x80 if mode == "kana" and 0x21 <= b <= 0x5F else b)
        i += 1
    return out.decode("cp932", "replace")


_PIECES = st.sampled_from(
    [
        b"\x1b$B",
        b"\x1b$@",
        b"\x1b(B",
        b"\x1b(J",
        b"\x1b(I",
        b"\x1b",
        b"$",
        b"(",
        b"!",
        b"~",
        b"-!",
        b"!!",
        b"\x7f",
        b"\x80",
        b"_",
        b"`",
        b"\n",
        b"\xa0",
        b"a",
        b" ",
        b'$"',
        b"-5",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=16))
def test_iso2022jp_fallback_matches_the_byte_walk(pieces):
    data = b"".join(pieces)
    assert _iso2022jp_as_cp932(data) == _byte_walk(data)


def test_windows_iso2022jp_with_cp932_only_characters():
    # ① (NEC row 13) and ～ as Windows writes them in ISO-2022-JP
    data = b"\x1b$B-!!A\x1b(B ok"
    assert decode_text(data, "iso-2022-jp") == "①～ ok"


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ('"taro"@example.co.jp', "taro@example.co.jp"),  # quotes it does not need
        ("taro@example.co.jp.", "taro@example.co.jp"),  # the DNS root's dot
        ('<"Taro.Y"@Example.CO.JP.>', "taro.y@example.co.jp"),
        ('"taro yamada"@example.co.jp', '"taro yamada"@example.co.jp'),  # quotes it needs stay
        ('"a..b"@example.co.jp', '"a..b"@example.co.jp'),
    ],
)
def test_an_address_key_is_the_same_however_the_mailbox_was_written(written, key):
    assert normalize_address(written) == key


def test_a_byte_order_mark_before_the_header_is_not_part_of_its_first_field():
    raw = b"\xef\xbb\xbfDelivered-To: hanako@example.co.jp\r\nSubject: x\r\n\r\nbody\r\n"
    assert header_fields(raw) == [("delivered-to", b"hanako@example.co.jp"), ("subject", b"x")]


def test_remove_fields_copies_a_message_only_to_take_something_out():
    from mailrecover.rfc822 import remove_fields

    raw = b"From: a@example.com\nStatus: RO\n X-continued\nSubject: s\n\n" + b"body\n" * 1000
    assert remove_fields(raw, {"x-mozilla-status"}) is raw  # a giant body is not copied for nothing
    assert remove_fields(raw, {"status"}) == b"From: a@example.com\nSubject: s\n\n" + b"body\n" * 1000


def test_spaces_are_collapsed_a_piece_at_a_time_as_split_would(monkeypatch):
    """fold_for_compare collapses whitespace in pieces (a word list of a giant body took 15x
    its size); the result is exactly ``" ".join(text.split())`` wherever the pieces are cut."""
    import random

    from mailrecover import rfc822

    rnd = random.Random(7)
    alphabet = ["a", "bc", " ", "\t", "\r\n", "\u3000", "\xa0", "\u2028", "\x1c", "\x85", "日本", "e\u0301"]
    for _ in range(500):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60)))
        monkeypatch.setattr(rfc822, "_COLLAPSE_PIECE", rnd.randint(1, 9))
        assert rfc822.fold_for_compare(text) == " ".join(rfc822.unicodedata.normalize("NFKC", text).split())


# Python ships codecs that turn bytes into text but are no character set a mail can carry: a
# label naming one (by mistake or on purpose) must not rewrite the text it labels.
_NOT_CHARSETS = ["unicode_escape", "raw-unicode-escape", "punycode", "idna", "charmap", "undefined"]


@pytest.mark.parametrize("label", _NOT_CHARSETS)
@pytest.mark.parametrize("body", [b"caf\xc3\xa9 \\u0041\\x42 \\N{BULLET}", b"bcher-kva \\u0041"])
def test_a_label_naming_a_python_only_codec_is_no_charset(label: str, body: bytes) -> None:
    assert decode_text(body, label) == decode_text(body, None) == body.decode("utf-8")
    candidates = decode_text_pieces(lambda: [body[:9], body[9:]], label)
    assert next(t for t in map(_joined, candidates) if t is not None) == body.decode("utf-8")


@pytest.mark.parametrize("label", ["\x00", "utf-8\x00", "\x00x"])
def test_a_label_holding_a_nul_is_no_charset(label: str) -> None:
    assert decode_text(b"caf\xc3\xa9", label) == "café"


@pytest.mark.parametrize("label", _NOT_CHARSETS)
def test_an_encoded_word_in_a_python_only_codec_is_kept_as_its_bytes(label: str) -> None:
    word = f"=?{label}?Q?caf=C3=A9_\\u0041?=".encode()
    assert decode_header_value(word) == "café \\u0041"


def _joined(pieces: Iterator[str]) -> str | None:
    """A candidate decoding's text, or None where it gives up partway."""
    try:
        return "".join(pieces)
    except UnicodeDecodeError:
        return None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (b"plain ASCII subject", "plain ASCII subject"),
        (b"", ""),
        (b"\x1b$B$3$s$K$A$O\x1b(B", "こんにちは"),  # raw ISO-2022-JP is ASCII bytes: decoded, not kept
        (b"=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?= world", "こんにちは world"),
        ("caf\u00e9".encode(), "caf\u00e9"),
    ],
)
def test_header_values_plain_or_encoded_decode_alike(value, text):
    assert decode_header_value(value) == text
