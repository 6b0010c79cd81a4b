"""Which account a message may go to.

A message is restored into account A only when nothing shows it was delivered to someone
else.  The evidence (``Clue``, read by ``delivery``) is what servers and clients wrote:

- ``Delivered-To``, ``X-Original-To``, ``Envelope-To``, ``X-Envelope-To``,
  ``Original-Recipient`` (every one of them);
- the last hop's ``Received: … for <x>`` and its ``ORCPT`` (only the topmost Received field:
  earlier hops name earlier recipients, such as a list's own address or a forwarder's);
- the client account a copy was filed under (``Copy.account_hints``).

Ownership is a property of copies.  A copy is **A's own** when its clues name A, or when it
has no clue at all and A wrote it (From names A: A's Sent mail and drafts).  A message with
an own copy goes to A, and is restored from the best of its own copies (``merge.copy_rank``
among them alone).  Why: the same mail exists once per mailbox it went through.  taro's Sent
copy and hanako's delivered copy of the mail he sent her are one message to the merge; when
hanako's copy is found in a contaminated area gathered for taro, it must neither make taro's
Sent mail look like hanako's (quarantined) nor travel into taro's mailbox with her delivery
headers.  A foreign copy is evidence for the other account, never against a copy A itself
holds.  The price: when A's own copy is cut off and only a copy that is not A's own is whole,
A gets its own cut-off copy (the other stays in the workspace as a copy of the message):
a copy that is not proven A's may carry another mailbox's headers (a Sent copy's ``Bcc``).

A message without an own copy is judged on the clues of all its copies together: clues that
name other mailboxes and never A send it to quarantine (held back from every target,
reported with its clues, restored only with ``--include-quarantined``).  Mail with no clues
at all (BCC, most list mail, mail someone else wrote without delivery headers) stays with A:
nothing shows it belongs elsewhere.  A copy without clues that A did not write does not
outweigh a foreign copy: hanako's mail found twice, delivered and as a header-less export,
is still hers.

An address names A when it is A itself or one of A's aliases (old domains, ``info@``
delivered to A, a host name such as ``taro@mail.example.co.jp``: see ``add_aliases``), with
a ``+tag`` subaddress, its local part at ``localhost`` (what fetchmail and local delivery
write), or qmail's virtual-domain form ``domain-local@domain``.  ``"taro"@example.co.jp``
and ``taro@example.co.jp.`` are taro (``rfc822.normalize_address``).  A's local part at
another domain, even a subdomain of A's, does not: on a hosting service ``info@example.jp``
and ``info@shop.example.jp`` are different customers, until the administrator says so with
an alias.  A server's internal name for a mailbox (Sun/Oracle ``…@ims-ms-daemon``) counts for
A when it names A and never against.

Mailing lists.  A list post names the list's own address in the delivery fields of the
hop into the list server (``Received … for <ml@…>``, and ``Delivered-To: ml@…`` when
the list is on the same host).  The list's address is not a person's mailbox, so an
address that the message itself names as its list (``listpost.list_post``: ``List-Post``,
``X-BeenThere``, ``X-Mailing-List``, ``List-Id`` ``<ml.example.org>`` for ``ml@example.org``,
fml's ``X-ML-Name`` with the list's domain, …) is no clue either way.  Decision for a list
post that carries no other clue, no ``Delivered-To: A``: it stays with A, like any mail
without delivery evidence; A's store holding a list post is how list members receive one.
A list post that also names another person's mailbox (``Delivered-To: other@…``) is
quarantined like any other mail.  The price of this rule: a sender who forges
``List-Post: <mailto:victim@…>`` makes that one address neutral in its own message; the
message is then treated as mail without evidence, never as mail proven to be A's.

Verdicts are stored with the messages and hold until the account's copies or aliases change
(then the merge and this check run again before the next report or restore).  A change to
what this check decides must come with a workspace migration that sets every verdict back
to ``unchecked`` (as ``004_recheck_ownership`` does), so no verdict is older than the rules.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from .delivery import CLIENT_ACCOUNT, RECEIVED_FOR, Clue, clues_from_fields, delivery_clues
from .errors import BlobError, UsageError
from .listpost import header_clues, list_post
from .merge import copy_rank
from .model import MessageStatus
from .rfc822 import header_fields, normalize_address
from .workspace import store

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "CLIENT_ACCOUNT",
    "RECEIVED_FOR",
    "Clue",
    "JobIndex",
    "account_aliases",
    "add_aliases",
    "check_account",
    "client_clues",
    "clues_from_fields",
    "copy_clues",
    "delivery_clues",
    "held_by",
    "is_mail_address",
    "names_account",
    "owners",
    "quarantine_details",
    "verdict",
]

_LOCALHOST = {"localhost", "localhost.localdomain"}
_ADDR_SPEC = re.compile(r"[^\s@<>,;]+@[^\s@<>,;.][^\s@<>,;]*")


def is_mail_address(address: str) -> bool:
    """Whether ``address`` can name an account or an alias: one ``local@domain``."""
    return bool(_ADDR_SPEC.fullmatch(normalize_address(address)))


@functools.lru_cache(maxsize=1 << 16)  # a mailbox names the same few addresses over and over
def names_account(address: str, account: str, aliases: tuple[str, ...] = ()) -> bool:
    """Whether an address is the mailbox of ``account`` or of one of its ``aliases``
    (see the module's rules)."""
    a = normalize_address(address)
    return any(_names(a, normalize_address(own)) for own in (account, *aliases))


def _names(a: str, own: str) -> bool:
    if a == own:
        return True
    local, _, domain = a.rpartition("@")
    own_local, _, own_domain = own.rpartition("@")
    if domain == own_domain:
        return local.partition("+")[0] == own_local or local == f"{own_domain}-{own_local}"
    return domain in _LOCALHOST and local.partition("+")[0] == own_local


def verdict(account: str, clues: Sequence[Clue], aliases: tuple[str, ...] = ()) -> str | None:
    """None when the message may go to ``account``, else the reason it may not."""
    against = [c for c in clues if not c.internal]  # a server's internal name never counts against
    if not account or not against or any(names_account(c.address, account, aliases) for c in clues):
        return None
    fields: dict[str, list[str]] = {}
    for c in against:
        fields.setdefault(c.address, [])
        if c.field not in fields[c.address]:
            fields[c.address].append(c.field)
    named = ", ".join(f"{a} ({', '.join(f)})" for a, f in sorted(fields.items()))
    return f"delivered to {named}, never to {account}"


def held_by(clues: Sequence[Clue], from_addr: str, account: str, aliases: tuple[str, ...] = ()) -> bool:
    """Whether a copy is the account's own: its clues name the account, or it has none
    (internal names aside) and the account wrote it (its Sent mail, its drafts)."""
    if any(names_account(c.address, account, aliases) for c in clues):
        return True
    return all(c.internal for c in clues) and bool(from_addr) and names_account(from_addr, account, aliases)


@dataclass
class _CopyRow:
    message: int
    id: int
    blob: str
    delivered: list[str]
    hints: list[str]
    rank: tuple[int, ...]
    canonical: int
    source: str
    position: str
    from_addr: str
    clues: list[Clue] | None  # its header's clues as gather stored them (None: gathered before)
    resummarised: bool = False  # its delivery addresses were read again (see ``_UNSUMMARISED``)


def _list(text: str) -> list[str]:
    return [] if text == "[]" else list(json.loads(text))


def _rows(ws: Workspace, account: str, status: MessageStatus | None = None) -> Iterable[_CopyRow]:
    """The account's copies, message by message (only its messages of ``status`` if given)."""
    for r in store.copies_to_judge(ws.db, account, status):
        yield _CopyRow(
            message=r[0],
            id=r[1],
            blob=r[2],
            delivered=_list(r[3]),
            hints=_list(r[4]),
            rank=copy_rank(r[5], r[6], r[7], r[8], r[1], r[13]),
            canonical=r[9],
            source=r[10],
            position=r[11],
            from_addr=r[12] or "",
            clues=None if r[14] is None else store.clue_list(r[14]),
        )


#: ``copies.delivered_to`` of a copy summarised by an older gather (migration 007): the next
#: check reads its header and stores what it finds.
_UNSUMMARISED = "?"


def _copy_clues(ws: Workspace, row: _CopyRow, account: str, aliases: tuple[str, ...]) -> list[Clue]:
    """A copy's clues; when every address it names is someone else's, the header clues gather
    stored (``copies.clues``), read from its raw header only for a copy gathered before them."""
    clues = client_clues(row.hints)
    fields = None
    if row.delivered == [_UNSUMMARISED]:
        fields = header_fields(ws.raw(row.blob))
        row.delivered = list(dict.fromkeys(c.address for c in clues_from_fields(fields)))
        row.resummarised = True
    if any(names_account(a, account, aliases) for a in row.delivered):
        return clues + [Clue("delivery", a) for a in row.delivered]
    if not row.delivered:
        return clues
    if row.clues is not None:  # read by gather: no need to read the copy again
        return clues + row.clues
    if fields is None:
        try:
            fields = header_fields(ws.raw(row.blob))
        except BlobError:  # damaged in the workspace (``verify`` names it): judged by what gather saw
            return clues + [Clue("delivery", a) for a in row.delivered]
    return copy_clues(fields, row.hints)


def copy_clues(fields: Sequence[tuple[str, bytes]], hints: Sequence[str] = ()) -> list[Clue]:
    """Every clue of one copy: the client accounts it was filed under and its header's delivery
    fields, less the addresses the message names as its own list's (no person's mailbox)."""
    return client_clues(hints) + header_clues(clues_from_fields(fields), list_post(fields))


def client_clues(hints: Sequence[str]) -> list[Clue]:
    """The client accounts a copy was filed under (``Copy.account_hints``), as clues."""
    named = getaddresses(list(hints)) if hints else []  # most copies name no client account
    return [Clue(CLIENT_ACCOUNT, normalize_address(a)) for _, a in named if "@" in a]


class JobIndex:
    """The accounts of a job (address -> aliases), found by an address's domain: ``names_account``
    matches only within a domain (or at ``localhost``, by local part), so a copy is weighed
    against the few accounts of its addresses' domains, not against every customer."""

    def __init__(self, accounts: Mapping[str, tuple[str, ...]]) -> None:
        self.accounts = dict(accounts)
        self._named: dict[str, tuple[str, ...]] = {}  # address -> the accounts it names, as found
        self.by_domain: dict[str, list[str]] = {}
        self.by_local: dict[str, list[str]] = {}
        for account, aliases in self.accounts.items():
            for own in (account, *aliases):
                local, _, domain = normalize_address(own).rpartition("@")
                for table, key in ((self.by_domain, domain), (self.by_local, local)):
                    if account not in table.setdefault(key, []):
                        table[key].append(account)

    def __contains__(self, account: object) -> bool:
        return account in self.accounts

    def named_by(self, address: str) -> list[str]:
        """The accounts ``address`` names (``names_account``)."""
        found = self._named.get(address)
        if found is None:  # a mixed area names the same addresses copy after copy
            local, _, domain = normalize_address(address).rpartition("@")
            near = (
                self.by_local.get(local.partition("+")[0], [])
                if domain in _LOCALHOST
                else self.by_domain.get(domain, [])
            )
            found = tuple(a for a in near if names_account(address, a, self.accounts[a]))
            if len(self._named) >= 1 << 16:
                self._named.clear()
            self._named[address] = found
        return list(found)


def owners(clues: Sequence[Clue], from_addr: str, job: JobIndex, area: str = "") -> tuple[list[str], str]:
    """The accounts of a job a copy belongs to (``gather --by-owner``), by the rules that
    decide quarantine: every account its clues name (a mail to two customers is both's); with
    no clue at all, the account that wrote it, else ``area`` (the account whose area holds it:
    a weak hint, heard only when nothing else speaks).  None: the reason, for the unassigned pile.
    """
    named = list(dict.fromkeys(a for c in clues for a in job.named_by(c.address)))
    if named:
        return named, ""
    against = sorted({c.address for c in clues if not c.internal})
    if against:
        return [], f"delivered to {', '.join(against)}, none of them an account of the job"
    wrote = job.named_by(from_addr) if from_addr else []
    if wrote:
        return wrote, ""
    if area in job:
        return [area], ""
    return [], "no delivery evidence, not written by an account of the job, in no account's area"


def check_account(ws: Workspace, account: str) -> int:
    """Mark each merged message of ``account`` ok or quarantined, and restore it from one of
    the account's own copies where it has one; returns how many are held back."""
    aliases = account_aliases(ws, account)
    held = 0
    db = ws.db
    with store.transaction(db):
        updates: list[tuple[MessageStatus, str, int, int]] = []
        for message, group in itertools.groupby(_rows(ws, account), key=lambda r: r.message):
            copies = [(row, _copy_clues(ws, row, account, aliases)) for row in group]
            store.save_delivered_to(
                db, [(json.dumps(row.delivered), row.id) for row, _ in copies if row.resummarised]
            )
            own = [row for row, clues in copies if held_by(clues, row.from_addr, account, aliases)]
            canonical = copies[0][0].canonical
            reason = None
            if own:
                canonical = max(own, key=lambda r: r.rank).id
            else:  # no copy of its own: every copy's clues together (none at all: it stays)
                reason = verdict(account, [c for _, clues in copies for c in clues], aliases)
            held += reason is not None
            updates.append(
                (MessageStatus.QUARANTINED if reason else MessageStatus.OK, reason or "", canonical, message)
            )
            if len(updates) >= 1000:  # memory bounded by the batch, not by the mailbox
                _mark(db, updates)
        _mark(db, updates)
    return held


def _mark(db: sqlite3.Connection, updates: list[tuple[MessageStatus, str, int, int]]) -> None:
    store.set_verdicts(db, updates)
    updates.clear()


def account_aliases(ws: Workspace, account: str) -> tuple[str, ...]:
    """The addresses the administrator said are also ``account``'s (``add_aliases``)."""
    return store.aliases(ws.db, account)


def add_aliases(ws: Workspace, account: str, aliases: Iterable[str]) -> list[str]:
    """Record addresses that are also ``account``'s mailbox (an old domain, ``info@``
    delivered to it, a host name); returns those that are new.

    Verdicts depend on them: a new alias sets the account's messages back to ``unchecked``,
    so the check runs again before the next report or restore.
    """
    keys = list(dict.fromkeys(normalize_address(a) for a in aliases))
    bad = [a for a in keys if not is_mail_address(a)]
    if bad:
        raise UsageError(f"--alias {bad[0]!r}: not a mail address (expected local@domain)")
    if not account and keys:
        raise UsageError("--alias names another address of an account: give the account with --account")
    keys = [a for a in keys if a != normalize_address(account)]
    known = set(account_aliases(ws, account))
    new = [a for a in keys if a not in known]
    if new:
        with store.transaction(ws.db):
            store.save_aliases(ws.db, account, new)
    return new


def quarantine_details(ws: Workspace, account: str) -> list[dict[str, Any]]:
    """Every quarantined message of ``account`` with its clues and where each was found."""
    info = {
        mid: {
            "key": key,
            "message_id": message_id or "",
            "subject": subject or "",
            "from": sender or "",
            "date": date or "",
            "date_source": date_source,
            "folder": folder,
            "reason": reason,
            "evidence": [],
        }
        for mid, key, message_id, subject, sender, date, date_source, folder, reason in store.quarantined(
            ws.db, account
        )
    }
    if not info:
        return []
    aliases = account_aliases(ws, account)
    for row in _rows(ws, account, MessageStatus.QUARANTINED):
        for clue in _copy_clues(ws, row, account, aliases):
            info[row.message]["evidence"].append(
                {"field": clue.field, "address": clue.address, "source": row.source, "position": row.position}
            )
    return list(info.values())
