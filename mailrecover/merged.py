"""An account's messages brought up to date before anything reads them: merged again when
its copies changed, checked again when its verdicts were cleared.  ``report``, ``restore``
and ``verify`` share this one rule, beside the merge rather than inside one of them."""

from __future__ import annotations

from .model import Flag
from .workspace import Workspace, store

__all__ = ["DELETED_FOLDER", "ensure_merged", "placement"]

#: Where mail that every copy marks deleted goes: restored, never dropped.
DELETED_FOLDER = "Recovered Deleted"


def ensure_merged(ws: Workspace, account: str | None = None) -> set[str]:
    """Merge and check every account (or one) whose copies changed since its last merge,
    and check any whose messages were merged but never checked (a run killed in between);
    returns the accounts checked now."""
    merged = {a for a, when in store.merge_states(ws.db) if when}
    names = [account] if account is not None else ws.accounts()  # index seeks, not a scan of copies
    stale = {n for n in names if n not in merged and store.has_copies(ws.db, n)}
    unchecked = {n for n in names if store.has_unchecked(ws.db, n)}
    todo = sorted(stale | unchecked)  # both are drawn from ``names`` alone
    if todo and ws.read_only:
        raise ws.cannot_write(f"the copies of {', '.join(repr(n) for n in todo)} are not merged yet")
    if todo:
        from .merge import merge_account  # with the fingerprint and ownership rules: only when work is due
        from .ownership import check_account

        with ws.rewriting_messages():
            for name in todo:
                if name in stale:
                    merge_account(ws.db, name)
                check_account(ws, name)
    return set(todo)


def placement(folder: str, flags_text: str) -> tuple[str, frozenset[Flag]]:
    """Where a merged message goes and with which flags, from its stored folder and flags:
    the one notion of a message's folder that restore, its plan and the report share."""
    flags = store.flag_set(flags_text)
    if Flag.DELETED in flags:
        return f"{DELETED_FOLDER}/{folder}", flags - {Flag.DELETED}
    return folder, flags
