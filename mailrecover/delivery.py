"""What a message's own header says about whose mailbox a server put it in.

Every delivery field counts (``Delivered-To``, ``X-Original-To``, ``Envelope-To``,
``X-Envelope-To``, ``Original-Recipient``), and of the ``Received`` fields only the
last hop's ``for`` clause: earlier hops name earlier recipients (a list's own address, a
forwarder's).  The forms servers really write, and what each gives:

- Postfix, Sendmail, Dovecot LMTP: ``for <taro@example.co.jp>;`` (Postfix and Sendmail leave
  ``for`` out when a hop carries several recipients; some servers list them: ``for <a>, <b>;``
  gives both);
- Exim: ``for taro@example.co.jp;`` without angle brackets; Gmail: ``for <x> (version=…);``;
- qmail: no ``for`` at all (``Received: (qmail 123 invoked by uid 89)``), the mailbox in
  ``Delivered-To: example.co.jp-taro@example.co.jp``;
- Sun/Oracle (iPlanet) Messaging Server: ``for taro?example.co.jp@ims-ms-daemon
  (ORCPT rfc822;Taro@Example.co.jp)``: the ``…@ims-ms-daemon`` name is the store's internal
  name for a mailbox (``?`` standing for ``@``), and ``ORCPT`` (also written as an
  ``Original-Recipient: rfc822;…`` field) the recipient as the sender addressed it.  Its
  topmost ``Received: from ims-ms-daemon …`` is the server's own hop into the store, with no
  ``for``: it is looked through to the hop below;
- Exchange / Microsoft 365: usually no ``for``: no clue, the mail stays where it was found.

An internal name cannot say which customer a mail was for (the store's numbering is not an
address): it is a clue ``internal`` that counts for an account it names, never against one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .rfc822 import addresses, header_fields, normalize_address

__all__ = [
    "CLIENT_ACCOUNT",
    "ORIGINAL_RECIPIENT",
    "RECEIVED_FOR",
    "RECEIVED_INTERNAL",
    "Clue",
    "clues_from_fields",
    "delivery_clues",
]

_DELIVERY_FIELDS = {
    "delivered-to": "Delivered-To",
    "x-original-to": "X-Original-To",
    "envelope-to": "Envelope-To",
    "x-envelope-to": "X-Envelope-To",
}
RECEIVED_FOR = "Received … for"
RECEIVED_INTERNAL = "Received … for (server-internal name)"
ORIGINAL_RECIPIENT = "ORCPT"
CLIENT_ACCOUNT = "client account"

# ``for`` and what follows up to the date (``;``), a comment or the end: one or more addresses
_FOR = re.compile(rb"\bfor\s+((?:<?[^\s<>;,()@]+@[^\s<>;,()@]+>?\s*,?\s*)+)", re.I)
_ADDRESS = re.compile(rb"[^\s<>;,()@]+@[^\s<>;,()@]+")
_ORCPT = re.compile(rb"\(ORCPT\s+(?:[\w-]+;)?\s*<?([^\s<>;()@]+@[^\s<>;()@]+)>?\s*\)", re.I)
_DAEMON_HOST = re.compile(r"^[\w.-]*-daemon(?:\.[\w.-]+)?$")  # ims-ms-daemon, sims-ms-daemon, …
# The store's hop to itself: a channel name straight before "by" (an SMTP hop always has the
# client's address there, so a sender's HELO cannot pose as one) and the server's own name.
_INTERNAL_HOP = re.compile(rb"^\s*from\s+(?:s?ims-ms|process|conversion)-daemon(?:\.[\w.-]+)?\s+by\s", re.I)
_SUN_SERVER = re.compile(rb"Messaging Server|Internet Mail Server", re.I)


@dataclass(frozen=True)
class Clue:
    """One piece of delivery evidence: which field (or client account) named which address.

    An ``internal`` clue (a server's own name for a mailbox) counts only for the account it names.
    """

    field: str
    address: str
    internal: bool = False


def _received_clues(value: bytes) -> list[Clue]:
    clues: list[Clue] = []
    for found in _FOR.findall(value):
        for raw in _ADDRESS.findall(found):
            address = normalize_address(raw.decode("ascii", "replace"))
            local, _, host = address.rpartition("@")
            if not _DAEMON_HOST.match(host):
                clues.append(Clue(RECEIVED_FOR, address))
            elif "?" in local:  # local?domain@ims-ms-daemon: the store's name for local@domain
                clues.append(Clue(RECEIVED_INTERNAL, normalize_address(local.replace("?", "@", 1)), True))
    clues += [
        Clue(ORIGINAL_RECIPIENT, normalize_address(a.decode("ascii", "replace")))
        for a in _ORCPT.findall(value)
    ]
    return clues


def _original_recipient(value: bytes) -> list[str]:
    """``Original-Recipient: rfc822;addr`` (RFC 3798 form, written by Sun/Oracle servers)."""
    kind, sep, address = value.partition(b";")
    if not sep:
        return addresses(value)
    return addresses(address) if kind.strip().lower() in (b"rfc822", b"utf-8") else []


def clues_from_fields(fields: Iterable[tuple[str, bytes]]) -> list[Clue]:
    """The delivery clues in a header (as ``rfc822.header_fields`` gives it), in order."""
    clues: list[Clue] = []
    last_hop_seen = False
    for name, value in fields:
        if name in _DELIVERY_FIELDS:
            clues.extend(Clue(_DELIVERY_FIELDS[name], a) for a in addresses(value))
        elif name == "original-recipient":
            clues.extend(Clue(ORIGINAL_RECIPIENT, a) for a in _original_recipient(value))
        elif name == "received" and not last_hop_seen:
            found = _received_clues(value)
            clues.extend(found)
            last_hop_seen = bool(found) or not (_INTERNAL_HOP.match(value) and _SUN_SERVER.search(value))
    return clues


def delivery_clues(raw: bytes) -> list[Clue]:
    return clues_from_fields(header_fields(raw))
