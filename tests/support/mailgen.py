"""Realistic messages for IMAP tests and benchmarks: Japanese and English, with attachments.

Sizes follow what real mailboxes hold: mostly a few kilobytes, some tens, a few with
attachments of hundreds of kilobytes.  Everything is CRLF, as IMAP stores and returns it.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta, timezone

__all__ = ["JST", "message", "messages"]

JST = timezone(timedelta(hours=9))
_TEXT_JA = "お世話になっております。見積もりの件、ご確認をお願いいたします。①②③ ㈱テスト\n"
_TEXT_EN = "Please find the minutes of today's meeting below. Regards, Taro\n"


def message(i: int, *, size: int = 2000, japanese: bool = False, attachment: int = 0) -> bytes:
    """Message number ``i``: unique Message-ID, a body of about ``size`` bytes."""
    date = datetime(2012, 6, 1, 9, 0, tzinfo=JST) + timedelta(minutes=37 * i)
    head = [
        f"Return-Path: <sender{i % 7}@example.net>",
        f"Received: from mx{i % 3}.example.net by mail.example.co.jp; {date:%a, %d %b %Y %H:%M:%S %z}",
        f"Message-ID: <{i}.{date:%Y%m%d%H%M}@example.net>",
        f"Date: {date:%a, %d %b %Y %H:%M:%S %z}",
        f"From: Sender {i % 7} <sender{i % 7}@example.net>",
        "To: taro@example.co.jp",
    ]
    if japanese:
        subject = base64.b64encode(f"見積もり {i} 件目".encode("iso-2022-jp")).decode()
        head.append(f"Subject: =?ISO-2022-JP?B?{subject}?=")
        text = (_TEXT_JA * (size // len(_TEXT_JA.encode("iso-2022-jp", "replace")) + 1)).encode(
            "iso-2022-jp", "replace"
        )[:size]
        charset = "ISO-2022-JP"
        cte = "7bit"
    else:
        head.append(f"Subject: Minutes {i}")
        text = (_TEXT_EN * (size // len(_TEXT_EN) + 1)).encode()[:size]
        charset, cte = "us-ascii", "7bit"
    head.append("MIME-Version: 1.0")
    body_text = text.replace(b"\n", b"\r\n")
    if not attachment:
        head += [f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body_text + b"\r\n"
    rng = random.Random(i)
    blob = base64.encodebytes(rng.randbytes(attachment)).replace(b"\n", b"\r\n")
    boundary = f"=_b{i}"
    head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    parts = [
        f"--{boundary}\r\nContent-Type: text/plain; charset={charset}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode()
        + body_text
        + b"\r\n",
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="file{i}.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n".encode()
        + blob,
        f"--{boundary}--\r\n".encode(),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + b"".join(parts)


def messages(count: int, *, seed: int = 1) -> list[bytes]:
    """``count`` messages with a realistic spread of sizes (median ~4 kB, mean ~25 kB)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        roll = rng.random()
        size = int(rng.lognormvariate(7.5, 0.8))
        attachment = 0
        if roll > 0.9:
            attachment = int(rng.lognormvariate(11.5, 0.8))  # ~100 kB typical, a few near 1 MB
        out.append(message(i, size=size, japanese=roll < 0.5, attachment=attachment))
    return out
