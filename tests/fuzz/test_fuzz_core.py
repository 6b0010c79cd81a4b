"""The core's own parsing of raw bytes never raises, whatever the bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailrecover import rfc822
from mailrecover.fingerprint import Summary, summarize
from mailrecover.limits import Limits, mime_shape

from .harness import CORPUS, Outcome, tried
from .mutate import MUTATIONS, PAYLOADS, deep_mime
from .profiles import SETTINGS

_SAMPLES = sorted(p for p in CORPUS.glob("*/*.eml") if p.stat().st_size < 1 << 20) if CORPUS.is_dir() else []

#: Labels that name no codec, name a codec that is not for text, or are hostile strings.
_CHARSETS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "utf-8",
            "iso-2022-jp",
            "shift_jis",
            "cp932",
            "euc-jp",
            "utf-16",
            "utf-7",
            "base64",
            "rot13",
            "zlib",
            "idna",
            "punycode",
            "undefined",
            "unicode_escape",
            "hz",
            "x-unknown",
            "",
            '"',
            "\x00",
            "utf-8*ja",
            "iso-8859-1'en'",
            "ks_c_5601-1987",
            "gb2312",
            "big5",
            "koi8-r",
            "uu",
            "hex",
        ]
    ),
    st.text(max_size=20),
)

_NAMES = st.sampled_from(
    [
        b"From",
        b"To",
        b"Subject",
        b"Date",
        b"Message-ID",
        b"Received",
        b"Delivered-To",
        b"Content-Type",
        b"X-Original-To",
        b"Cc",
        b"\xff\xfe",
    ]
)
_ENCODED = st.builds(
    lambda cs, enc, text: b"=?" + cs + b"?" + enc + b"?" + text + b"?=",
    st.sampled_from([b"utf-8", b"iso-2022-jp", b"x-bogus", b"utf-16", b"", b"base64", b"idna"]),
    st.sampled_from([b"B", b"Q", b"b", b"X"]),
    st.binary(max_size=40).map(lambda b: b.replace(b"?", b"")),
)
_VALUE = st.lists(st.one_of(st.binary(max_size=60), _ENCODED), max_size=5).map(b" ".join)
_HEADER = st.lists(st.tuples(_NAMES, _VALUE), max_size=12).map(
    lambda fs: b"".join(n + b": " + v + b"\r\n" for n, v in fs)
)
_EXTRA = st.sampled_from(
    [b"", deep_mime(300), b"--x\r\n" * 500, b"\x00" * 300]
    + [p() for n, p in sorted(PAYLOADS.items()) if n in ("bad-encoded-words", "bad-charset-body")]
)
_MESSAGES = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda h, extra, body: h + b"\r\n" + extra + body, _HEADER, _EXTRA, st.binary(max_size=500)),
)


def _mutated_sample(data: st.DataObject) -> bytes:
    if not _SAMPLES:
        return data.draw(_MESSAGES)
    raw = data.draw(st.sampled_from(_SAMPLES)).read_bytes()
    op = data.draw(st.sampled_from(sorted(MUTATIONS)))
    return MUTATIONS[op](raw, data.draw(st.integers(0, 1 << 20)), data.draw(st.integers(0, 1 << 16))).data


def _count(raw: bytes, summary: Summary) -> None:
    tried(Outcome("core:summarize", ""), f"{len(raw)} bytes")


@SETTINGS
@given(raw=_MESSAGES)
def test_summarize_never_raises(raw: bytes) -> None:
    s = summarize(raw, Limits(max_mime_depth=20, max_mime_parts=200, max_header_bytes=4096))
    assert isinstance(s.content_fp, str) and len(s.content_fp) == 64
    assert all("over the limit" in r for r in s.limits)
    _count(raw, s)


@SETTINGS
@given(data=st.data())
def test_summarize_never_raises_on_damaged_real_mail(data: st.DataObject) -> None:
    raw = _mutated_sample(data)
    s = summarize(raw)
    assert summarize(raw) == s  # a pure function of the bytes
    _count(raw, s)


@SETTINGS
@given(raw=_MESSAGES, charset=_CHARSETS, names=st.sets(st.sampled_from(["from", "to", "received", "x"])))
def test_rfc822_helpers_never_raise(raw: bytes, charset: str | None, names: set[str]) -> None:
    end = rfc822.header_end(raw)
    assert 0 <= end <= len(raw)
    fields = rfc822.header_fields(raw)
    assert all(isinstance(n, str) and isinstance(v, bytes) for n, v in fields)
    kept = rfc822.remove_fields(raw, names)
    assert not {n for n, _ in rfc822.header_fields(kept)} & names
    assert kept.endswith(raw[end:])
    assert isinstance(rfc822.decode_text(raw, charset), str)
    for _, value in fields:
        assert isinstance(rfc822.decode_header_value(value), str)
        assert isinstance(rfc822.fold_for_compare(rfc822.decode_header_value(value)), str)
        assert all(isinstance(a, str) for a in rfc822.addresses(value))
        when = rfc822.parse_date(value)
        assert when is None or when.tzinfo is not None
    assert isinstance(rfc822.normalize_address(raw.decode("utf-8", "replace")), str)
    depth, parts = mime_shape(raw, stop_depth=50)
    assert 0 <= depth <= 51 and parts >= 0
    tried(Outcome("core:rfc822", ""), f"{len(raw)} bytes")


def test_the_core_fuzz_uses_real_samples_when_present() -> None:
    assert not CORPUS.is_dir() or len(_SAMPLES) > 20
