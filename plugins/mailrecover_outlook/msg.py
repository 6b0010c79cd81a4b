"""Single Outlook items saved as .msg files, read with extract-msg.

The message is rebuilt from its properties exactly as a PST item is (``_build``):
its transport headers when it has them, else headers from its properties; bodies,
attachments and embedded messages.  Contacts, distribution lists and calendar items
become ``Item`` records (``_items``) for ``export-items``; other non-mail classes (tasks,
notes…) are reported as skipped.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import file_head, open_source

from . import _mapi as p
from ._build import build_message
from ._items import item_kind, item_of
from ._mapi import MapiObject, name_map

__all__ = ["MsgPlugin"]

_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_PROPERTIES = "__properties_version1.0"
# Bytes before the first property entry: top-level message, embedded message, others.
_HEADER_TOP, _HEADER_EMBEDDED, _HEADER_OTHER = 32, 24, 8
_VARIABLE_TYPES = (p.PT_UNICODE, p.PT_STRING8, p.PT_BINARY, p.PT_OBJECT)
_NAME_ID = "__nameid_version1.0"
# Where an item saved on its own is filed when the walk gives it no folder.
_ITEM_FOLDERS = {"contact": "Contacts", "group": "Contacts", "event": "Calendar"}


class _MsgObject(MapiObject):
    """A message, recipient or attachment storage inside a .msg file."""

    def __init__(self, node: Any, header: int, ansi: str):
        self.node = node
        self.ansi = ansi
        self._fixed: dict[int, tuple[int, bytes]] = {}
        data = _stream(node, _PROPERTIES) or b""
        for offset in range(header, len(data) - 15, 16):
            tag, _flags, value = struct.unpack_from("<II8s", data, offset)
            vtype, prop_id = tag & 0xFFFF, tag >> 16
            if vtype not in _VARIABLE_TYPES:
                self._fixed.setdefault(prop_id, (vtype, value))

    def raw(self, prop_id: int) -> tuple[int, bytes] | None:
        for vtype in _VARIABLE_TYPES:
            data = _stream(self.node, f"__substg1.0_{prop_id:04X}{vtype:04X}")
            if data is not None:
                return vtype, data
        return self._fixed.get(prop_id)

    def binaries(self, prop_id: int) -> list[bytes]:
        """A multi-valued binary property: a stream of lengths, then one stream a value."""
        lengths = _stream(self.node, f"__substg1.0_{prop_id:04X}{p.PT_MV_BINARY:04X}") or b""
        values = []
        for index in range(len(lengths) // 8):
            value = _stream(self.node, f"__substg1.0_{prop_id:04X}{p.PT_MV_BINARY:04X}-{index:08X}")
            if value is not None:
                values.append(value)
        return values

    def recipients(self) -> Iterator[MapiObject]:
        for recipient in _safe_list(self.node, "recipients"):
            yield _MsgObject(recipient, _HEADER_OTHER, self.string8_codec())

    def attachments(self) -> Iterator[MapiObject]:
        for attachment in _safe_list(self.node, "attachments"):
            yield _MsgAttachment(attachment, _HEADER_OTHER, self.string8_codec())


class _MsgAttachment(_MsgObject):
    def embedded(self) -> MapiObject | None:
        inner = getattr(self.node, "data", None)
        if inner is None or not hasattr(inner, "getStream"):
            return None
        return _MsgObject(inner, _HEADER_EMBEDDED, self.ansi)


def _stream(node: Any, name: str) -> bytes | None:
    try:
        return node.getStream(name)
    except Exception:  # extract-msg raises many kinds on damaged storage
        return None


def _safe_list(node: Any, name: str) -> list[Any]:
    try:
        return list(getattr(node, name, None) or ())
    except Exception:
        return []


class MsgPlugin:
    name = "outlook-msg"
    description = "Outlook items saved as .msg files"

    def detect(self, location: str) -> int:
        head = file_head(location, 8) if location.lower().endswith(".msg") else None
        if head is None:
            return 0
        return 90 if head == _OLE_MAGIC else 20

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        handle = open_source(location)
        if isinstance(handle, Problem):
            yield handle
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            quiet = logging.getLogger("extract_msg")
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)  # it logs every oddity; we report what matters
            try:
                yield from self._read(location, handle, context)
            finally:
                quiet.setLevel(level)
                context.advance(size)

    def _read(self, location: str, handle: Any, context: ReadContext) -> Iterator[Finding]:
        import extract_msg  # a quarter second to import: paid only where a .msg file is read

        try:
            msg = extract_msg.openMsg(handle, strict=False, delayAttachments=True)
        except Exception as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"not a readable .msg file: {_reason(e)}")
            return
        try:
            obj = _MsgObject(msg, _HEADER_TOP, p.default_ansi_codec())
            message_class = obj.text(p.MESSAGE_CLASS)
            if not p.is_mail_class(message_class):
                kind = item_kind(message_class)
                if kind is None:
                    yield Problem(
                        ProblemKind.SKIPPED, location, "", f"{message_class} item skipped (not mail)"
                    )
                    return
                obj.names = name_map(
                    _stream(msg, f"{_NAME_ID}/__substg1.0_00020102") or b"",
                    _stream(msg, f"{_NAME_ID}/__substg1.0_00030102") or b"",
                )
                yield item_of(obj, kind, context.folder or _ITEM_FOLDERS[kind], location, "")
                return
            lost: list[str] = []
            raw = build_message(obj, lost=lost)
            flags = p.flags_of(obj)
            when = obj.time(p.DELIVERY_TIME) or obj.time(p.CLIENT_SUBMIT_TIME)
            hints = p.received_by(obj)
        except Exception as e:  # damaged storage inside an otherwise valid file
            yield Problem(ProblemKind.DAMAGED, location, "", f"message unreadable: {_reason(e)}")
            return
        finally:
            try:
                msg.close()
            except Exception:  # closing a damaged file may fail too; nothing is lost by it
                pass
        if lost:
            yield Problem(ProblemKind.DAMAGED, location, "", "kept without " + "; ".join(lost))
        yield Copy(
            raw=raw,
            folder=context.folder,
            source=location,
            position="",
            flags=frozenset(flags),
            internal_date=when,
            reconstructed=True,
            account_hints=hints,
        )


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
