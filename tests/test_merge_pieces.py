"""A giant part is fingerprinted a piece at a time, with the fingerprint of the whole path.

The piecewise path (views of the message, base64 / quoted-printable and the charset decoded
in pieces, ``>From`` unquoted and folded by segment) is forced here on small bodies with tiny
pieces, so every edge falls inside a multi-byte character, a CRLF, a base64 group, an escape
sequence or a ``>From`` line; fingerprints are stored in workspaces and must not move.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import quopri
import re
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import generate
from mailrecover import fingerprint
from mailrecover.rfc822 import decode_text, decode_text_pieces, fold_for_compare, folded_stream

from .test_merge_fast_path import _corpus_copies

_PIECES = (1, 2, 3, 4, 5, 7, 13, 64)


@contextlib.contextmanager
def _pieces(size: int | None) -> Iterator[None]:
    """Every payload read piecewise in pieces of ``size`` (None: every payload read whole)."""
    saved = fingerprint._STREAM_MIN, fingerprint._PIECE
    fingerprint._STREAM_MIN, fingerprint._PIECE = (0, size) if size else (1 << 62, saved[1])
    try:
        yield
    finally:
        fingerprint._STREAM_MIN, fingerprint._PIECE = saved


def _fingerprints(raw: bytes, sizes: tuple[int, ...] = _PIECES) -> tuple[str, list[str]]:
    with _pieces(None):
        whole = fingerprint._body_fingerprint(raw)
    pieces = []
    for size in sizes:
        with _pieces(size):
            pieces.append(fingerprint._body_fingerprint(raw))
    return whole, pieces


def _message(body: bytes, ctype: bytes = b"text/plain; charset=utf-8", cte: bytes = b"8bit") -> bytes:
    return (
        b"From: a@example.org\r\nMessage-ID: <p@example.org>\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Transfer-Encoding: "
        + cte
        + b"\r\n\r\n"
        + body
    )


_TEXT = (
    ">From the start\r\nこんにちは、世界。\r\n>>>From quoted twice\n  spaced   words\tand\ttabs\u3000全角\n"
    "e\u0301 combining, \u1100\u1161 jamo, ｶﾞ kana, \u00b4 acute, ① ㈱ ～ −\r\nFrom not quoted >From mid-line\n"
    "\n\n>From \r\nlast line without end ｷﾞｬ"
)
_NEC = b"\x1b$B-!-j\x1b(B"  # ① and ㈱ in ISO-2022-JP as Windows wrote it: CP932's own row 13


def _bodies() -> Iterator[tuple[str, bytes]]:
    utf8 = _TEXT.encode()
    b64 = base64.encodebytes(utf8)
    yield "utf-8 8bit", _message(utf8)
    yield "utf-8 crlf only", _message(b"\r\n".join([b"x" * 5, "あい".encode()] * 4))
    yield "no line end", _message(b"x" * 100 + "あいう".encode() + b"y" * 50)
    yield "no ascii", _message("日本語テキストｶﾞ가\u11a8が\u3099".encode() * 9)
    yield "quote run", _message(b">" * 40 + b"From a long run\n" + b">" * 40 + b"Fro")
    yield "utf-8 base64", _message(b64, cte=b"base64")
    yield "base64 one line", _message(base64.b64encode(utf8), cte=b"base64")
    yield "base64 crlf", _message(b64.replace(b"\n", b"\r\n"), cte=b"base64")
    yield "base64 missing padding", _message(base64.b64encode(utf8[:-1]).rstrip(b"="), cte=b"base64")
    yield "base64 bad letters", _message(b64[:30] + b" *" + b64[30:], cte=b"base64")
    yield "base64 padding inside", _message(base64.b64encode(b"ab") + base64.b64encode(b"cd"), cte=b"base64")
    yield "quoted-printable", _message(quopri.encodestring(utf8), cte=b"quoted-printable")
    yield (
        "qp soft breaks",
        _message(b"a=\r\nb=\nc=E3=81=\n=82 ==41 =4 =\r\n =ZZ end=", cte=b"quoted-printable"),
    )
    yield "qp no line end", _message(b"=E3=81=82" * 40, cte=b"quoted-printable")
    yield (
        "iso-2022-jp",
        _message(
            _TEXT.replace("①", "")
            .replace("㈱", "")
            .replace("\u1100\u1161", "")
            .replace("e\u0301", "")
            .replace("\u00b4", "")
            .replace("−", "")
            .replace("～", "")
            .encode("iso2022_jp", "ignore"),
            b"text/plain; charset=ISO-2022-JP",
            b"7bit",
        ),
    )
    jis = "日本語\r\n".encode("iso2022_jp") + _NEC + b"\r\n" + "ｶﾀｶﾅ".encode("iso2022_jp_ext", "ignore")
    yield "iso-2022-jp windows", _message(jis * 3, b"text/plain; charset=iso-2022-jp", b"7bit")
    yield "iso-2022-jp unlabelled", _message(jis, b"text/plain", b"7bit")
    yield "shift_jis", _message("①日本語 ｶﾞ\r\n".encode("cp932") * 3, b"text/plain; charset=Shift_JIS")
    yield "euc-jp", _message("日本語\n".encode("euc_jp") * 3, b"text/plain; charset=euc-jp")
    yield "utf-8 label, cp932 bytes", _message("日本語\n".encode("cp932") * 3)
    yield "latin-1 fallback", _message(b"caf\xe9 \x81\x81 \xff\n" * 3)
    yield "unknown label", _message(utf8, b"text/plain; charset=x-nothing")
    yield "non-text codec label", _message(b"aGVsbG8=\n", b"text/plain; charset=base64")
    yield "idna label", _message(b"xn--bcher-kva.example\n", b"text/plain; charset=idna")
    yield "utf-16", _message(_TEXT.encode("utf-16"), b"text/plain; charset=utf-16")
    yield "utf-16 odd length", _message(_TEXT.encode("utf-16") + b"\x00", b"text/plain; charset=utf-16")
    attachment = base64.encodebytes(bytes(range(256)) * 3)
    yield (
        "multipart",
        (
            b"From: a@example.org\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n"
            b"Content-Type: text/plain; charset=utf-8\n\n" + utf8 + b"\n--zz\r\n"
            b"Content-Type: text/html; charset=iso-2022-jp\nContent-Transfer-Encoding: 7bit\n\n"
            + jis
            + b"\r\n--zz\n"
            b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" + b64 + b"--zz\n"
            b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
            + attachment
            + b"--zz\n"
            b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
            + b"bad base64!\n--zz\n"
            b"Content-Type: text/plain\nContent-Disposition: attachment\n"
            b"Content-Transfer-Encoding: quoted-printable\n\n" + quopri.encodestring(utf8) + b"\n--zz--\n"
        ),
    )


@pytest.mark.parametrize(("name", "raw"), list(_bodies()), ids=[name for name, _ in _bodies()])
def test_piecewise_fingerprint_is_the_whole_one(name, raw):
    whole, pieces = _fingerprints(raw)
    assert pieces == [whole] * len(pieces), name


def test_piecewise_fingerprint_on_the_generated_corpus(tmp_path):
    generate(tmp_path / "corpus", 150)
    raws = _corpus_copies(tmp_path / "corpus")
    assert len(raws) >= 150
    for raw in raws:
        whole, pieces = _fingerprints(raw, (3, 64))
        assert pieces == [whole, whole]


def test_piecewise_fingerprint_on_the_corpus(corpus, tmp_path):
    """Every file of the shared corpus (other programs' mail and stores, as bytes) read as a message."""
    (tmp_path / "sources").symlink_to(corpus)
    raws = [raw for raw in _corpus_copies(tmp_path) if len(raw) < 1 << 20]
    assert len(raws) > 100
    for raw in raws:
        whole, pieces = _fingerprints(raw, (5, 4096))
        assert pieces == [whole, whole]


_CHARS = st.sampled_from(
    list("aZ >From\r\n\t\u3000あ日カ가\u11a8①ｶﾞ\u0301\u3099\u1100\u1161\u00b4～−é€\x00\ud800")
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(_CHARS, max_size=60).map("".join),
    charset=st.sampled_from(["utf-8", "iso-2022-jp", "shift_jis", "euc-jp", "latin-1", "utf-16", None]),
    cte=st.sampled_from([b"8bit", b"base64", b"quoted-printable"]),
    size=st.sampled_from(_PIECES),
)
def test_piecewise_fingerprint_of_any_text(text, charset, cte, size):
    data = text.encode(
        {"iso-2022-jp": "iso2022_jp_ext", None: "utf-8"}.get(charset, charset) or "utf-8", "ignore"
    )
    body = (
        base64.encodebytes(data)
        if cte == b"base64"
        else quopri.encodestring(data)
        if cte != b"8bit"
        else data
    )
    ctype = b"text/plain" + (b"; charset=" + charset.encode() if charset else b"")
    raw = _message(body, ctype, cte)
    whole, pieces = _fingerprints(raw, (size,))
    assert pieces == [whole]


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=40)
    | st.sampled_from([b'\x1b$B-!$"\x1b(B', "あ①".encode("cp932"), "é日".encode()]),
    charset=st.sampled_from(
        ["utf-8", "iso-2022-jp", "cp932", "x-nothing", "base64", "idna", "koi8-r", "", None]
    ),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_decode_text_pieces_has_decode_texts_fallbacks(data, charset, cuts):
    """Whatever the pieces, the first decoding that goes through is decode_text's."""
    edges = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in zip(edges, edges[1:])]
    for decoding in decode_text_pieces(lambda: iter(chunks), charset):
        try:
            text = "".join(decoding)
        except UnicodeDecodeError:
            continue
        assert text == decode_text(data, charset)
        return
    pytest.fail("no decoding went through")


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.lists(_CHARS, max_size=12).map("".join), max_size=8))
def test_folded_stream_is_fold_for_compare(lines):
    """Segments cut after line ends and before starters fold as the joined text does."""
    text = "\n".join(lines)
    cuts = [
        i
        for i, c in enumerate(text)
        if i and (text[i - 1] == "\n" or re.match(f"[{fingerprint._STARTERS}]", c))
    ]
    edges = [0, *cuts, len(text)]
    segments = [text[a:b] for a, b in zip(edges, edges[1:])]
    assert "".join(folded_stream(segments)) == fold_for_compare(text)


@pytest.mark.parametrize("shape", ["one line", "words", "base64", "quoted-printable", "in a multipart"])
def test_a_giant_part_is_not_copied(shape):
    """Fingerprinting allocates a small part of the message's size, not its body, payload
    or text again (each of those was a whole copy)."""
    size = 16 << 20
    if shape == "one line":
        raw = _message(b"x" * size)
    elif shape == "words":
        raw = _message(b"word " * (size // 5))
    elif shape == "base64":
        raw = _message(base64.encodebytes("日本語テキスト".encode() * (size // 28)), cte=b"base64")
    elif shape == "quoted-printable":
        raw = _message(
            quopri.encodestring(b"caf\xe9 au lait\n" * (size // 14)),
            b"text/plain; charset=latin-1",
            b"quoted-printable",
        )
    else:
        raw = (
            b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
            + b"x" * size
            + b"\n--b\nContent-Type: image/png\n\n"
            + b"\x89PNG" * (size // 4)
            + b"\n--b--\n"
        )
    tracemalloc.start()
    try:
        fingerprint.summarize(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(raw) // 4


def test_the_bom_is_skipped_without_a_copy():
    raw = _message(_TEXT.encode())
    assert fingerprint.summarize(codecs.BOM_UTF8 + raw).body_fp == fingerprint.summarize(raw).body_fp
