"""The fast path of the body fingerprint (no parser over the body) gives exactly what the full parse gives."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import generate
from mailrecover import fingerprint
from mailrecover.pluginkit import split_mbox
from mailrecover.rfc822 import header_end


def _full_path(raw: bytes) -> str:
    """The body fingerprint as it is computed without any fast path."""
    try:
        return fingerprint._mime_fingerprint(raw)
    except Exception:
        body = raw[header_end(raw) :].replace(b"\r\n", b"\n")
        return fingerprint.digest("raw", hashlib.sha256(body).hexdigest())


def _corpus_copies(root: Path) -> list[bytes]:
    raws = []
    for dirpath, _dirs, files in os.walk(root / "sources"):
        for name in sorted(files):
            data = (Path(dirpath) / name).read_bytes()
            if data.startswith(b"From "):
                raws += [raw for _off, _sep, raw, _cut in split_mbox(data)]
            elif data:
                raws.append(data)
    return raws


def test_fast_and_full_path_agree_on_the_generated_corpus(tmp_path):
    generate(tmp_path / "corpus", 400)
    raws = _corpus_copies(tmp_path / "corpus")
    assert len(raws) >= 400
    fast = multipart = 0
    for raw in raws:
        quick = fingerprint._fast_fingerprint(raw)
        if quick is not None:
            fast += 1
            multipart += b"multipart/" in raw
            assert quick == fingerprint._mime_fingerprint(raw)
        assert fingerprint._body_fingerprint(raw) == _full_path(raw)
    assert fast >= 0.95 * len(raws)  # the fast path is really taken, for multipart mail too
    assert multipart >= 0.05 * len(raws)


_HEADER_LINES = st.sampled_from(
    [
        b"From: a@example.com",
        b"Content-Type: text/plain;",
        b" charset=koi8-r",
        b"\tcharset=iso-2022-jp",
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: message/rfc822",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding:",
        b"\tbase64",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Disposition: attachment; filename=a.txt",
        b"CONTENT-TYPE: Application/PDF",
        b"content-type : text/html",
        b"From someone",
        b":empty name",
        b"not a header",
        b"X-Odd: \x0bvertical",
        b"X-Odd: bare\rcr",
        b"X-8bit: \xe3\x81\x82",
    ]
)
_BODY_LINES = st.sampled_from(
    [
        b"",
        b"--b",
        b"--b--",
        b"SGVsbG8gd29ybGQ=",
        b"\xc1\xc2\xd7",
        b"=E3=81=82=",
        b">From quoted",
        b'\x1b$B$"\x1b(B',
        b" folded",
        b"From the start",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_HEADER_LINES, max_size=7),
    st.booleans(),
    st.lists(_BODY_LINES, max_size=4),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
@example([b"Content-Type: text/plain;", b" charset=koi8-r"], True, [b"\xc1\xc2\xd7"], b"\n")
@example([b"From: a@example.com", b"From someone"], True, [b"SGVsbG8gd29ybGQ="], b"\r\n")
@example(
    [b"Content-Transfer-Encoding: base64", b"Content-Type: text/plain;", b"\tcharset=iso-2022-jp"],
    False,
    [b"gqCCoA=="],
    b"\n",
)
def test_fast_path_never_differs_from_the_full_parse(header, blank, body, eol):
    raw = eol.join(header + ([b""] if blank else []) + body) + eol
    assert fingerprint._body_fingerprint(raw) == _full_path(raw)


def test_cases_the_fast_path_leaves_to_the_parser():
    fast = fingerprint._fast_fingerprint
    assert fast(b"Content-Type: multipart/mixed; boundary=b\n\n--b--\n") is None  # no part
    assert fast(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n") is None  # no close
    assert fast(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nhi\n--b--\n") is None
    assert fast(b"Content-Type: multipart/digest; boundary=b\n\n--b\n\nhi\n--b--\n") is None
    assert fast(b"Content-Type: multipart/mixed\n\n--b\n\nhi\n--b--\n") is None  # no boundary
    assert fast(b"Content-Type: message/rfc822\n\nFrom: x\n\nhi\n") is None
    assert fast(b"Subject: a\x0bb\n\nbody\n") is None
    assert fast(b"Subject: a\rb\n\nbody\n") is None
    # the parser moves a 'From ' line that ends the header into the body
    raw = b"Subject: a\nFrom someone\n\nbody\n"
    assert fast(raw) is None
    assert fingerprint._body_fingerprint(raw) == _full_path(raw)
    for raw in (
        b"Subject: a\n\nbody\n",
        b"Content-Type: multipart/mixed; boundary=b\n\npre\n--b\n\nhi\n--b--\nepi\n",
    ):
        assert fast(raw) == fingerprint._mime_fingerprint(raw)


_BOUNDARIES = st.sampled_from([b"b", b"b2", b"=_x", b"b--"])


@st.composite
def _multipart(draw, depth: int = 0) -> list[bytes]:
    """Lines of a part or message: mostly well formed, now and then damaged the ways mail is."""
    head = draw(st.lists(_HEADER_LINES, max_size=3))
    if depth < 2 and draw(st.booleans()):
        boundary = draw(_BOUNDARIES)
        kind = draw(st.sampled_from([b"mixed", b"alternative", b"digest"]))
        head.append(b"Content-Type: multipart/" + kind + b'; boundary="' + boundary + b'"')
        body = draw(st.lists(_BODY_LINES, max_size=2))  # preamble
        for _ in range(draw(st.integers(0, 3))):
            body.append(b"--" + boundary + draw(st.sampled_from([b"", b" ", b"\t ", b"--"])))
            body += draw(_multipart(depth + 1))
        if draw(st.booleans()):
            body.append(b"--" + boundary + b"--")
        body += draw(st.lists(_BODY_LINES, max_size=2))  # epilogue
    else:
        body = draw(st.lists(_BODY_LINES, max_size=3))
    return head + ([b""] if draw(st.booleans()) else []) + body


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_multipart(), st.sampled_from([b"\n", b"\r\n", b"\r"]), st.booleans())
@example(
    [
        b"Content-Type: multipart/mixed; boundary=b",
        b"",
        b"--b",
        b"Content-Type: multipart/mixed; boundary=b2",
        b"",
        b"--b2",
        b"",
        b"x",
        b"--b",
        b"y",
        b"--b2--",
        b"--b--",
    ],
    b"\n",
    True,
)
def test_multipart_fast_path_never_differs_from_the_full_parse(lines, eol, final_eol):
    raw = eol.join(lines) + (eol if final_eol else b"")
    quick = fingerprint._fast_fingerprint(raw)
    assert quick is None or quick == fingerprint._mime_fingerprint(raw)
    assert fingerprint._body_fingerprint(raw) == _full_path(raw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_HEADER_LINES | _BODY_LINES, st.sampled_from([b"\n", b"\r\n", b"\r", b"\r\r\n", b""])),
        max_size=9,
    ),
    st.integers(0, 3),
)
@example([(b"Content-Type: text/plain;", b"\r\n"), (b" charset=koi8-r", b"\r\n"), (b"", b"\r\n")], 0)
@example([(b"X-A: b", b"\n"), (b"content-transfer-encoding:", b"\n"), (b"\tbase64", b"")], 2)
@example([(b"From someone", b"\n"), (b"\tcharset=iso-2022-jp", b"\n"), (b"From someone", b"\n")], 0)
def test_header_compiled_scans_agree_with_the_line_loop(lines, lo):
    """Where the header ends, and its content fields, come out of the compiled scans exactly
    as out of the line loop they skip ahead of, whatever the line breaks."""
    raw = b"".join(a + b for a, b in lines)
    lo = min(lo, len(raw))
    bounds = fingerprint._parser_header(raw, lo, len(raw))
    assert bounds == fingerprint._parser_header_from(raw, lo, len(raw), lo, -1)
    if bounds is not None:
        head = raw[lo : bounds[0]]
        fast, slow = fingerprint._content_fields(head), fingerprint._content_fields_by_line(head)
        assert fast.items() == slow.items() and fast.get_content_type() == slow.get_content_type()


_FIELD_VALUES = st.sampled_from(
    [
        b"text/plain; charset=iso-2022-jp",
        b'text/plain; name="a.txt"; charset="UTF-8"',
        b"application/octet-stream; name*=utf-8''%E8%B3%87%E6%96%99.pdf",
        b'multipart/mixed; boundary="=_b1"',
        b'attachment; filename*0="re"; filename*1="port.doc"',
        b"inline",
        b"TEXT/HTML; CHARSET=Shift_JIS; Name=x",
        b"bogus",
        b"",
    ]
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"Content-Type", b"content-type", b"Content-Disposition", b"X-Other"]),
            _FIELD_VALUES,
        ),
        max_size=4,
    ),
    st.lists(st.sampled_from(["type", "charset", "filename", "boundary", "params"]), max_size=6),
)
def test_content_fields_answer_as_the_stdlib_message_whatever_is_asked_first(fields, asks):
    """The content fields split each field's parameters once and keep them: every answer,
    asked in any order and again, is the stdlib message's for the same fields, also when a
    field is added after a first answer."""
    head = b"".join(name + b": " + value + b"\n" for name, value in fields)
    ours, theirs = fingerprint._content_fields(head), fingerprint._content_fields_by_line(head)

    def answers(msg):
        got = []
        for ask in [*asks, *asks]:
            if ask == "type":
                got.append(msg.get_content_type())
            elif ask == "charset":
                got.append(msg.get_content_charset())
            elif ask == "filename":
                got.append(msg.get_filename())
            elif ask == "boundary":
                got.append(msg.get_boundary())
            else:
                got.append(msg.get_params(header="content-disposition"))
                got.append(msg.get_params())
        return got

    assert answers(ours) == answers(theirs)
    for msg in (ours, theirs):
        msg.set_raw("Content-Type", "text/plain; charset=koi8-r; name=late.txt")
    assert answers(ours) == answers(theirs)
