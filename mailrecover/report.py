"""What the workspace holds, per account: for people on a terminal, and as JSON."""

from __future__ import annotations

from typing import Any

from .restore import ensure_merged
from .workspace import Workspace

__all__ = ["render_text", "summary"]


def _account_summary(ws: Workspace, account: str) -> dict[str, Any]:
    db = ws.db
    copies = db.execute("SELECT count(*) FROM copies WHERE account = ?", (account,)).fetchone()[0]
    messages, quarantined = db.execute(
        "SELECT count(*), coalesce(sum(status = 'quarantined'), 0) FROM messages WHERE account = ?",
        (account,),
    ).fetchone()
    folders = dict(
        db.execute(
            "SELECT folder, count(*) FROM messages WHERE account = ? GROUP BY folder ORDER BY folder",
            (account,),
        ).fetchall()
    )
    deleted = db.execute(
        "SELECT count(*) FROM messages WHERE account = ? AND ',' || flags || ',' LIKE '%,deleted,%'",
        (account,),
    ).fetchone()[0]
    problems = db.execute("SELECT count(*) FROM problems WHERE account = ?", (account,)).fetchone()[0]
    conflicts = [
        {"message_id": mid, "messages": n}
        for mid, n in db.execute(
            "SELECT message_id, messages FROM conflicts WHERE account = ? ORDER BY message_id",
            (account,),
        )
    ]
    sources = dict(
        db.execute(
            "SELECT l.location, count(*) FROM copies c JOIN locations l ON l.id = c.location_id "
            "WHERE c.account = ? GROUP BY l.location ORDER BY l.location",
            (account,),
        ).fetchall()
    )
    restores: dict[str, int] = {}
    for target, n in db.execute(
        "SELECT target, count(*) FROM journal WHERE state = 'done' AND key IN "
        "(SELECT key FROM messages WHERE account = ?) GROUP BY target ORDER BY target",
        (account,),
    ):
        restores[target] = n
    return {
        "copies": copies,
        "messages": messages,
        "duplicates": copies - messages,
        "folders": folders,
        "deleted": deleted,
        "quarantined": quarantined,
        "problems": problems,
        "conflicts": conflicts,
        "sources": sources,
        "restored": restores,
    }


def summary(ws: Workspace, account: str | None = None) -> dict[str, Any]:
    """The whole picture as plain data (what ``report --json`` prints)."""
    ensure_merged(ws, account)
    accounts = [account] if account is not None else ws.accounts()
    problems = [
        {"kind": k, "source": s, "position": p, "reason": r, "account": a}
        for k, s, p, r, a in ws.db.execute(
            "SELECT kind, source, position, reason, account FROM problems "
            + ("WHERE account = ? " if account is not None else "")
            + "ORDER BY source, position",
            (account,) if account is not None else (),
        )
    ]
    skipped = ws.db.execute("SELECT count(*) FROM skipped").fetchone()[0]
    evidence = dict(ws.db.execute("SELECT kind, count(*) FROM evidence GROUP BY kind").fetchall())
    return {
        "workspace": str(ws.path),
        "accounts": {a: _account_summary(ws, a) for a in accounts},
        "problems": problems,
        "skipped_files": skipped,
        "evidence": evidence,
    }


def render_text(data: dict[str, Any]) -> str:
    """The summary as a person reads it on a terminal."""
    out = [f"workspace {data['workspace']}"]
    if not data["accounts"]:
        out.append("nothing gathered yet")
    for name, a in data["accounts"].items():
        out.append("")
        out.append(f"account {name or '(none given)'}")
        out.append(
            f"  {a['messages']} messages from {a['copies']} copies "
            f"({a['duplicates']} duplicates merged)"
        )
        if a["quarantined"]:
            out.append(f"  {a['quarantined']} quarantined: delivered to someone else (not restored)")
        if a["deleted"]:
            out.append(f"  {a['deleted']} deleted in every copy: restored under 'Recovered Deleted'")
        if a["conflicts"]:
            out.append(f"  {len(a['conflicts'])} Message-IDs carried by different mails (kept apart)")
        width = max((len(f) for f in a["folders"]), default=0)
        for folder, n in a["folders"].items():
            out.append(f"    {folder:<{width}}  {n:>7}")
        for source, n in a["sources"].items():
            out.append(f"  from {source}: {n} copies")
        for target, n in a["restored"].items():
            out.append(f"  restored to {target}: {n} of {a['messages']}")
    if data["problems"]:
        out.append("")
        out.append(f"{len(data['problems'])} problems:")
        for p in data["problems"]:
            where = f"{p['source']}" + (f" @{p['position']}" if p["position"] else "")
            out.append(f"  {p['kind']}: {where}: {p['reason']}")
    if data["skipped_files"]:
        out.append(f"{data['skipped_files']} files were not mail stores (skipped; -v lists them)")
    return "\n".join(out)
