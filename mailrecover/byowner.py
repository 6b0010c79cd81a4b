"""Sorting a mixed-up area back to its owners (``gather --by-owner``).

A botched restore, a shared backup or a catch-all mailbox holds many accounts' mail side by
side.  Each copy is filed under every account of the job its delivery evidence names, by the
rules that decide quarantine (``ownership.owners``, on ``ownership.client_clues`` and ``listpost.header_clues``); the folder it
sits in is heard only when the copy carries no evidence at all.  A copy that names no account
of the job is kept in the workspace's ``unassigned`` pile with its evidence, never dropped and
never guessed into a mailbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .model import Copy, Evidence, Problem, ProblemKind
from .ownership import Clue, JobIndex, account_aliases, add_aliases, client_clues, owners
from .rfc822 import normalize_address
from .workspace import Workspace, store

__all__ = [
    "BY_OWNER",
    "Assignment",
    "JobAccounts",
    "area_account",
    "assign",
    "evidence_account",
    "import_sorted",
    "job_accounts",
    "read_accounts_file",
    "unassigned",
]

#: ``locations.account`` of a location read by ``--by-owner``: its reading state is its own.
BY_OWNER = "(by owner)"

#: The accounts of a job: address -> its aliases.
JobAccounts = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Assignment:
    """Whose a copy is; when no one's, why, and the clues that were weighed."""

    accounts: list[str]
    reason: str
    clues: list[Clue]
    by: str = ""  # what chose ``accounts``: "evidence", or the weak hints "writer" and "area"


def read_accounts_file(path: str) -> dict[str, tuple[str, ...]]:
    """``--accounts FILE``: one address a line, its aliases after it on the same line
    (``#`` starts a comment).  A bad line is a usage error naming its number."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--accounts {path}: cannot read it: {getattr(e, 'strerror', None) or e}") from e
    found: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].replace(",", " ").split()
        if not words:
            continue
        bad = next((w for w in words if "@" not in w.strip("@")), None)
        if bad is not None:
            raise UsageError(f"--accounts {path} line {number}: {bad!r} is not a mail address")
        account = normalize_address(words[0])
        if account in found:
            raise UsageError(f"--accounts {path} line {number}: {account} is listed twice")
        found[account] = tuple(normalize_address(w) for w in words[1:])
    if not found:
        raise UsageError(f"--accounts {path}: names no account")
    return found


def job_accounts(ws: Workspace, given: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    """The accounts to sort into: those given (their aliases recorded, so the quarantine
    counts them too), else every account the workspace knows, with its aliases."""
    if given is None:
        known = [a for a in ws.accounts() if a]
        if not known:
            raise UsageError(
                "gather --by-owner: the workspace knows no account yet; name them with --accounts FILE"
            )
        return {a: account_aliases(ws, a) for a in known}
    for account, aliases in given.items():
        add_aliases(ws, account, aliases)
    return {a: account_aliases(ws, a) for a in given}


def area_account(source: str, root: str, job: JobIndex) -> str:
    """The account whose area a file sits in, by the folder names below the gathered location
    (``…/taro@example.co.jp/…``, ``…/example.co.jp/taro/…``, or ``…/taro/…`` when only one
    account has that local part); "" when the path says nothing clear."""
    root = root.rstrip(os.sep)
    if root and source.startswith(root + os.sep):  # the usual case, without relpath's cost per copy
        rel = source[len(root) + 1 :]
    else:
        rel = os.path.relpath(source, root) if os.path.isabs(source) and os.path.isabs(root) else source
    parts = [p.lower() for p in rel.split(os.sep) if p not in ("", ".", "..")]
    found = {p for p in parts if p in job}
    found |= {f"{local}@{domain}" for domain, local in zip(parts, parts[1:]) if f"{local}@{domain}" in job}
    if not found:  # a bare local part names the one account whose own address has it
        for part in parts:
            own = [a for a in job.by_local.get(part, []) if a.partition("@")[0] == part]
            if len(own) == 1:
                found.add(own[0])
    return found.pop() if len(found) == 1 else ""


def assign(copy: Copy, header: Sequence[Clue], from_addr: str, root: str, job: JobIndex) -> Assignment:
    """Whose mail one copy is (see the module's rules); ``header``: its header's clues as
    ``fingerprint.summarize`` read them (``listpost.header_clues``)."""
    clues = client_clues(copy.account_hints) + list(header)
    area = "" if clues else area_account(copy.source, root, job)  # heard only when no clue speaks
    who, why = owners(clues, from_addr, job, area)
    if not who:
        by = ""
    elif clues:  # a clue named them (with clues and no account named, ``owners`` names none)
        by = "evidence"
    else:
        by = "writer" if from_addr and who == job.named_by(from_addr) else "area"
    return Assignment(who, why, clues, by)


def evidence_account(record: Evidence, job: JobIndex) -> str:
    """The account a record read in a mixed area (a delivery log line) is filed under: the one
    whose mailbox it was delivered into, else the one that sent it; "" (the job's) when it names
    no account of the job or several (``import_sorted`` brings it to each account it names)."""
    for fields in (("recipient", "orig_to"), ("sender",)):
        named = {a for f in fields if (value := record.fields.get(f)) for a in job.named_by(value)}
        if named:
            return named.pop() if len(named) == 1 else ""
    return ""


def unassigned(ws: Workspace) -> list[dict[str, Any]]:
    """The unassigned pile, as ``report`` shows it."""
    return store.unassigned_copies(ws.db)


def import_sorted(ws: Workspace, pile: Workspace, account: str, aliases: tuple[str, ...] = ()) -> int:
    """Make the copies ``ws`` brought from ``pile`` (a workspace a ``--by-owner`` sort filled)
    for ``account`` what the pile files under it now, as they were gathered there, with the
    problems filed under it and the delivery records that name it or one of its ``aliases`` as
    recipient or sender (as the report's gap analysis looks them up); returns how many copies
    are new.  A copy a later sort filed elsewhere leaves ``ws`` (``_withdraw``).

    What ``batch`` runs per account: each account has a workspace of its own (one writer
    each, so accounts run in parallel), the mixed areas are read once into the pile.
    """
    places: dict[int, int] = {}
    new = pending = 0
    with ws.loading_copies():
        store.begin(ws.db)
        try:
            _withdraw(ws, pile, account)
            ws.commit()  # what left, and why, before anything comes: one step a kill cannot split
            store.begin(ws.db)
            for there, location, plugin, row in store.copies_with_places(pile.db, account):
                if there not in places:
                    places[there] = ws.location(location, plugin, BY_OWNER)
                if store.add_copy_row(ws.db, places[there], row):
                    ws.blobs.put(pile.raw(row["blob"]), row["blob"])  # checked against its hash on reading
                    new += 1
                    pending += 1
                if pending >= 500:
                    ws.commit()
                    store.begin(ws.db)
                    pending = 0
            rows = [
                *store.problems_with_places(pile.db, account),
                *store.evidence_with_places(pile.db, (account, *aliases)),
            ]
            for found_at, location, plugin, table, values in rows:
                if found_at is not None and found_at not in places:
                    places[found_at] = ws.location(location, plugin, BY_OWNER)
                store.add_found_row(ws.db, table, places.get(found_at) if found_at else None, account, values)
            if new:
                store.mark_unmerged(ws.db, account)
        finally:
            ws.commit()  # what was brought before an interrupt is kept
    return new


def _withdraw(ws: Workspace, pile: Workspace, account: str) -> None:
    """Take out of ``ws`` the copies brought from the pile that it no longer files under
    ``account`` (a longer job's sort filed them elsewhere): its merge is redone, and one that
    already went to a target from here is a ``misfiled`` problem naming where to take it out."""
    held = store.copies_read_as(ws.db, account, BY_OWNER)
    if not held:
        return
    filed = store.share_keys(pile.db, account)
    gone = [copy_id for key, copy_id in held.items() if key not in filed]
    if not gone:
        return
    for loc, source, position, message_id, targets in store.restored_only_by(ws.db, gone):
        for target in targets:
            reason = (
                f"<{message_id or 'no Message-ID'}> was filed under {account} by the sort and restored to "
                f"{target}; a later sort files it elsewhere: take it out of {target} by hand"
            )
            store.save_problem(ws.db, loc, account, Problem(ProblemKind.MISFILED, source, position, reason))
    store.withdraw_copies(ws.db, account, gone)
