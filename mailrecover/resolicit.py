"""Asking people again: the list members whose status is unsure, and the drafts that ask them.

After a loss, a list owner re-collects the list by writing to the people on it (the advice
given after the 2012 disaster).  ``uncertain`` names every address whose verdict rests on
weak or old evidence, with the reasons; ``invitations`` writes one ready-to-send message per
address (an ``.eml`` an owner opens in a mail client, reviews and sends: nothing is sent
here); ``resend_requests`` one polite request per sender of lost mail, with the dates and
subjects the logs kept.  Templates are ``string.Template`` texts (``${name}``), the first
line ``Subject: …``; the placeholders are ``INVITATION_FIELDS`` / ``RESEND_FIELDS``.
Drafts are ISO-2022-JP when their text fits it (as Japanese mail clients expect), else UTF-8.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.charset import Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

from .clean import is_addr_spec, terminal_safe
from .errors import UsageError
from .members import Effect, Event, ListPicture, Member, Status

__all__ = [
    "INVITATION_FIELDS",
    "INVITATION_TEMPLATE",
    "RESEND_FIELDS",
    "RESEND_TEMPLATE",
    "Draft",
    "Template",
    "invitations",
    "load_template",
    "resend_requests",
    "uncertain",
]

#: Evidence older than this before the list's newest says little of membership today.
OLD = timedelta(days=365)
_ROTATED = re.compile(r"[.-]\d+(?:\.gz)?$|\.gz$")
_FROM_MAIL = ("mail", "mail-log")


def uncertain(picture: ListPicture) -> list[tuple[Member, list[str]]]:
    """Every address whose status rests on weak or old evidence, with why, by address.

    Who left for sure (an unsubscribe on record) is not asked again; who is a member on one
    source's word, only in old mail, only in a rotated log, bouncing, or against another
    source, is.
    """
    times = [e.time for m in picture.members.values() for e in m.events if e.time]
    newest = max(times) if times else None
    found = []
    for m in sorted(picture.members.values(), key=lambda m: m.address):
        reasons = _reasons(m, newest)
        if reasons:
            found.append((m, reasons))
    return found


def _reasons(m: Member, newest: datetime | None) -> list[str]:
    if m.status is Status.LEFT and not m.doubts:
        return []
    reasons: list[str] = []
    if m.status is Status.UNKNOWN:
        reasons.append("only seen posting to the list: never recorded as a member")
    managers = {e.evidence.fields.get("manager", "") for e in m.events if e.effect is not Effect.NONE}
    if m.status is Status.MEMBER and managers and managers <= set(_FROM_MAIL):
        reasons.append("only seen in list mail, in no list manager's file")
    sources = {e.evidence.source for e in m.events}
    if sources and all(_ROTATED.search(s) for s in sources):
        reasons.append("only in a rotated log")
    if newest and m.last_seen and newest - m.last_seen > OLD:
        reasons.append(f"last seen {m.last_seen:%Y-%m-%d}, long before the list's newest record")
    if m.bouncing:
        reasons.append(
            "mail to this address bounced"
            + (" (delivery stopped for bounces)" if m.nomail == "by bounce" else "")
        )
    reasons.extend(_conflicts(m))
    reasons.extend(m.doubts)
    return reasons


def _conflicts(m: Member) -> list[str]:
    """A member file listing an address after a source said it left, with no new joining."""
    out = []
    left = None
    for e in m.events:
        if e.effect is Effect.LEAVE:
            left = e
        elif e.kind == "subscribe":
            left = None
        elif e.kind == "member" and left is not None and e.evidence.source != left.evidence.source:
            out.append(f"sources disagree: {_told(left)}, but still on a member list of {_day(e.time)}")
            left = None
    return out


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


@dataclass(frozen=True)
class Draft:
    """One message to write: its file name, bytes, and whom it asks (with its reply token)."""

    name: str
    data: bytes
    address: str
    token: str


_EVERYONE = "  - リストの全員に確認をお願いしています / everyone on the list is being asked"

#: Placeholders of an invitation template, and what each holds.
INVITATION_FIELDS = {
    "list": "the list's address (dev@lists.example.org)",
    "list_name": "its short name (dev)",
    "address": "the address written to",
    "name": "the person's name as the list knew it, else the address",
    "status": "what the owner's records say now: member, member-bouncing, left, unknown",
    "first_seen": "date of the earliest record of this address on the list",
    "last_seen": "date of the latest one",
    "history": "every record behind the verdict, one a line, oldest first",
    "reasons": "why this address is asked (one a line; empty with --all for sure members)",
    "owner": "the address the drafts come from (the list's owner)",
    "token": "a token for this address; replies carry it in the subject",
    "subscribe_address": "where the list manager itself takes a subscription",
    "subscribe_command": "what to write there (subject or body)",
}

#: Placeholders of a resend request template.
RESEND_FIELDS = {
    "account": "the mailbox that lost the mail",
    "sender": "the person written to",
    "count": "how many of their messages were lost",
    "messages": "one line per lost message: date, time and subject as the logs kept them",
}

INVITATION_TEMPLATE = Template(
    "【${list_name}】メーリングリスト登録確認のお願い / Please confirm your subscription to ${list}",
    """\
${name} 様

メーリングリスト ${list} の管理者です。
サーバーの障害で、このリストの登録者の記録が失われました。残っていた記録から
名簿を作り直しています。あなたの登録を確認させてください。

残っていた記録（${first_seen} 〜 ${last_seen}）:
${history}

確認が必要な理由:
${reasons}

引き続き受け取る場合は、件名を変えずにこのメールに「はい」と返信してください。
受け取らない場合は「いいえ」と返信してください。
リストの登録窓口 ${subscribe_address} に「${subscribe_command}」と送っても登録できます。

確認番号: ${token}

--
Dear ${name},

I run the mailing list ${list}. A server failure destroyed the list's records, and I am
rebuilding the list from what survived. Could you confirm your subscription?

What survived (${first_seen} to ${last_seen}):
${history}

Why I am asking:
${reasons}

To stay on the list, reply "yes" to this message without changing its subject;
to leave, reply "no". You may also subscribe yourself by writing
"${subscribe_command}" to ${subscribe_address}.

Confirmation code: ${token}

${owner}
""",
)

RESEND_TEMPLATE = Template(
    "メール再送のお願い / Could you resend your mail to ${account}?",
    """\
${sender} 様

${account} です。
メールサーバーの障害で、受信したメールの一部が失われました。
サーバーの記録では、あなたから次の ${count} 通が届いていましたが、手元に残っていません。

${messages}

お手数ですが、お手元に控えがあれば再送していただけますと助かります。

--
Dear ${sender},

A failure at my mail provider destroyed part of the mail I received.
The server's records show these ${count} messages from you arrived, but I no longer have them:

${messages}

If you still have copies, could you kindly send them again? Thank you very much.

${account}
""",
)


def load_template(path: str, fields: Mapping[str, str]) -> Template:
    """A template from a UTF-8 file: ``Subject: …``, a blank line, the body; every ``${name}``
    must be one of ``fields`` (UsageError naming it otherwise)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--template {path}: {getattr(e, 'strerror', None) or e}") from e
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    if not head.lower().startswith("subject:") or "\n" in head.strip():
        raise UsageError(
            f"--template {path}: the first line must be 'Subject: …', then a blank line, then the body"
        )
    template = Template(head.split(":", 1)[1].strip(), body)
    for part in (template.subject, template.body):
        for m in string.Template.pattern.finditer(part):
            name = m.group("named") or m.group("braced")
            if m.group("invalid") is not None or (name and name not in fields):
                raise UsageError(
                    f"--template {path}: unknown placeholder {m.group(0)!r}; "
                    f"known: {', '.join('${' + k + '}' for k in fields)}"
                )
    return template


def _fill(template: Template, values: Mapping[str, str]) -> tuple[str, str]:
    return (
        string.Template(template.subject).substitute(values).replace("\n", " "),
        string.Template(template.body).substitute(values),
    )


def _message(
    sender: str, to: tuple[str, str], subject: str, body: str, when: datetime, extra: Mapping[str, str]
) -> bytes:
    """A ready-to-send text/plain message: ISO-2022-JP when it fits, else UTF-8."""
    try:
        (subject + body + to[0]).encode("iso-2022-jp")
        charset = "iso-2022-jp"
    except UnicodeEncodeError:
        charset = "utf-8"
    msg = MIMEText(body, "plain", charset)
    msg["Subject"] = Header(subject, charset).encode()
    msg["From"] = sender
    msg["To"] = formataddr(to, Charset(charset)) if to[0] else to[1]
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    for name, value in extra.items():
        msg[name] = value
    return msg.as_bytes()


_TOLD = {
    "subscribe": "subscribed",
    "unsubscribe": "unsubscribed",
    "member": "on the member list",
    "delivered": "list mail delivered",
    "received": "list mail received",
    "bounce": "list mail bounced",
    "deferred": "list mail delayed",
    "post": "posted to the list",
    "auto-reply": "auto-reply to list mail",
    "address-change": "address changed",
    "absent": "no longer on the member list",
}


def _told(e: Event) -> str:
    """One record as the person asked may read it: when and what, never where it was found
    (file paths on the server are the owner's business)."""
    return f"{_day(e.time)} {_TOLD.get(e.kind, e.kind)}"


def _file_name(n: int, address: str) -> str:
    return f"{n:04d}-{re.sub(r'[^A-Za-z0-9._@+-]', '_', address)}.eml"


def _day(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d") if t else "?"


def _subscribe(picture: ListPicture) -> tuple[str, str]:
    """(address, what to write) by which list manager's files the evidence came from."""
    local, _, host = picture.address.partition("@")
    managers = [e.evidence.fields.get("manager", "") for m in picture.members.values() for e in m.events]
    manager = max(set(managers) - set(_FROM_MAIL), key=managers.count, default="")
    if not host:
        return picture.address, "subscribe"
    return {
        "mailman2": (f"{local}-request@{host}", "subscribe"),
        "mailman3": (f"{local}-join@{host}", "subscribe"),
        "fml": (f"{local}-ctl@{host}", "subscribe Your Name"),
        "majordomo": (f"majordomo@{host}", f"subscribe {local}"),
        "ezmlm": (f"{local}-subscribe@{host}", "subscribe"),
    }.get(manager, (f"{local}-request@{host}", "subscribe"))


def invitations(
    picture: ListPicture,
    asked: Iterable[tuple[Member, list[str]]],
    template: Template = INVITATION_TEMPLATE,
    owner: str = "",
    when: datetime | None = None,
) -> list[Draft]:
    """One draft per address asked; addresses no mail client could write to are left out
    (the caller reports them: ``is_addr_spec``)."""
    when = when or datetime.now(UTC)
    local, _, host = picture.address.partition("@")
    if not owner:  # the owner config.pck names, else the list's -owner address
        owners = sorted(picture.roles.get("owner", set()))
        owner = owners[0] if owners else f"{local}-owner@{host}" if host else picture.address
    subscribe_address, subscribe_command = _subscribe(picture)
    drafts = []
    for n, (m, reasons) in enumerate(asked, 1):
        if not is_addr_spec(m.address):
            continue
        token = secrets.token_hex(6)
        name = terminal_safe(m.name).strip()
        values = {
            "list": picture.address,
            "list_name": local,
            "address": m.address,
            "name": name or m.address,
            "status": m.label,
            "first_seen": _day(m.first_seen),
            "last_seen": _day(m.last_seen),
            "history": "\n".join(f"  {_told(e)}" for e in m.events) or "  -",
            "reasons": "\n".join(f"  - {terminal_safe(r)}" for r in reasons) or _EVERYONE,
            "owner": owner,
            "token": token,
            "subscribe_address": subscribe_address,
            "subscribe_command": subscribe_command,
        }
        subject, body = _fill(template, values)
        data = _message(
            owner,
            (name, m.address),
            f"{subject} [{token}]",
            body,
            when,
            {"Reply-To": owner, "X-Mailrecover-Token": token},
        )
        drafts.append(Draft(_file_name(n, m.address), data, m.address, token))
    return drafts


def resend_requests(
    account: str,
    lost: Mapping[str, list[tuple[str, str]]],
    template: Template = RESEND_TEMPLATE,
    when: datetime | None = None,
) -> list[Draft]:
    """One request per sender: ``lost`` maps a sender to its lost messages' (ISO time, subject)."""
    when = when or datetime.now(UTC)
    drafts = []
    for n, sender in enumerate(sorted(s for s in lost if is_addr_spec(s)), 1):
        items = sorted(lost[sender])
        lines = "\n".join(
            f"  {t[:16].replace('T', ' ') or '?'}  {terminal_safe(subject) or '(subject not logged)'}"
            for t, subject in items
        )
        values = {"account": account, "sender": sender, "count": str(len(items)), "messages": lines}
        subject, body = _fill(template, values)
        drafts.append(
            Draft(_file_name(n, sender), _message(account, ("", sender), subject, body, when, {}), sender, "")
        )
    return drafts
