"""The HTML report: one self-contained file an administrator opens in any browser.

No script, no network, no external asset: styles are inline and a Content-Security-Policy
forbids loading anything, so even a mistake in escaping could not reach out.  Every text
that comes from mail (subjects, folder names, addresses, file names) is hostile input: it
goes through ``_t`` (control and format characters shown as ``?``, then HTML-escaped).
Sections: summary, timeline of recovered messages per day (inline SVG, holes marked),
missing mail (when the mail logs were gathered), folders, sources, messages and where
each came from, duplicates merged, conflicts, problems, quarantined mail with its evidence.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .clean import terminal_safe
from .model import MessageStatus
from .private import write_private
from .provenance import group_places, is_folder_place
from .words import counted
from .workspace import Workspace, store

__all__ = ["MESSAGE_ROWS", "render_html", "write_html"]

#: Rows in the per-message and duplicates tables; beyond that the report says how many more.
MESSAGE_ROWS = 5000
#: A run of days without any recovered mail at least this long is marked as a hole.
HOLE_DAYS = 3
#: Holes listed under the timeline (longest first) and numbered on it when too narrow for words.
HOLES_LISTED = 15
_CHAR_W = 6.6  # width of one character of the 11-unit SVG labels, a little generous
_EARLIEST = date(1990, 1, 1)  # mail dated before this is a broken clock, not a day with mail

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Hiragino Sans","Yu Gothic UI",Meiryo,
 "Noto Sans CJK JP","IPAGothic",sans-serif;margin:1em auto;max-width:80em;padding:0 1em;color:#1d1d1f;
 background:#fff}
h1{font-size:1.5em;margin:0 0 .1em}h1+p{margin-top:0}h3{margin:1.4em 0 .4em}.muted{color:#666}
h2{margin:1.2em 0 .4em;border-bottom:2px solid #ddd;padding-bottom:.15em;font-size:1.35em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(7.5em,1fr));gap:.5em;margin:.6em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.3em .7em;line-height:1.25;font-size:.93em}
.card b{display:block;font-size:1.45em}.card.warn{border-color:#c0392b;background:#fdf0ef}
.card.ok{border-color:#2e8b57;background:#f0f8f3}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border-bottom:1px solid #e4e4e4;
 padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f5f5f7;overflow-wrap:normal;white-space:nowrap;position:sticky;top:0;z-index:1;
 box-shadow:inset 0 -1px #ccc}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}table.narrow{width:auto;min-width:24em}
#summary td:first-child{overflow-wrap:break-word}
.dated td:first-child,.sources td:last-child{white-space:nowrap}.dated td:first-child .muted{font-size:.85em}
.messages td:nth-child(3),.duplicates td:nth-child(3),.held td:nth-child(2){min-width:12em}
.messages td:nth-child(4),.duplicates td:nth-child(4){min-width:14em}
.messages td:nth-child(6),.duplicates td:nth-child(6){font-size:.88em}
.quarantine td{background:#fdf0ef}code{font-size:.92em}code.cmd{white-space:nowrap}details{margin:.5em 0}
summary{cursor:pointer;font-weight:600}.timeline .legend{margin:.3em 0}
.timeline svg{display:block;box-sizing:border-box;width:100%;height:auto;background:#fafafa;border:1px solid #e4e4e4}
@media print,(max-width:60em){th{white-space:normal}th,td{padding:.2em .35em}}
@media screen and (max-width:40em){table{display:block;overflow-x:auto}}
@page{size:A4;margin:12mm}
@media print{body{margin:0;max-width:none;padding:0;font-size:10pt}a{color:inherit;text-decoration:none}
 th{position:static}thead{display:table-header-group}tr,.card,.timeline{break-inside:avoid}
 .messages td:nth-child(3),.duplicates td:nth-child(3),.held td:nth-child(2){min-width:12em}
 .messages td:nth-child(4),.duplicates td:nth-child(4){min-width:9em}
 .messages td:nth-child(6),.duplicates td:nth-child(6){font-size:.8em}.dated td:first-child .muted{display:block}
 h2,h3,h4{break-after:avoid}details>summary{display:none}
 details::details-content{content-visibility:visible;display:contents}}
"""


def _t(text: object) -> str:
    """Text from mail or sources, safe to put anywhere in HTML (elements and attributes)."""
    return html.escape(terminal_safe(str(text)), quote=True)


def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Collection[int] = (),
    cls: str = "",
    name: str = "",
) -> str:
    """A table (of class ``name``); ``rows`` hold cells already escaped (use ``_t``)."""
    th = "".join(f"<th{' class=n' if i in numeric else ''}>{_t(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        f"<tr{f' class={cls}' if cls else ''}>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    named = f' class="{name}"' if name else ""
    return f"<table{named}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).date()


def holes(days: Counter[date], first: date, last: date, at_least: int = HOLE_DAYS) -> list[tuple[date, date]]:
    """Runs of at least ``at_least`` days between ``first`` and ``last`` with no mail, longest first."""
    found: list[tuple[date, date]] = []
    start: date | None = None
    day = first
    while day <= last + timedelta(days=1):
        empty = day <= last and days.get(day, 0) == 0
        if empty and start is None:
            start = day
        elif not empty and start is not None:
            if (day - start).days >= at_least:
                found.append((start, day - timedelta(days=1)))
            start = None
        day += timedelta(days=1)
    return sorted(found, key=lambda h: ((h[0] - h[1]).days, h[0]))


def _timeline(ok: Counter[date], held: Counter[date], today: date, lost: Counter[date] | None = None) -> str:
    """An inline SVG: recovered, quarantined and (from the logs) lost messages per day, holes shaded."""
    lost = lost or Counter()
    both = ok + held
    plausible = [d for d in both + lost if _EARLIEST <= d <= today + timedelta(days=2)]
    odd = sum(n for d, n in both.items() if d not in plausible)
    if not plausible:
        return '<p class="muted">No message carries a usable date.</p>'
    first, last = min(plausible), max(plausible)
    ndays = (last - first).days + 1
    width, height, left, bottom, top = 900.0, 190.0, 40.0, 30.0, 12.0
    plot_w, plot_h = width - left - 10, height - bottom - top
    step = plot_w / ndays
    peak = max(both[d] + lost[d] for d in plausible)
    gaps = holes(both, first, last)

    def x(d: date) -> float:
        return left + (d - first).days * step

    def y(n: float) -> float:
        return top + plot_h - n / peak * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="recovered messages per day from {first} to {last}">'
    ]
    bar = max(step * 0.85, 2.0)  # a day of mail stays visible on a timeline of many years
    lost_bars: list[str] = []  # drawn over the holes they fall in
    for d in sorted(plausible):
        n_ok, n_held = ok.get(d, 0), held.get(d, 0)
        tip = f"{d}: {n_ok} recovered" + (f", {n_held} quarantined" if n_held else "")
        if n_ok:
            parts.append(
                f'<rect class="day" x="{x(d):.2f}" y="{y(n_ok):.2f}" width="{bar:.2f}" '
                f'height="{y(0) - y(n_ok):.2f}" fill="#2e6da4">'
                f"<title>{tip}</title></rect>"
            )
        if n_held:
            parts.append(
                f'<rect class="held" x="{x(d):.2f}" y="{y(n_ok + n_held):.2f}" width="{bar:.2f}" '
                f'height="{y(0) - y(n_held):.2f}" fill="#c0392b">'
                f"<title>{tip}</title></rect>"
            )
        if lost.get(d):
            top_n = n_ok + n_held + lost[d]
            lost_bars.append(
                f'<rect class="lost" x="{x(d):.2f}" y="{y(top_n):.2f}" width="{bar:.2f}" '
                f'height="{y(0) - y(lost[d]):.2f}" fill="#e8a33d"><title>{d}: {lost[d]} delivered '
                "according to the logs, not recovered</title></rect>"
            )
    # a hole is drawn over the bars, which at 2 units wide would hide a few days without mail
    for start, end in gaps:
        w = ((end - start).days + 1) * step
        label = f"no mail recovered from {start} to {end} ({(end - start).days + 1} days)"  # see holes()
        parts.append(
            f'<rect class="hole" x="{x(start):.2f}" y="{top}" width="{w:.2f}" height="{plot_h}" '
            f'fill="#f4c7c3"><title>{_t(label)}</title></rect>'
        )
    parts += lost_bars
    base = y(0)
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#888"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="11">{peak}</text>')
    parts.append(f'<text x="{left - 4}" y="{base}" text-anchor="end" font-size="11">0</text>')
    ticks = sorted({first, last, *_month_starts(first, last, 8)})
    for d in ticks:
        anchor = "start" if d == first else "end" if d == last else "middle"
        parts.append(
            f'<text x="{x(d) + (step if d == last else 0):.2f}" y="{height - 10}" '
            f'text-anchor="{anchor}" font-size="11">{d.isoformat()}</text>'
        )
    parts += _hole_labels(gaps, x, step, top, plot_h)
    parts.append("</svg>")
    out = ['<div class="timeline">' + "".join(parts)]
    legend = (
        '<p class="muted legend"><span style="color:#2e6da4">■</span> recovered '
        '<span style="color:#c0392b">■</span> quarantined '
        + ('<span style="color:#e8a33d">■</span> lost (in the logs, in no copy) ' if lost else "")
        + f'<span style="color:#f4c7c3">■</span> {HOLE_DAYS} days or more '
        "without any recovered mail" + (" (listed below, by number)" if gaps else "") + "</p></div>"
    )
    out.append(legend)
    if gaps:
        rows = [
            (str(n), _t(s), _t(e), str((e - s).days + 1)) for n, (s, e) in enumerate(gaps[:HOLES_LISTED], 1)
        ]
        out.append(
            "<h4>Longest holes</h4>" + _table(["#", "from", "to", "days"], rows, {0, 3}, name="narrow")
        )
    if odd:
        out.append(
            f'<p class="muted">{counted(odd, "message")} {"carries" if odd == 1 else "carry"} an impossible '
            f"date (before {_EARLIEST} or in the future), left out of the timeline.</p>"
        )
    return "".join(out)


def _hole_labels(
    gaps: list[tuple[date, date]], x: Callable[[date], float], step: float, top: float, plot_h: float
) -> list[str]:
    """Each hole's words inside its shading or, when it is too narrow, its number in the list
    below, centred on it where no other label is (longest holes first).

    Drawn last, with a white halo, so bars of lost mail inside a hole do not hide them."""
    out: list[str] = []
    taken: list[tuple[float, float]] = []
    for n, (start, end) in enumerate(gaps, 1):
        days = (end - start).days + 1
        width = days * step
        lines = [f"no mail for {days} days", f"{start} – {end}"]
        while lines and max(len(line) for line in lines) * _CHAR_W > width - 6:
            lines.pop()
        if not lines and n <= HOLES_LISTED:
            lines = [str(n)]
        middle = x(start) + width / 2
        half = max(len(line) for line in lines) * _CHAR_W / 2 if lines else 0
        if not lines or any(a < middle + half and middle - half < b for a, b in taken):
            continue  # the list below the chart still names it
        taken.append((middle - half, middle + half))
        for i, line in enumerate(lines):
            out.append(
                f'<text class="hole-label" x="{middle:.2f}" y="{top + 14 + 14 * i:.2f}" '
                'text-anchor="middle" font-size="11" font-weight="600" fill="#7b241c" stroke="#fff" '
                f'stroke-width="3" paint-order="stroke">{_t(line)}</text>'
            )
    return out


def _month_starts(first: date, last: date, most: int) -> list[date]:
    months = []
    d = date(first.year, first.month, 1)
    while d <= last:
        if d > first:
            months.append(d)
        d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    if len(months) > most:
        keep = max(1, len(months) // most)
        months = months[keep::keep]
    # labels too near the first or last one would overlap them
    span = (last - first).days or 1
    return [m for m in months if 0.08 < (m - first).days / span < 0.92]


def _cards(a: dict[str, Any]) -> str:
    def card(label: str, value: object, cls: str = "") -> str:
        return f'<div class="card {cls}"><b>{_t(value)}</b>{_t(label)}</div>'

    restored = sum(a["restored"].values())
    cards = [
        card("distinct messages", a["messages"]),
        card("copies found", a["copies"]),
        card("duplicates merged", a["duplicates"]),
        card("folders", len(a["folders"])),
        card("quarantined", a["quarantined"], "warn" if a["quarantined"] else "ok"),
        card("problems", a["problems"], "warn" if a["problems"] else "ok"),
        card("restored" if a["restored"] else "not restored yet", restored if a["restored"] else "–"),
    ]
    if a.get("missing") or a.get("delivered"):
        cards.append(
            card(
                "missing (in the logs, in no copy)",
                len(a.get("missing") or []),
                "warn" if a.get("missing") else "ok",
            )
        )
    return '<div class="cards">' + "".join(cards) + "</div>"


def _lost_per_day(a: dict[str, Any]) -> Counter[date]:
    """Per day, how many messages the logs show delivered and no copy holds (``by_day``)."""
    lost: Counter[date] = Counter()
    for entry in a.get("by_day") or []:
        try:
            day = date.fromisoformat(str(entry.get("day", ""))[:10])
        except ValueError:
            continue
        lost[day] += max(0, int(entry.get("delivered", 0)) - int(entry.get("recovered", 0)))
    return +lost


def section_missing(a: dict[str, Any]) -> str:
    """Mail the server's logs show delivered and no gathered copy holds (``accounts.<A>.missing``).

    The log inventory fills ``missing`` (and ``missing_sent``, ``delivered``, ``by_day``)
    when logs were gathered; without them the report says that what was lost cannot be told.
    """
    missing = a.get("missing") or []
    logged = bool(missing) or bool(a.get("delivered")) or bool(a.get("sent"))
    out = ['<section class="missing"><h3>Missing mail' + (f" ({len(missing)})" if missing else "") + "</h3>"]
    if not logged:
        out.append(
            '<p class="muted">No mail server logs were gathered for this account: what was '
            "delivered and is lost for good cannot be told. Gather the server's mail logs to "
            "list it.</p>"
        )
    elif not missing:
        out.append("<p>Every message the logs show delivered here was recovered.</p>")
    else:
        rows = [
            (
                _t(str(m.get("date", ""))[:19]),
                _t(m.get("from", "") or "<>"),
                _t(m.get("size", "")),
                f"<code>{_t(m.get('message_id', ''))}</code>",
            )
            for m in missing
        ]
        out.append(
            "<p>Delivered according to the mail logs, found in no gathered copy: lost unless "
            "another copy turns up.</p>"
            + _table(["date", "from", "size", "Message-ID"], rows, {2}, "quarantine")
        )
    sent = a.get("missing_sent") or []
    if sent:
        rows = [
            (
                _t(str(m.get("date", ""))[:19]),
                _t(", ".join(m.get("to") or [])),
                _t(m.get("size", "")),
                f"<code>{_t(m.get('message_id', ''))}</code>",
            )
            for m in sent
        ]
        out.append(
            f"<h4>Sent, according to the logs, and in no copy ({len(sent)})</h4>"
            + _table(["date", "to", "size", "Message-ID"], rows, {2})
        )
    if a.get("unidentified"):
        out.append(
            f'<p class="muted">{len(a["unidentified"])} logged deliveries carry no Message-ID '
            "and cannot be matched with a copy.</p>"
        )
    out.append("</section>")
    return "".join(out)


def _sources(ws: Workspace, account: str) -> str:
    """A row per place (``group_places``: a folder of one-copy files is one row)."""
    group_places(ws.db, account)
    only = store.places_only_here(ws.db, account)
    rows = []
    for place, plugins, copies, messages, gathered in store.place_rows(ws.db, account):
        where = f"<code>{_t(place)}</code>" + (" (one copy per file)" if is_folder_place(place) else "")
        rows.append((where, _t(plugins), str(copies), str(messages), str(only.get(place, 0)), _t(gathered)))
    return _table(
        ["location", "read by", "copies", "messages", "only here", "gathered"],
        rows,
        {2, 3, 4},
        name="sources",
    )


def _where(source: str, position: str) -> str:
    return f"<code>{_t(source)}</code>" + (f" @{_t(position)}" if position else "")


def _found_in(ws: Workspace, message: int) -> str:
    return "<br>".join(_where(source, position) for source, position in store.copy_places(ws.db, message))


def _messages(ws: Workspace, account: str) -> tuple[str, str]:
    """The per-message table (where each came from) and the duplicates table, each at most
    ``MESSAGE_ROWS`` long: only the messages shown are looked up, so these tables take the
    same memory however many messages the account has."""
    total = 0
    rows: list[tuple[str, ...]] = []
    dups: list[tuple[str, ...]] = []
    for mid, day, source, folder, sender, subject, copies, status in store.message_rows(ws.db, account):
        total += 1
        shown, duplicate = len(rows) < MESSAGE_ROWS, copies > 1 and len(dups) < MESSAGE_ROWS
        if not (shown or duplicate):
            continue
        when = f'{_t((day or "")[:16].replace("T", " "))} <span class="muted">{_t(source)}</span>'
        cells = (when, _t(folder), _t(sender or ""), _t(subject or ""), str(copies), _found_in(ws, mid))
        if shown:
            rows.append(
                (*cells, "quarantined" if status == MessageStatus.QUARANTINED else "")
            )  # (a CSS class)
        if duplicate:
            dups.append(cells)
    head = ["date", "folder", "from", "subject", "copies", "found in"]
    more = (
        f'<p class="muted">The first {MESSAGE_ROWS:,} of {total:,} messages are shown.</p>'
        if total > MESSAGE_ROWS
        else ""
    )
    return (
        _table([*head, ""], rows, {4}, name="messages dated") + more,
        _table(head, dups, {4}, name="duplicates dated") if dups else "",
    )


def _problems(problems: list[dict[str, Any]]) -> str:
    if not problems:
        return "<p>Every source was read without a problem.</p>"
    rows = [(_t(p["kind"]), _where(p["source"], p["position"]), _t(p["reason"])) for p in problems]
    return _table(["kind", "file", "reason"], rows)


def _quarantine(q: list[dict[str, Any]], account: str) -> str:
    if not q:
        return (
            f"<p>No message shows delivery to a mailbox other than {_t(account)}: nothing was held back.</p>"
        )
    rows = []
    for m in q:
        clues = "<br>".join(
            f"{_t(e['field'])}: <b>{_t(e['address'])}</b> — {_where(e['source'], e['position'])}"
            for e in m["evidence"]
        )
        rows.append(
            (
                _t(m["date"][:10]),
                _t(m["from"]),
                _t(m["subject"]),
                f"<code>{_t(m['message_id'])}</code>",
                _t(m["folder"]),
                clues,
            )
        )
    one = len(q) == 1
    these = "This message was" if one else f"These {len(q):,} messages were"
    return (
        f"<p>{these} found among {_t(account)}'s mail but {'was' if one else 'were'} delivered "
        f"to other mailboxes. {'It is' if one else 'They are'} <b>not restored</b>; "
        "<code class=cmd>restore --include-quarantined</code> "
        f"restores {'it' if one else 'them'} knowingly.</p>"
        + _table(
            ["date", "from", "subject", "Message-ID", "folder", "evidence"],
            rows,
            cls="quarantine",
            name="dated held",
        )
    )


def _date_sources(a: dict[str, Any]) -> str:
    """Which evidence the messages' dates came from (arrival.py): file times alone never count."""
    found = a.get("date_sources") or {}
    if not found:
        return ""
    listed = ", ".join(f"{_t(source)} {n}" for source, n in found.items())
    return f'<p class="muted">Dates from: {listed} (store: the mail store\'s own record).</p>'


def _account(ws: Workspace, name: str, a: dict[str, Any], problems: list[dict[str, Any]], today: date) -> str:
    ok: Counter[date] = Counter()
    held: Counter[date] = Counter()
    for day, status in store.message_days(ws.db, name):
        d = _day(day)
        if d is not None:
            (held if status == MessageStatus.QUARANTINED else ok)[d] += 1
    messages, duplicates = _messages(ws, name)
    folders = _table(
        ["folder", "messages"], ((_t(f), str(n)) for f, n in a["folders"].items()), {1}, name="narrow"
    )
    restored = (
        _table(
            ["target", "messages written"],
            ((f"<code>{_t(t)}</code>", str(n)) for t, n in a["restored"].items()),
            {1},
        )
        if a["restored"]
        else "<p>Not restored yet.</p>"
    )
    conflicts = ""
    if a["conflicts"]:
        conflicts = "<h3>One Message-ID, different mails</h3><p>Kept apart, each restored.</p>" + _table(
            ["Message-ID", "mails"],
            ((f"<code>{_t(c['message_id'])}</code>", str(c["messages"])) for c in a["conflicts"]),
            {1},
        )
    own = [p for p in problems if p.get("account") == name]
    return "".join(
        [
            f'<section class="account"><h2>{_t(name or "(no account given)")}</h2>',
            _cards(a),
            "<h3>Timeline: recovered messages per day</h3>",
            _timeline(ok, held, today, _lost_per_day(a)),
            _date_sources(a),
            section_missing(a),
            f"<h3>Quarantined ({a['quarantined']})</h3>",
            _quarantine(a["quarantine"], name),
            "<h3>Restored</h3>",
            restored,
            "<h3>Folders</h3>",
            folders,
            "<h3>Sources</h3>",
            _sources(ws, name),
            f"<h3>Duplicates merged ({a['duplicates']})</h3>",
            f"<details><summary>Messages found more than once</summary>{duplicates}</details>"
            if duplicates
            else "<p>No message was found twice.</p>",
            conflicts,
            f"<h3>Problems ({len(own)})</h3>",
            _problems(own),
            f"<h3>Messages ({a['messages']}) and where each came from</h3>",
            f"<details><summary>Show every message</summary>{messages}</details>",
            "</section>",
        ]
    )


def render_html(ws: Workspace, data: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    now = datetime.now(UTC)
    accounts = data["accounts"]
    body = [
        "<h1>mailrecover report</h1>",
        f'<p class="muted">Workspace <code>{_t(data["workspace"])}</code>, '
        f"written {now:%Y-%m-%d %H:%M} UTC.</p>",
    ]
    if not accounts:
        body.append("<p>Nothing gathered yet.</p>")
    else:
        rows = [
            (
                f'<a href="#a{i}">{_t(n or "(no account given)")}</a>',
                str(a["messages"]),
                str(a["copies"]),
                str(a["duplicates"]),
                str(len(a["folders"])),
                str(a["quarantined"]),
                str(a["problems"]),
                "not yet" if not a["restored"] else _t(", ".join(a["restored"])),
            )
            for i, (n, a) in enumerate(accounts.items())
        ]
        body.append(
            '<section id="summary"><h2>Summary</h2>'
            + _table(
                [
                    "account",
                    "messages",
                    "copies",
                    "duplicates",
                    "folders",
                    "quarantined",
                    "problems",
                    "restored to",
                ],
                rows,
                {1, 2, 3, 4, 5, 6},
            )
            + "</section>"
        )
    general = [p for p in data["problems"] if p.get("account") not in accounts]
    if general:
        body.append(f"<h2>Problems outside any account ({len(general)})</h2>" + _problems(general))
    if data.get("skipped_files"):
        skipped = int(data["skipped_files"])
        one = skipped == 1
        body.append(
            f'<p class="muted">{counted(skipped, "file")} {"was" if one else "were"} skipped: '
            f"no mail was read from {'it' if one else 'them'}.</p>"
        )
    for i, (name, a) in enumerate(accounts.items()):
        body.append(f'<div id="a{i}"></div>' + _account(ws, name, a, data["problems"], now.date()))
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mailrecover report</title><style>{_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_html(ws: Workspace, data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report to ``path`` atomically, readable only by its owner (0600)."""
    write_private(path, render_html(ws, data).encode("utf-8", "replace"))
