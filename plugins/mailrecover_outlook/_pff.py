"""pypff items seen as MAPI objects, and the embedded messages pypff does not hand out itself.

pypff (libpff-python) reads every property of an item, but has no Python call for the
message an attachment embeds.  The library inside it has one (``libpff_attachment_get_item``,
part of libpff's public C API, exported by the extension module); ``_embedded_item`` calls
it through ctypes and wraps the result with pypff's own constructor.  It first checks that
the Python object has the layout it relies on, and gives up (returning None) otherwise.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Mapping
from typing import Any

import pypff

from ._mapi import MapiObject, name_map

__all__ = ["PffObject", "embedded_supported", "store_names"]


def _entries(item: Any) -> dict[int, tuple[int, bytes]]:
    """The item's properties by id, from its first record set."""
    props: dict[int, tuple[int, bytes]] = {}
    for index in range(item.number_of_record_sets):
        record_set = item.get_record_set(index)
        for entry in record_set.entries:
            try:
                prop_id, vtype, data = entry.entry_type, entry.value_type, entry.data
            except (OSError, MemoryError):
                continue  # one unreadable property does not lose the item
            if prop_id is not None and prop_id not in props:
                props[prop_id] = (vtype, data if data is not None else b"")
        break  # a message or attachment has one record set; recipients are read apart
    return props


def store_names(pff: Any) -> dict[tuple[bytes, int], int]:
    """The file's named properties (its name-to-id map); empty when it cannot be read."""
    try:
        props = _entries(pff.name_to_id_map)
    except (OSError, MemoryError, AttributeError, TypeError):
        return {}
    return name_map(props.get(0x0002, (0, b""))[1], props.get(0x0003, (0, b""))[1])


class PffObject(MapiObject):
    """A pypff message, attachment or recipient row."""

    def __init__(
        self,
        item: Any,
        ansi: str,
        props: dict[int, tuple[int, bytes]] | None = None,
        names: Mapping[tuple[bytes, int], int] | None = None,
    ):
        self.item = item
        self.ansi = ansi
        self.props = props if props is not None else _entries(item)
        if names is not None:
            self.names = names

    def raw(self, prop_id: int) -> tuple[int, bytes] | None:
        return self.props.get(prop_id)

    def message_class(self) -> str | None:
        return self.text(0x001A)

    def recipients(self) -> Iterator[MapiObject]:
        try:
            table = self.item.recipients
        except (OSError, MemoryError, AttributeError):
            return
        if table is None:
            return
        for index in range(table.number_of_record_sets):
            try:
                record_set = table.get_record_set(index)
                props = {}
                for entry in record_set.entries:
                    if entry.entry_type is not None:
                        props[entry.entry_type] = (entry.value_type, entry.data or b"")
            except (OSError, MemoryError):
                continue
            yield PffObject(None, self.string8_codec(), props)

    def attachments(self) -> Iterator[MapiObject]:
        try:
            count = self.item.number_of_attachments
        except (OSError, MemoryError, AttributeError):
            return
        for index in range(count):
            yield _PffAttachment(self.item.get_attachment(index), self.string8_codec(), self.item)


class _PffAttachment(PffObject):
    def __init__(self, item: Any, ansi: str, parent: Any):
        super().__init__(item, ansi)
        self._parent = parent

    def raw(self, prop_id: int) -> tuple[int, bytes] | None:
        found = self.props.get(prop_id)
        if prop_id != 0x3701 or found is None:
            return found
        if found[0] == 0x000D and self.integer(0x3705) == 5:
            return None  # an embedded message, not data: see embedded()
        if found[0] == 0x000D or not found[1]:  # an OLE object, or data kept apart: read it whole
            size = self.item.size or 0
            return (0x0102, self.item.read_buffer(size) if size else b"")
        return found

    def embedded(self) -> MapiObject | None:
        item = _embedded_item(self.item, self._parent)
        if item is None:
            return None
        return PffObject(item, self.ansi)


_lib: Any = None
_POINTER = ctypes.sizeof(ctypes.c_void_p)


def _library() -> Any:
    global _lib
    if _lib is None:
        lib = ctypes.PyDLL(pypff.__file__)
        lib.libpff_attachment_get_item.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_void_p),
        ]
        lib.libpff_attachment_get_item.restype = ctypes.c_int
        lib.libpff_error_free.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        lib.libpff_error_free.restype = None
        lib.pypff_item_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.py_object]
        lib.pypff_item_new.restype = ctypes.py_object
        _lib = lib
    return _lib


def embedded_supported() -> bool:
    """Whether this pypff build has the layout and symbols ``_embedded_item`` needs."""
    try:
        lib = _library()
        return (
            pypff.attachment.__basicsize__ == 5 * _POINTER
            and bool(lib.libpff_attachment_get_item)
            and bool(lib.pypff_item_new)
        )
    except (OSError, MemoryError, AttributeError):
        return False


def _embedded_item(attachment: Any, parent: Any) -> Any | None:
    """The pypff message an attachment embeds, or None when it cannot be reached safely."""
    if not embedded_supported():
        return None
    # pypff's item object: PyObject_HEAD (2 words), item, record set, parent object.
    words = (ctypes.c_void_p * 5).from_address(id(attachment))
    if words[4] != id(parent) or not words[2]:
        return None  # not the layout we know: do not touch it
    lib = _library()
    sub = ctypes.c_void_p()
    error = ctypes.c_void_p()
    if lib.libpff_attachment_get_item(words[2], ctypes.byref(sub), ctypes.byref(error)) != 1:
        if error.value:
            lib.libpff_error_free(ctypes.byref(error))
        return None
    if not sub.value:
        return None
    return lib.pypff_item_new(id(pypff.message), sub.value, attachment)
