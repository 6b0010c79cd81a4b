"""What Windows mail clients store alike: FILETIME times, ANSI code pages, special folders'
names.  Part of the plugin kit (``mailrecover.pluginkit``): Outlook and Outlook Express read them.
"""

from __future__ import annotations

import codecs
import os
from datetime import UTC, datetime, timedelta

__all__ = [
    "ANSI_ENV",
    "DELETED_ROLE",
    "codec_for_codepage",
    "default_ansi_codec",
    "folder_role",
    "from_filetime",
    "mime_charset",
]

#: Environment variable naming the code page of ANSI (non-Unicode) stores.
ANSI_ENV = "MAILRECOVER_PST_CODEPAGE"

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

# Code pages whose MIME name differs from what Python calls them.
_MIME_NAMES = {
    932: "shift_jis",
    936: "gb2312",
    949: "ks_c_5601-1987",
    950: "big5",
    20127: "us-ascii",
    20932: "euc-jp",
    51932: "euc-jp",
    50220: "iso-2022-jp",
    50221: "iso-2022-jp",
    50222: "iso-2022-jp",
    65001: "utf-8",
    28591: "iso-8859-1",
    1200: "utf-16le",
    20866: "koi8-r",
}


def codec_for_codepage(cp: int | None) -> str | None:
    """A Python codec for a Windows code page number, or None when Python has none."""
    if not cp or cp < 0:
        return None
    for name in (_MIME_NAMES.get(cp), f"cp{cp}"):
        if name:
            try:
                return codecs.lookup("cp932" if name == "shift_jis" else name).name
            except LookupError:
                continue
    return None


def mime_charset(cp: int | None) -> str | None:
    """The charset label mail uses for a Windows code page."""
    if not cp or cp < 0:
        return None
    name = _MIME_NAMES.get(cp)
    if name:
        return name
    return f"windows-{cp}" if 1250 <= cp <= 1258 else (f"cp{cp}" if codec_for_codepage(cp) else None)


def default_ansi_codec() -> str:
    """The code page of ANSI stores: ``MAILRECOVER_PST_CODEPAGE`` or Japanese Windows' cp932."""
    wanted = os.environ.get(ANSI_ENV, "").strip() or "cp932"
    if wanted.isdigit():
        wanted = codec_for_codepage(int(wanted)) or "cp932"
    try:
        return codecs.lookup(wanted).name
    except LookupError:
        return "cp932"


def from_filetime(ticks: int) -> datetime | None:
    """A Windows FILETIME (100 ns since 1601, UTC) as an aware datetime; None for 0 or nonsense."""
    if ticks <= 0 or ticks >= 0x7FFFFFFFFFFFFFFF:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


#: The role whose mail was deleted by its owner (restored under ``Recovered Deleted/``).
DELETED_ROLE = "Trash"

_ROLES = {
    "INBOX": {"inbox", "受信トレイ", "posteingang", "boîte de réception"},
    "Sent": {"sent items", "sent", "送信済みアイテム", "gesendete elemente", "éléments envoyés"},
    DELETED_ROLE: {"deleted items", "削除済みアイテム", "gelöschte elemente", "éléments supprimés"},
    "Drafts": {"drafts", "下書き", "entwürfe", "brouillons"},
    "Outbox": {"outbox", "送信トレイ", "postausgang", "boîte d'envoi"},
    "Junk": {"junk e-mail", "junk email", "迷惑メール", "junk-e-mail"},
}


def folder_role(name: str) -> str | None:
    """The role of a special folder by its name (``受信トレイ`` → ``INBOX``), if it has one."""
    key = " ".join(name.split()).casefold()
    for role, names in _ROLES.items():
        if key in names:
            return role
    return None
