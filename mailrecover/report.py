"""What the workspace holds, per account: for people on a terminal, and as JSON.

``summary`` is the one picture every form of the report is drawn from (``report --json``
prints it as it is; ``report_html`` draws it, and writes the page); subjects, folder names and addresses in it
come from the mail and are hostile: ``terminal_safe`` shows them without their control
characters.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .byowner import unassigned
from .clean import terminal_safe
from .inventory import gap, logs_gathered
from .logtimes import correct_log_years
from .merged import ensure_merged, placement
from .model import MessageStatus
from .ownership import account_aliases, quarantine_details
from .provenance import group_places, is_folder_place
from .words import counted
from .workspace import Workspace, store

__all__ = ["items_text", "render_text", "skipped_files", "summary"]

#: How each kind of item kept beside the mail is counted in a line.
_ITEM_NOUNS = (("contact", "contact"), ("group", "contact group"), ("event", "calendar item"))


def items_text(counts: dict[str, int]) -> str:
    """``1 contact, 2 calendar items``: the kinds found, in one order."""
    return ", ".join(counted(counts[kind], noun) for kind, noun in _ITEM_NOUNS if counts.get(kind))


def _account_summary(ws: Workspace, account: str) -> dict[str, Any]:
    db = ws.db
    copies = store.count_copies(db, account)
    folders: dict[str, int] = {}
    messages = quarantined = deleted = 0
    for folder, status, flags, n in store.folder_counts(db, account):  # one pass over the folder index
        where, _ = placement(folder, flags)  # as restore files it: deleted mail under 'Recovered Deleted'
        folders[where] = folders.get(where, 0) + n
        messages += n
        quarantined += n if status == MessageStatus.QUARANTINED else 0
        deleted += n if "deleted" in flags.split(",") else 0
    problems = store.count_problems(db, account)
    conflicts = [{"message_id": mid, "messages": n} for mid, n in store.conflicts(db, account)]
    sources = _sources(db, account)
    date_sources = store.date_source_counts(db, account)  # which evidence each message's date came from
    restores: dict[str, int] = {}
    for target, n in store.restored_counts(db, account):
        restores[target] = n
    return {
        "aliases": list(account_aliases(ws, account)),
        "copies": copies,
        "messages": messages,
        "duplicates": copies - messages,
        "folders": dict(sorted(folders.items())),
        "deleted": deleted,
        "quarantined": quarantined,
        "problems": problems,
        "items": store.item_counts(db, account),  # contacts, lists, calendar items: not mail, kept
        "conflicts": conflicts,
        "sources": sources,
        "date_sources": date_sources,
        "restored": restores,
        "verified": _verifications(db, account),
        "quarantine": quarantine_details(ws, account),
        **(gap(db, account) if logs_gathered(db) else {}),  # no logs: nothing can be called missing
    }


def _verifications(db: sqlite3.Connection, account: str) -> dict[str, dict[str, Any]]:
    """Per target, what its last look found (a restore looks every run; ``verify`` too)."""
    rows = store.verifications(db, account)
    return {
        target: {
            "checked": checked,
            "by": by,
            "planned": planned,
            "present": present,
            "missing": missing,
            "repaired": repaired,
            "note": note,
        }
        for target, checked, by, planned, present, missing, repaired, note in rows
    }


def _sources(db: sqlite3.Connection, account: str) -> dict[str, int]:
    """Copies by place (``group_places``)."""
    group_places(db, account)
    return store.place_totals(db)


def skipped_files(ws: Workspace) -> list[str]:
    """Every file a gather passed over as no mail store, by path (``-v report`` names them)."""
    return store.skipped_paths(ws.db)


def summary(ws: Workspace, account: str | None = None) -> dict[str, Any]:
    """The whole picture as plain data (what ``report --json`` prints)."""
    ensure_merged(ws, account)
    correct_log_years(ws.db, ws.accounts())  # messages gathered since the logs may date their lines
    # an account may have only contacts and calendar items (a .pst without mail): listed too
    accounts = [account] if account is not None else sorted({*ws.accounts(), *store.item_accounts(ws.db)})
    problems = [
        {"kind": k, "source": s, "position": p, "reason": r, "account": a}
        for k, s, p, r, a in store.problems(ws.db, account)
    ]
    skipped = store.count_skipped(ws.db)
    evidence = store.evidence_counts(ws.db)
    log_times = store.log_time_counts(ws.db)
    return {
        "workspace": str(ws.path),
        "accounts": {a: _account_summary(ws, a) for a in accounts},
        "problems": problems,
        "skipped_files": skipped,
        "evidence": evidence,
        "log_times": log_times,
        "unassigned": unassigned(ws),
    }


#: How the terminal names each source of a message's date (``arrival.TimeSource``).
_DATE_WORDS = {
    "store": "the store's record",
    "mtime": "file time (agreeing)",
    "received": "Received",
    "date": "Date header",
    "legacy": "gathered by an older version",
    "none": "no date",
}


def _render_log_times(counts: dict[str, int]) -> list[str]:
    """What part of the log records' times was assumed, so nobody takes a guess for a fact."""
    guessed = sum(n for basis, n in counts.items() if basis.startswith("current-year/"))
    local = sum(n for basis, n in counts.items() if basis.endswith("/local"))
    out = []
    if guessed:
        out.append(
            f"{counted(guessed, 'log record')} {'carries' if guessed == 1 else 'carry'} a guessed year "
            "(the current one): no rotation name, file time or gathered message named in them dates them"
        )
    if local:
        out.append(
            f"{counted(local, 'log record')} {'is' if local == 1 else 'are'} read in this machine's time "
            "zone, assumed to be the server's (gather --log-timezone names it)"
        )
    return out


def _render_gap(a: dict[str, Any]) -> list[str]:
    """What the server's logs show delivered and sent, against what was recovered."""
    if not a.get("delivered") and not a.get("sent") and not a.get("unidentified"):
        return []
    t = terminal_safe
    out = [
        f"  the mail logs show {counted(a['delivered'], 'message')} delivered here, "
        f"{a['recovered_of_delivered']:,} of them recovered; {len(a['missing']):,} lost for good:"
    ]
    for m in a["missing"]:
        out.append(
            f"    {m['date'][:19]}  {t(m['from']) or '<>'}  {t(m['size'])} bytes  <{t(m['message_id'])}>"
        )
    if a["by_day"]:
        out.append("    day         delivered  recovered")
        for d in a["by_day"]:
            out.append(f"    {d['day']:<10}  {d['delivered']:>9,}  {d['recovered']:>9,}")
    if a["sent"]:
        out.append(
            f"  the logs show {counted(a['sent'], 'message')} sent from here; "
            f"{len(a['missing_sent']):,} of them {'is' if len(a['missing_sent']) == 1 else 'are'} "
            "in no recovered copy:"
        )
        for m in a["missing_sent"]:
            out.append(f"    {m['date'][:19]}  to {t(', '.join(m['to']))}  <{t(m['message_id'])}>")
    if a["unidentified"]:
        n = len(a["unidentified"])
        out.append(
            f"  {counted(n, 'logged delivery', 'logged deliveries')} "
            f"{'carries' if n == 1 else 'carry'} no Message-ID and cannot be matched"
        )
    return out


def render_text(data: dict[str, Any]) -> str:
    """The summary as a person reads it on a terminal."""
    t = terminal_safe
    out = [f"workspace {t(data['workspace'])}"]
    if not data["accounts"]:
        out.append("nothing gathered yet")
    for name, a in data["accounts"].items():
        out.append("")
        out.append(f"account {t(name) or '(none given)'}")
        if a["aliases"]:
            out.append(
                f"  also known as {t(', '.join(a['aliases']))} (--alias: counts as this account's mailbox)"
            )
        out.append(
            f"  {counted(a['copies'], 'copy')} found, {counted(a['messages'], 'distinct message')} "
            f"({counted(a['duplicates'], 'duplicate')} merged) in {counted(len(a['folders']), 'folder')}"
        )
        if a["quarantined"]:
            out.append(f"  {a['quarantined']:,} quarantined: delivered to other mailboxes, held back")
            for q in a["quarantine"][:20]:
                out.append(f"    {q['date'][:10]}  <{t(q['message_id'])}>  {t(q['subject'][:50])!r}")
                out.append(f"      {t(q['reason'])}")
            if len(a["quarantine"]) > 20:
                more = len(a["quarantine"]) - 20
                out.append(f"    … and {more:,} more (report --json or --html lists all)")
        else:
            out.append("  none quarantined: no message shows delivery to another mailbox")
        if a["problems"]:
            out.append(f"  {counted(a['problems'], 'problem')} reading its sources (listed below)")
        if a.get("items"):
            out.append(f"  {items_text(a['items'])} kept, not mail (export-items writes them)")
        if a["deleted"]:
            out.append(f"  {a['deleted']:,} deleted in every copy: restored under 'Recovered Deleted'")
        if a["conflicts"]:
            n = len(a["conflicts"])
            out.append(f"  {counted(n, 'Message-ID')} carried by different mails (kept apart)")
        if a["folders"]:
            out.append("  folders, as restore files them:")
        width = max((len(f) for f in a["folders"]), default=0)
        for folder, n in a["folders"].items():
            out.append(f"    {t(folder):<{width}}  {n:>7,}")
        for source, n in a["sources"].items():
            many = ", one per file" if is_folder_place(source) else ""
            out.append(f"  from {t(source)}: {counted(n, 'copy')}{many}")
        if a["date_sources"]:
            dates = ", ".join(f"{n:,} {_DATE_WORDS.get(k, k)}" for k, n in a["date_sources"].items())
            out.append(f"  dates from: {dates}")
        if not a["restored"]:
            out.append("  not restored yet")
        for target, n in a["restored"].items():
            last = a["verified"].get(target)
            state = "complete" if n >= a["messages"] - a["quarantined"] else "incomplete: run restore again"
            if last and last["missing"]:
                state = f"incomplete: {last['missing']:,} missing at the last check; run restore again"
            out.append(f"  restored to {t(target)}: {n:,} of {a['messages']:,} ({state})")
            if last:
                out.append(
                    f"    last checked {last['checked']} by {last['by']}: {last['planned']:,} planned, "
                    f"{last['present']:,} present, {last['missing']:,} missing, {last['repaired']:,} repaired"
                )
        out.extend(_render_gap(a))
    if data["problems"]:
        out.append("")
        out.append(f"{counted(len(data['problems']), 'problem')}:")
        for p in data["problems"]:
            where = f"{p['source']}" + (f" @{p['position']}" if p["position"] else "")
            out.append(f"  {p['kind']}: {t(where)}: {t(p['reason'])}")
    if data.get("unassigned"):
        pile = data["unassigned"]
        out.append("")
        out.append(
            f"{len(pile)} copies unassigned: gather --by-owner found no account of the job for them (kept)"
        )
        for u in pile[:20]:
            where = f"{u['source']}" + (f" @{u['position']}" if u["position"] else "")
            out.append(f"  {t(where)}  <{t(u['message_id'])}>  {t(u['subject'][:50])!r}")
            out.append(f"    {t(u['reason'])}")
        if len(pile) > 20:
            out.append(f"  … and {len(pile) - 20} more (report --json lists all)")
    if data["skipped_files"]:
        n = data["skipped_files"]
        them = "it" if n == 1 else "them"
        out.append(
            f"{counted(n, 'file')} skipped, no mail read from {them} (-v names {them}; gather -v also says why)"
        )
    out.extend(_render_log_times(data.get("log_times") or {}))
    return "\n".join(out)
