"""Mailing-list evidence in gathered mail and in delivery lines, as pure functions.

Whoever's mailbox a message was found in, it may say something about a list's members:

- an owner notice (Mailman 2/3 "… subscription notification" / "… unsubscribe notification",
  Mailman's "Bounce action notification", majordomo "SUBSCRIBE list" / "UNSUBSCRIBE list",
  fml "New added member: …") → ``subscribe`` / ``unsubscribe`` / ``member`` evidence;
- a bounce: an RFC 3464 report (each ``Action: failed`` recipient), a mail system's free-text
  bounce (``bounces``: flufl.bounce's detectors and this project's for Japanese carriers), or
  anything sent to a VERP address (``list-bounces+user=domain@host``) → ``bounce`` for a
  permanent failure (the list mailed that address, so it was a member, and it bounced),
  ``deferred`` for a temporary one (``Action: delayed``, a warning); both with ``failure`` =
  ``permanent`` / ``temporary``; a VERP auto-reply that is no bounce → ``auto-reply``;
- a list post (``List-Post``, ``X-BeenThere``, ``List-Id``, ``X-ML-Name``, ``Mailing-List``…)
  → ``post`` for its author (which proves nothing about membership) and ``received`` for the
  mailbox it was delivered to (``Delivered-To``, ``X-Original-To``, …, else the account the
  copy was gathered for), with ``count`` from ``X-Mail-Count`` and ``digest`` for digests.

Delivery lines (evidence kind ``delivery`` from the mail-log plugins) become ``delivered``,
``deferred`` or ``bounce`` evidence when the envelope sender is a list's (``list-bounces@``,
VERP ``list-bounces+user=domain@``, ezmlm ``list-return-N-@``, or ``owner-list@`` /
``list-admin@`` / ``list-owner@`` of a list known otherwise) and the message went to at least
``MIN_POST_RECIPIENTS`` recipients (or was VERP-addressed to exactly this one): a list post.
A delivery *to* a known list's address is a ``post`` by its sender.

All evidence made here carries ``manager`` = ``mail`` or ``mail-log`` and the fields
documented in ``mailrecover_lists``; ``list`` is empty when no list could be told.
"""

from __future__ import annotations

import email
import email.policy
import functools
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from email.message import Message
from email.utils import getaddresses
from typing import TYPE_CHECKING, Literal

from .bounces import failures, looks_like_bounce
from .delivery import ORIGINAL_RECIPIENT, RECEIVED_FOR, clues_from_fields
from .errors import BlobError
from .listpost import ListAddress, ListPost, list_of, list_post
from .listpost import address_key as normalize_address
from .listpost import first_address as _first_address
from .model import Evidence
from .rfc822 import decode_header_value, decode_text, header_fields, parse_date
from .workspace import store

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger(__name__)

__all__ = [
    "GATHERED_FOR",
    "MIN_POST_RECIPIENTS",
    "ListAddress",
    "evidence_from_deliveries",
    "evidence_from_message",
    "for_account",
    "message_evidence",
    "is_list_address",
    "list_of",
    "scan_workspace",
]

#: A message from a list's envelope sender to this many recipients or more is a list post.
MIN_POST_RECIPIENTS = 2

#: Suffixes of a list's own addresses (``list-owner@host``): never members.
LIST_SUFFIXES = (
    "owner",
    "request",
    "bounces",
    "admin",
    "join",
    "leave",
    "confirm",
    "subscribe",
    "unsubscribe",
    "help",
    "ctl",
    "return",
    "post",
    "digest-request",
)


_TAIL = r"\.(?:\s+\((?P<how>[^)]*)\))?(?:\s|$)"
_SUBSCRIBED = re.compile(r"^(?P<who>.+?) has been successfully subscribed to (?P<list>.+?)" + _TAIL)
_REMOVED = re.compile(r"^(?P<who>.+?) has been removed from (?P<list>.+?)" + _TAIL)
_MJ_ADDED = re.compile(r"^(?P<who>.+?) has been added to (?P<list>\S+?)" + _TAIL)
_MJ_LEFT = re.compile(r"^(?P<who>.+?) has unsubscribed from (?P<list>\S+?)" + _TAIL)
_FML_ADDED = re.compile(r"^New added member: (\S+)")
_BOUNCE_ACTION = re.compile(r"^\s*(List|Member|Action|Reason):\s*(.*?)\s*$", re.M)
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_FAILURE_WORDS = re.compile(
    r"undeliver|returned mail|delivery (?:status|failure|has failed)|failure notice"
    r"|mail delivery failed|could not be delivered|non-delivery",
    re.I,
)
_STATUS_RANK = {"deferred": 1, "bounced": 2, "sent": 3}  # the best a recipient's lines reached
_STATUS_KIND = {"deferred": "deferred", "bounced": "bounce", "sent": "delivered"}
_DIGEST = re.compile(r"\bDigest, Vol\b", re.I)


def is_list_address(address: str, list_key: str) -> bool:
    """Whether ``address`` is the list's own or its owner's (``-owner``, ``-bounces+…``, …)."""
    addr = normalize_address(address)
    local, _, host = addr.rpartition("@")
    list_local, at, list_host = list_key.rpartition("@")
    if not at:
        list_local, list_host = list_key, host
    if host != list_host:
        return False
    if local == list_local or local in (f"owner-{list_local}", f"{list_local}-owner"):
        return True
    rest = local[len(list_local) + 1 :].split("+", 1)[0] if local.startswith(list_local + "-") else ""
    return bool(rest) and (rest in LIST_SUFFIXES or rest.split("-", 1)[0] in LIST_SUFFIXES)


def _list_key(fields: list[tuple[str, bytes]]) -> str:
    """The list a message was posted to (``listpost.list_post``), '' when none."""
    post = list_post(fields)
    return post.key if post else ""


def _infrastructure_list(fields: list[tuple[str, bytes]], names: tuple[str, ...]) -> str:
    """A list named by one of its own addresses in the given header fields."""
    for name, value in fields:
        if name in names:
            for _, addr in getaddresses([decode_header_value(value)]):
                if "@" in addr and (la := list_of(addr)):
                    return la.list
    return ""


def _field(fields: list[tuple[str, bytes]], name: str) -> str:
    for n, value in fields:
        if n == name:
            return decode_header_value(value).strip()
    return ""


def _text_parts(msg: Message) -> Iterator[str]:
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", ""):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield decode_text(payload, part.get_content_charset())


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


class _Maker:
    """Makes a message's evidence; its Date and Message-ID are read at the first (most
    messages make none)."""

    def __init__(self, source: str, position: str, fields: list[tuple[str, bytes]]) -> None:
        self.source, self.position, self._fields = source, position, fields

    @functools.cached_property
    def when(self) -> datetime | None:
        return parse_date(_field(self._fields, "date") or None)

    @functools.cached_property
    def message_id(self) -> str:
        return _field(self._fields, "message-id")

    def __call__(self, kind: str, list_key: str, address: str, name: str = "", **fields: str) -> Evidence:
        values = {"list": list_key, "manager": "mail", "address": normalize_address(address)}
        if address.strip("<>") != values["address"]:
            values["as_written"] = address.strip("<>")
        if name:
            values["name"] = name
        if self.message_id:
            values["message_id"] = self.message_id
        values.update({k: v for k, v in fields.items() if v})
        return Evidence(kind, self.source, self.position, self.when, values)


def evidence_from_message(
    raw: bytes,
    *,
    source: str = "",
    position: str = "",
    account: str | None = None,
    fields: list[tuple[str, bytes]] | None = None,
) -> list[Evidence]:
    """What one message says about list membership; ``account`` is whose mailbox it was in
    (``fields``: its ``header_fields``, when the caller has read them already)."""
    return for_account(message_evidence(raw, fields, source=source, position=position), account)


def for_account(found: Iterable[Evidence], account: str | None) -> list[Evidence]:
    """``found`` (``message_evidence``) for the copy gathered for ``account``: a post's
    ``received`` evidence that names no member in its header names the account, unless the
    account is the post's author or one of the list's own addresses; without one, none."""
    found = list(found)
    author = next((e.fields["address"] for e in found if e.kind == "post"), None)
    out = []
    for e in found:
        if e.kind != "received" or e.fields.get("address") != GATHERED_FOR:
            out.append(e)
        elif (
            account
            and (addr := normalize_address(account)) != author
            and not is_list_address(addr, e.fields["list"])
        ):
            out.append(replace(e, fields={**e.fields, "address": addr}))
    return out


#: The address of a post's ``received`` evidence that can only name the mailbox the copy was
#: gathered for: one copy's bytes may be gathered for several accounts (``for_account``).
GATHERED_FOR = ""


def message_evidence(
    raw: bytes,
    fields: list[tuple[str, bytes]] | None = None,
    *,
    source: str = "",
    position: str = "",
    post: ListPost | None | Literal[False] = False,
    subject: str | None = None,
) -> list[Evidence]:
    """What one message says about list membership whoever's mailbox it is in (``GATHERED_FOR``
    standing for the mailbox): what gather stores with each copy, read from its bytes once
    (``fields``, and ``post``: ``list_post(fields)``, when the caller has read them; False: not read;
    ``subject``: its first Subject decoded and stripped, when the caller has decoded it)."""
    fields = header_fields(raw) if fields is None else fields
    if not fields:
        return []
    make = _Maker(source, position, fields)
    content_type = _field(fields, "content-type").lower()
    if "multipart/report" in content_type or "delivery-status" in content_type:
        found = _dsn(raw, fields, make)
        if found:
            return found
    to_lists = [
        (addr, la)
        for name, value in fields
        if name in ("to", "delivered-to", "x-original-to", "envelope-to") and _may_name_a_list(value)
        for _, addr in getaddresses([decode_header_value(value)])
        if "@" in addr and (la := list_of(addr))
    ]
    verp = next((la for _, la in to_lists if la.member), None)
    if verp is not None and verp.member:
        return [_verp(raw, fields, make, verp.list, verp.member)]
    subject = " ".join((_field(fields, "subject") if subject is None else subject).split())
    notices = _notice(raw, fields, subject, make)
    if notices is not None:
        return notices
    bounced = _free_text_bounce(raw, fields, subject, make)
    if bounced is not None:
        return bounced
    if to_lists:
        return []  # mail to a list's administrators (a bounce we cannot read, a request): no post
    return _post(fields, subject, make, list_post(fields) if post is False else post)


#: What the local part of any list's own address holds (``listpost.list_of``'s patterns).
_LIST_MARKS = (b"-bounces", b"-return-", b"owner-", b"-owner", b"-admin", b"-request", b"-confirm")


def _may_name_a_list(value: bytes) -> bool:
    """False only where no address in ``value`` can be a list's own: a plain search spares
    the address parsing of nearly every To and Delivered-To (plain ASCII lower-cases exactly)."""
    if not value.isascii() or b"=?" in value or b"\x1b" in value:
        return True
    lower = value.lower()
    return any(mark in lower for mark in _LIST_MARKS)


def _bounce_list(msg: Message, fields: list[tuple[str, bytes]]) -> str:
    """The list a bounce is about: its own address the bounce went to, else the list the
    returned message was posted to, else the list the bounce itself names."""
    list_key = _infrastructure_list(fields, ("to", "delivered-to", "x-original-to", "envelope-to"))
    for part in msg.walk() if not list_key else ():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                inner_fields = [(k.lower(), str(v).encode("utf-8", "replace")) for k, v in inner[0].items()]
            else:
                payload = part.get_payload(decode=True)
                inner_fields = header_fields(payload) if isinstance(payload, bytes) else []
            if list_key := _list_key(inner_fields):
                break
    return list_key or _list_key(fields)


def _verp_member(fields: list[tuple[str, bytes]]) -> str | None:
    member = None
    for name, value in fields:
        if name in ("to", "delivered-to", "x-original-to"):
            for _, addr in getaddresses([decode_header_value(value)]):
                if "@" in addr and (la := list_of(addr)) and la.member:
                    member = la.member
    return member


def _dsn(raw: bytes, fields: list[tuple[str, bytes]], make: _Maker) -> list[Evidence]:
    """An RFC 3464 report: ``failed`` recipients bounced for good, ``delayed`` ones for now."""
    msg = _parse(raw)
    verp_member = _verp_member(fields)
    recipients: list[Mapping[str, str]] = []
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            blocks = part.get_payload()
            if isinstance(blocks, list):
                for block in blocks[1:] if len(blocks) > 1 else blocks:
                    if isinstance(block, Message):
                        recipients.append({k.lower(): str(v) for k, v in block.items()})
    list_key = _bounce_list(msg, fields) if recipients else ""
    out = []
    for r in recipients:
        action = r.get("action", "").strip().lower()
        status = r.get("status", "").strip()
        if action == "failed" or (not action and status.startswith("5")):
            kind, failure = "bounce", "permanent"
        elif action == "delayed":
            kind, failure = "deferred", "temporary"
        else:
            continue
        original = _typed_address(r.get("original-recipient", ""))
        final = _typed_address(r.get("final-recipient", ""))
        address = verp_member or original or final
        if not address:
            continue
        out.append(
            make(
                kind,
                list_key,
                address,
                how="delivery status notification",
                failure=failure,
                final_recipient=final or "",
                status=status.split()[0] if status else "",
                diagnostic=" ".join(r.get("diagnostic-code", "").split())[:200],
            )
        )
    return out


def _free_text_bounce(
    raw: bytes, fields: list[tuple[str, bytes]], subject: str, make: _Maker
) -> list[Evidence] | None:
    """A bounce in a mail system's own words (``bounces.failures``); None when it is none."""
    sender = _first_address(next((v for n, v in fields if n == "from"), b"")) or ""
    if not looks_like_bounce(sender, subject, any(n == "x-failed-recipients" for n, _ in fields)):
        return None
    msg = _parse(raw)
    found = failures(msg)
    if not found:
        return None
    list_key = _bounce_list(msg, fields)
    return [
        make(
            "bounce" if f.permanent else "deferred",
            list_key,
            f.address,
            how=f"bounce ({f.detector})",
            failure="permanent" if f.permanent else "temporary",
        )
        for f in found
    ]


def _typed_address(value: str) -> str | None:
    """The address of an RFC 3464 ``rfc822; addr`` field, or None for other address types."""
    kind, sep, addr = value.partition(";")
    if not sep:
        addr, kind = kind, "rfc822"
    addr = addr.strip().strip("<>").strip()
    if kind.strip().lower() not in ("rfc822", "utf-8") or "@" not in addr:
        return None
    return addr


def _verp(raw: bytes, fields: list[tuple[str, bytes]], make: _Maker, list_key: str, member: str) -> Evidence:
    """Mail to a VERP address: the list wrote to ``member``; a bounce (for good, or only a
    warning when every failure the bounce reports is temporary), or an auto-reply."""
    sender = (_first_address(next((v for n, v in fields if n == "from"), b"")) or "").split("@")[0]
    subject = _field(fields, "subject")
    if not (sender in _DAEMONS or _FAILURE_WORDS.search(subject)):
        return make("auto-reply", list_key, member, how="VERP address", subject=subject[:120])
    found = failures(_parse(raw))
    lasting = not found or any(f.permanent for f in found)
    return make(
        "bounce" if lasting else "deferred",
        list_key,
        member,
        how="VERP address",
        subject=subject[:120],
        failure="permanent" if lasting else "temporary",
    )


def _notice(raw: bytes, fields: list[tuple[str, bytes]], subject: str, make: _Maker) -> list[Evidence] | None:
    """Owner notices from list managers; None when the message is none."""
    lower = subject.lower()
    heads = ("to", "from", "sender", "delivered-to", "x-original-to")
    if (
        lower.endswith(("subscription notification", "unsubscribe notification"))
        or lower == "bounce action notification"
    ):
        list_key = _infrastructure_list(fields, heads)
        body = "\n".join(_text_parts(_parse(raw)))
        if lower == "bounce action notification":
            return _bounce_action(body, list_key, make)
        pattern, kind = (
            (_SUBSCRIBED, "subscribe") if "unsubscribe" not in lower else (_REMOVED, "unsubscribe")
        )
        return _named_in(body, pattern, kind, list_key, make, "owner notice")
    if m := re.match(r"^(UN)?SUBSCRIBE (\S+)$", subject):
        sender = _first_address(next((v for n, v in fields if n == "from"), b"")) or ""
        local, _, host = sender.partition("@")
        list_key = _infrastructure_list(fields, heads) or (
            f"{m[2].lower()}@{host}" if "majordomo" in local else m[2].lower()
        )
        body = "\n".join(_text_parts(_parse(raw)))
        pattern, kind = (_MJ_LEFT, "unsubscribe") if m[1] else (_MJ_ADDED, "subscribe")
        return _named_in(body, pattern, kind, list_key, make, "majordomo owner notice")
    if m := _FML_ADDED.match(subject):
        list_key = _list_key(fields) or _infrastructure_list(fields, heads)
        return [make("subscribe", list_key, m[1].strip("<>"), how="fml owner notice")] if "@" in m[1] else []
    return None


def _named_in(
    body: str, pattern: re.Pattern[str], kind: str, list_key: str, make: _Maker, how: str
) -> list[Evidence]:
    """Evidence for every address a notice's paragraphs name as subscribed or removed."""
    out = []
    for paragraph in _paragraphs(body):
        if m := pattern.match(paragraph):
            reason = f"{how}: {m['how']}" if m["how"] else how
            for name, addr in getaddresses([m["who"]]):
                if "@" in addr:
                    out.append(make(kind, list_key or m["list"].strip().lower(), addr, name, how=reason))
    return out


def _paragraphs(body: str) -> list[str]:
    """The body's paragraphs, each on one line: list managers wrap long notice lines."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]


def _bounce_action(body: str, list_key: str, make: _Maker) -> list[Evidence]:
    values = {k.lower(): v for k, v in _BOUNCE_ACTION.findall(body)}
    member = values.get("member", "")
    if "@" not in member:
        return []
    list_key = list_key or values.get("list", "").lower()
    action = values.get("action", "").lower()
    if "removed" in action:
        return [make("unsubscribe", list_key, member, how="removed by bounce (owner notice)")]
    return [
        make(
            "bounce",
            list_key,
            member,
            how=f"bounce action notice: {values.get('action', '')}",
            nomail="by bounce" if "disabled" in action else "",
        )
    ]


def _post(
    fields: list[tuple[str, bytes]], subject: str, make: _Maker, post: ListPost | None
) -> list[Evidence]:
    if post is None:
        return []
    list_key, list_id = post.key, post.list_id
    if _field(fields, "x-list-administrivia").lower() == "yes":
        return []
    author = _first_address(next((v for n, v in fields if n == "from"), b""))
    if author and (list_of(author) or author.split("@")[0] in _DAEMONS or is_list_address(author, list_key)):
        return []  # the list manager speaking, not a post
    count = _field(fields, "x-mail-count") or _field(fields, "x-sequence").split(" ")[-1]
    digest = "yes" if _DIGEST.search(subject) else ""
    out = []
    if author:
        names = getaddresses([_field(fields, "from")])
        out.append(
            make(
                "post",
                list_key,
                author,
                names[0][0] if names else "",
                how="list post author",
                list_id=list_id,
                count=count,
            )
        )
    for recipient, how in _recipients(fields):
        if recipient == GATHERED_FOR or (recipient != author and not is_list_address(recipient, list_key)):
            out.append(
                make("received", list_key, recipient, how=how, list_id=list_id, count=count, digest=digest)
            )
            break
    return out


#: The delivery fields that say whose mailbox a post reached, most trusted first (``delivery``'s names).
_MEMBER_FIELDS = {
    "Delivered-To": "delivered-to",
    "X-Original-To": "x-original-to",
    "Envelope-To": "envelope-to",
    RECEIVED_FOR: "Received",
    ORIGINAL_RECIPIENT: "ORCPT",
}


def _recipients(fields: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """Whose mailbox the message was delivered to, most trusted first, and how we know: the
    first address of each delivery field, read by the rule the ownership check reads them by,
    and last the mailbox it was found in (``GATHERED_FOR``)."""
    first: dict[str, str] = {}
    for clue in clues_from_fields(fields):
        first.setdefault(clue.field, clue.address)
    found = [
        (first[f], f"list post delivered to the member ({how})")
        for f, how in _MEMBER_FIELDS.items()
        if f in first
    ]
    found.append((GATHERED_FOR, "list post in the mailbox gathered for the member"))
    return found


def evidence_from_deliveries(
    deliveries: Iterable[Evidence], known_lists: Iterable[str] = ()
) -> Iterator[Evidence]:
    """List evidence from ``delivery`` lines: who a list post reached, who bounced, who posted.

    Lines are grouped per list and Message-ID (a post leaves in several SMTP transactions,
    one per VERP recipient or per batch), falling back to the queue id.
    """
    known = {normalize_address(k) for k in known_lists if "@" in k}
    posts: dict[tuple[str, str], list[tuple[Evidence, ListAddress]]] = {}
    for ev in deliveries:
        if ev.kind != "delivery":
            continue
        f = ev.fields
        sender = normalize_address(f.get("sender") or "")
        recipient = normalize_address(f.get("orig_to") or f.get("recipient") or "")
        la = list_of(sender) if sender else None
        if recipient in known and sender and la is None and not is_list_address(sender, recipient):
            yield _delivery_evidence("post", ev, recipient, sender, how="mail log: sent to the list")
        if la is None or (not la.strong and la.list not in known):
            continue
        key = (la.list, f.get("message_id") or f.get("queue_id") or f"{ev.source}:{ev.position}")
        posts.setdefault(key, []).append((ev, la))
    for (list_key, _), lines in posts.items():
        final: dict[str, tuple[str, Evidence]] = {}
        verp: set[str] = set()  # recipients the sender address itself names
        for ev, la in lines:
            recipient = normalize_address(ev.fields.get("orig_to") or ev.fields.get("recipient") or "")
            status = ev.fields.get("status", "")
            if la.member == recipient:
                verp.add(recipient)
            if _STATUS_RANK.get(status, 0) > _STATUS_RANK.get(final.get(recipient, ("",))[0], 0):
                final[recipient] = (status, ev)
        many = len(final) >= MIN_POST_RECIPIENTS
        for recipient, (status, ev) in final.items():
            if many or recipient in verp:
                yield _delivery_evidence(
                    _STATUS_KIND[status], ev, list_key, recipient, how=f"mail log: list post {status}"
                )


def _delivery_evidence(kind: str, ev: Evidence, list_key: str, address: str, how: str) -> Evidence:
    f = ev.fields
    values = {"list": list_key, "manager": "mail-log", "address": address, "how": how}
    for name in ("message_id", "queue_id", "status", "dsn", "relay"):
        if f.get(name):
            values[name] = f[name]
    return Evidence(kind, ev.source, ev.position, ev.time, values)


def scan_workspace(ws: Workspace) -> Iterator[Evidence]:
    """List evidence stored by plugins, then what every gathered copy says (each bytes once
    per account): as gather stored it, read again from the copy's bytes only for copies
    gathered before it was stored."""
    yield from store.all_evidence(ws.db)
    for account, source, position, blob, stored in store.copies_with_list_evidence(ws.db):
        if stored is not None:
            yield from for_account(store.evidence_list(stored, source, position), account or None)
            continue
        try:
            raw = ws.raw(blob)
        except BlobError as e:  # damaged in the workspace: its evidence is lost, said once here
            log.warning(
                "%s @%s: %s; its list evidence is left out (see 'mailrecover verify')", source, position, e
            )
            continue
        yield from evidence_from_message(raw, source=source, position=position, account=account or None)
