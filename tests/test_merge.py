"""Fingerprints and grouping: what makes two copies one message, and what keeps them apart."""

from __future__ import annotations

import base64
import hashlib

from mailrecover.fingerprint import summarize
from mailrecover.rfc822 import decode_header_value, decode_text

from .support.builders import _delivered, _mbox_entry, _outlook_style, scenario_mails

MAILS = {m.name: m for m in scenario_mails()}


def test_copies_that_differ_only_in_transport_and_client_state_agree():
    m = MAILS["plain"]
    original = summarize(m.raw)
    delivered = summarize(_delivered(m, "mx.example.co.jp", "Mon, 18 Jun 2012 10:30:00 +0000"))
    crlf = summarize(m.raw.replace(b"\n", b"\r\n"))
    assert original.content_fp == delivered.content_fp == crlf.content_fp
    assert delivered.delivered_to == ("taro@example.co.jp",)
    assert delivered.received == 1 and original.received == 0


def test_outlook_reencoding_of_japanese_mail_agrees():
    for name in ("iso2022jp", "sjis"):
        original, exported = summarize(MAILS[name].raw), summarize(_outlook_style(MAILS[name]))
        assert exported.message_id == original.message_id
        assert exported.date == original.date  # +0900 rewritten, same instant
        assert exported.subject == original.subject
        assert exported.content_fp == original.content_fp, name


def test_mbox_quoting_does_not_change_the_fingerprint():
    m = MAILS["from-line"]
    quoted = _mbox_entry(m.raw, 0, crlf=False).split(b"\n", 3)[3]  # past From_ and X-Mozilla lines
    assert b">>From quoted" in quoted
    assert summarize(quoted).content_fp == summarize(m.raw).content_fp


def test_different_mails_sharing_a_message_id_differ():
    a, b = summarize(MAILS["reused-a"].raw), summarize(MAILS["reused-b"].raw)
    assert a.message_id == b.message_id == "same@shop.example"
    assert a.content_fp != b.content_fp


def test_attachment_bytes_count():
    m = MAILS["attachment"].raw
    changed = m.replace(base64.encodebytes(b"%PDF-1.4\n")[:8], b"JVBERi0y")
    assert changed != m
    assert summarize(changed).body_fp != summarize(m).body_fp


def test_windows_iso2022jp_with_cp932_characters_decodes():
    text = "①㈱～テスト"
    jis = b"\x1b$B" + bytes.fromhex("2d212d6a2141254625392548") + b"\x1b(B"  # no Python codec takes it
    assert decode_text(jis, "ISO-2022-JP") == text
    assert decode_text("①".encode("cp932"), "Shift_JIS") == "①"
    assert decode_text(b"\xff\xfe garbage", "no-such-charset")  # never raises


def test_encoded_words_with_wrong_labels_and_raw_8bit():
    assert decode_header_value(b"=?utf-8?B?5pel5pys6Kqe?=") == "日本語"
    assert decode_header_value(b"=?x-unknown?Q?caf=C3=A9?=") == "café"
    assert decode_header_value("件名".encode("cp932")) == "件名"
    assert isinstance(decode_header_value(b"=?utf-8?B?!!!?="), str)  # broken base64: no exception


def test_summary_of_garbage_never_raises():
    for raw in (
        b"",
        b"\x00" * 100,
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n--x--",
        b"Subject: =?iso-2022-jp?B?GyRCJSEbKEI=?=\n\n\xff\xfe",
    ):
        s = summarize(raw)
        assert len(s.content_fp) == 64


def test_a_byte_order_mark_before_the_header_does_not_make_another_mail():
    """Windows tools save .eml files with a UTF-8 BOM: the same mail as the copy without one."""
    plain = (
        b"Delivered-To: taro@example.co.jp\r\nFrom: a@example.org\r\nSubject: bom\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nMessage-ID: <bom@x>\r\n\r\nbody\r\n"
    )
    with_bom, without = summarize(b"\xef\xbb\xbf" + plain), summarize(plain)
    assert with_bom.content_fp == without.content_fp
    assert (with_bom.message_id, with_bom.delivered_to) == ("bom@x", ("taro@example.co.jp",))


def test_container_names_are_counted_across_window_edges(monkeypatch):
    """The MIME-depth guard counts container names a window at a time (no lower-cased copy of a
    giant message): a name cut by a window's edge still counts once, case-blind."""
    from mailrecover import fingerprint

    raw = b"".join(
        b"x" * (n % 7) + (b"Multipart/", b"MESSAGE/rfc822", b"multipart")[n % 3] for n in range(300)
    )
    lowered = raw.lower()
    expected = lowered.count(b"multipart/") + lowered.count(b"message/rfc822")
    for window in (1, 5, 9, 13, 64, 1 << 20):
        monkeypatch.setattr(fingerprint, "_WINDOW", window)
        assert fingerprint._count_containers(raw) == expected, window


def test_a_body_is_fingerprinted_the_same_in_pieces(monkeypatch):
    """Text parts are folded and hashed a piece at a time (a giant body is never held folded):
    whatever the piece sizes, the fingerprint is the one of the whole texts joined."""
    from mailrecover import fingerprint, rfc822

    text = "Grüße  aus\t東京。\r\n\r\nＡＢＣ ～ ① and some   more words\u3000here.\n" * 40
    raw = (
        b"From: a@example.com\nSubject: s\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\n'
        + text.encode()
        + b"\n--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: application/pdf\n\n%PDF\n"
        b"--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(text.encode())
        + b"--b--\n"
    )
    whole = summarize(raw)
    expected = fingerprint.digest(
        "\x01".join([rfc822.fold_for_compare(text)] * 2), hashlib.sha256(b"%PDF").hexdigest()
    )
    assert whole.body_fp == expected
    for piece in (1, 3, 7, 64):
        monkeypatch.setattr(rfc822, "_COLLAPSE_PIECE", piece)
        monkeypatch.setattr(fingerprint, "_DIGEST_PIECE", piece)
        assert summarize(raw) == whole, piece
