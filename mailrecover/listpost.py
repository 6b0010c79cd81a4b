"""Is this message a mailing-list post, and which list: the one rule every stage asks.

The list evidence (``lists``) files a post under its list; the ownership check (``ownership``)
does not count the list's own address as a person's mailbox.  Both ask ``list_post``, so a
message is never a post of one list to one stage and of none to the other.

A message names its list by, in this order of trust for *which* list:
``List-Post`` (``<mailto:ml@host>``), ``X-BeenThere`` and ``X-Mailing-List`` (Mailman, SmartList),
ezmlm's ``Mailing-List: contact ml-help@host; …``, fml's ``X-ML-Name: ml`` (its domain from the
``To``/``Cc``/``Reply-To``/``Sender`` address with that local part), a list's own envelope
address in ``Sender``/``Errors-To``/``Return-Path`` (``ml-bounces@host``), and ``List-Id``
(``<ml.host>`` for ``ml@host``).  Every one of them that names an address is one of the post's
``marks``.  fml's ``X-ML-Name`` alone names a list only by its local part: the post is filed
under that short name, but the name marks no address (``X-ML-Name: hanako`` must not make
``hanako@`` of any domain a list).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

from .delivery import Clue
from .rfc822 import addresses, decode_header_value, normalize_address

__all__ = ["ListAddress", "ListPost", "address_key", "first_address", "header_clues", "list_of", "list_post"]

_VERP = re.compile(r"^(?P<list>.+?)-(?:bounces|return-\d*-?)\+?(?P<user>[^=+]+)=(?P<domain>[^=@]+)$")
_STRONG = re.compile(r"^(?P<list>.+?)-(?:bounces(?:\+.*)?|return-\d*-.*)$")
_WEAK = re.compile(r"^(?:owner-(?P<a>.+)|(?P<b>.+?)-(?:owner|admin|request|confirm(?:\+.*)?))$")
_MAILTO = re.compile(r"<mailto:([^>?,\s]+)", re.I)
_ANGLE = re.compile(r"<([^<>\s]+)>\s*$")
_AN_ADDRESS = re.compile(r"[^\s<>\"';,()]+@[^\s<>\"';,()]+[A-Za-z0-9]")
_EZMLM_CONTACT = re.compile(r"contact (\S+?)-help@(\S+?);", re.I)

#: The same few thousand addresses recur on every delivery line: their IDNA work is done once.
address_key = functools.lru_cache(maxsize=1 << 16)(normalize_address)


@dataclass(frozen=True)
class ListAddress:
    """A list named by one of its own addresses, and the member a VERP address encodes."""

    list: str
    member: str | None = None
    strong: bool = True  # ``-bounces`` / ``-return-`` are a list's for sure; ``owner-x`` may not be


@functools.lru_cache(maxsize=1 << 12)
def list_of(address: str) -> ListAddress | None:
    """The list behind one of its own addresses (``x-bounces+u=d@h`` → ``x@h``, member ``u@d``)."""
    key = address_key(address)
    local, at, host = key.rpartition("@")
    if not at:
        return None
    if m := _VERP.match(local):
        return ListAddress(f"{m['list']}@{host}", address_key(f"{m['user']}@{m['domain']}"))
    if m := _STRONG.match(local):
        return ListAddress(f"{m['list']}@{host}")
    if m := _WEAK.match(local):
        return ListAddress(f"{m['a'] or m['b']}@{host}", strong=False)
    return None


def first_address(value: bytes) -> str | None:
    """The first thing in a header value that looks like an address, as a key."""
    m = _AN_ADDRESS.search(decode_header_value(value))
    return address_key(m.group(0)) if m else None


@dataclass(frozen=True)
class ListPost:
    """The list a message was posted to.

    ``key`` is the list's address, or only its short name where the message gives no more;
    ``list_id`` the ``List-Id`` (``ml.example.org``) or ''; ``marks`` every address by which
    the message names its list.
    """

    key: str
    list_id: str = ""
    marks: frozenset[str] = frozenset()

    def names(self, address: str) -> bool:
        """Whether ``address`` (a key) is the list's own, as the message itself says."""
        if address in self.marks:
            return True
        local, at, domain = address.rpartition("@")
        return bool(at) and bool(self.list_id) and f"{local}.{domain}" == self.list_id


def _fml_address(short: str, first: dict[str, bytes]) -> str | None:
    """fml's list address: the recipient or reply address whose local part is its X-ML-Name."""
    for name in ("to", "cc", "reply-to", "x-ml-server", "sender"):
        for _, addr in getaddresses([decode_header_value(first.get(name, b""))]):
            if "@" in addr and addr.lower().split("@")[0] == short:
                return address_key(addr)
    return None


def list_post(fields: Iterable[tuple[str, bytes]]) -> ListPost | None:
    """The list this message (its header fields, as ``rfc822.header_fields`` gives them) was
    posted to; None when it names no list."""
    first: dict[str, bytes] = {}
    marks: set[str] = set()
    for name, value in fields:
        first.setdefault(name, value)
        if name == "list-post":
            marks.update(address_key(a) for a in _MAILTO.findall(decode_header_value(value)) if "@" in a)
        elif name in ("x-beenthere", "x-mailing-list"):
            marks.update(addresses(value))
    found: list[str] = []  # what names the list, in the module's order of trust
    if "list-post" in first and (m := _MAILTO.search(decode_header_value(first["list-post"]))):
        found.append(address_key(m.group(1)))
    for name in ("x-beenthere", "x-mailing-list"):
        if name in first and (addr := first_address(first[name])):
            found.append(addr)
    if "mailing-list" in first and (m := _EZMLM_CONTACT.search(decode_header_value(first["mailing-list"]))):
        found.append(address_key(f"{m.group(1)}@{m.group(2)}"))
    if short := decode_header_value(first.get("x-ml-name", b"")).strip().lower():
        found.append(_fml_address(short, first) or short)
    for name in ("sender", "errors-to", "return-path"):
        if name in first and (addr := first_address(first[name])) and (la := list_of(addr)) and la.strong:
            found.append(la.list)
            break
    list_id = ""
    if "list-id" in first and (m := _ANGLE.search(decode_header_value(first["list-id"]).strip())):
        list_id = m.group(1).lower()
        if "." in list_id:
            local, _, host = list_id.partition(".")
            found.append(address_key(f"{local}@{host}"))
    if not found:
        return None
    return ListPost(found[0], list_id, frozenset(marks.union(a for a in found if "@" in a)))


def header_clues(clues: Iterable[Clue], post: ListPost | None) -> list[Clue]:
    """A header's delivery clues (``delivery.clues_from_fields``), less the addresses the
    message names as its own list's (no person's mailbox); ``post`` is its ``list_post``."""
    return [c for c in clues if post is None or not post.names(c.address)]
