"""Who a bounce that is no RFC 3464 report says could not be reached, and whether for good.

Most bounces list managers received in the 2000s are free text: qmail's, Exim's, Exchange's,
Yahoo's, GroupWise's, Japanese carriers'.  ``flufl.bounce`` (Mailman 3's own detectors) reads
the common ones and says which failures are temporary (a warning, the MTA keeps trying) and
which permanent; the forms it does not know are read here (``_DETECTORS``), each from a
sample in ``../shared/corpus``.  RFC 3464 reports are read by ``lists`` itself, field by field.

Only messages that look like bounces are asked (``looks_like_bounce``): free-text detectors
would read an address out of an ordinary letter that quotes one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import Message
from typing import NamedTuple

from .rfc822 import decode_text

__all__ = ["Failure", "failures", "looks_like_bounce"]

_DAEMONS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)\b", re.I)
_FAILURE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (?:status|failure|has failed|notification)|failure (?:notice|delivery)"
    r"|mail delivery failed|could not be delivered|non-delivery|failed mail|mail system error"
    r"|エラー|送信できません|配信(?:でき|不能)|届きません",
    re.I,
)
_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[A-Za-z0-9.-]+[A-Za-z0-9]")


class Failure(NamedTuple):
    """One recipient a bounce reports, whether the failure is permanent, and who said so."""

    address: str
    permanent: bool
    detector: str


def looks_like_bounce(sender: str, subject: str, failed_header: bool = False) -> bool:
    """Whether a message is worth a bounce detector: from a mail system, or titled as a failure."""
    return failed_header or bool(_DAEMONS.match(sender)) or bool(_FAILURE_SUBJECT.search(subject))


def _texts(msg: Message) -> Iterator[str]:
    """The plain-text parts a mail system wrote, not the returned message inside."""
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            break
        if part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", ""):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield decode_text(payload, part.get_content_charset())


def _before_copy(text: str) -> str:
    """The report's own words, up to where it starts quoting the returned message."""
    cut = re.search(
        r"^(?:-+ ?(?:Original|Unsent|Below)|Original message|Received: |Return-Path: )", text, re.M | re.I
    )
    return text[: cut.start()] if cut else text


# --- the forms flufl.bounce does not know, each seen in the corpus -------------------------------

_AU_ONE = re.compile(r"Could not be delivered to:\s*<?([^\s<>]+@[^\s<>]+)>?", re.I)
_EZWEB = re.compile(r"rejected by a remote mail server|could not be delivered|account is disabled", re.I)
_EXCHANGE = re.compile(r"Delivery has failed to these recipients or groups:\s*\n+\s*(\S+)", re.I)
_OPENSMTPD = re.compile(
    r"error has occurred while attempting to deliver a message for\s+the following "
    r"list of recipients:\s*\n(.*?)(?:\n\s*\n|\Z)",
    re.I | re.S,
)
_SMTP32 = re.compile(r"^Delivery failed \d+ attempts?: (\S+@\S+)", re.I | re.M)


def _au_one_net(text: str) -> list[str]:
    """KDDI au one net (``メールエラー通知``): "送信できませんでした" and ``Could not be delivered to: <addr>``."""
    return _AU_ONE.findall(text) if "送信できませんでした" in text or "au one net" in text else []


def _ezweb(text: str) -> list[str]:
    """au EZweb: the rejected addresses in ``<…>`` lines above "Each of the following recipients
    was rejected by a remote mail server." (and its siblings)."""
    head = _before_copy(text)
    found = _EZWEB.search(head)
    if not found:
        return []
    return [
        m
        for line in head[: found.start()].splitlines()
        if (m := line.strip()).startswith("<") and (m := m.strip("<>")) and _ADDRESS.fullmatch(m)
    ]


def _exchange_online(text: str) -> list[str]:
    """Exchange Online / Office 365's text: ``addr<mailto:addr>`` under "Delivery has failed …"."""
    return [m[1].split("<mailto:")[0]] if (m := _EXCHANGE.search(text)) else []


def _opensmtpd(text: str) -> list[str]:
    """OpenSMTPD: ``addr: 550 …`` lines under "… the following list of recipients:"."""
    m = _OPENSMTPD.search(text)
    return (
        [a for line in m[1].splitlines() if (a := line.strip().split(":", 1)[0]) and _ADDRESS.fullmatch(a)]
        if m
        else []
    )


def _smtp32(text: str) -> list[str]:
    """SMTP32 / IMail ``Delivery failed N attempts: addr`` without the X-Mailer flufl.bounce asks for."""
    return _SMTP32.findall(_before_copy(text))


#: (name, reader): each reads the text parts and gives the addresses that failed for good.
_DETECTORS: tuple[tuple[str, Callable[[str], list[str]]], ...] = (
    ("au one net", _au_one_net),
    ("au EZweb", _ezweb),
    ("Exchange Online", _exchange_online),
    ("OpenSMTPD", _opensmtpd),
    ("SMTP32", _smtp32),
)


def failures(msg: Message) -> list[Failure]:
    """Every recipient this bounce reports, permanent ones first; [] when it names none.

    flufl.bounce is asked first; this module's detectors only when it finds nothing, so a
    form both read is reported once, as flufl.bounce reads it.
    """
    from flufl.bounce import all_failures  # imported only by the few copies that are bounces

    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector tripping on damaged MIME must not stop the gathering
        temporary, permanent = frozenset(), frozenset()
    found: dict[str, Failure] = {}
    for addresses, lasting in ((permanent, True), (temporary, False)):
        for raw in sorted(addresses):  # a set: sorted, so a rerun gives the same order
            address = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
            address = address.strip().strip("<>")
            if _ADDRESS.fullmatch(address):
                found.setdefault(address.lower(), Failure(address, lasting, "flufl.bounce"))
    if found:
        return list(found.values())
    text = "\n".join(_texts(msg))
    for name, reader in _DETECTORS:
        for address in reader(text):
            found.setdefault(address.lower(), Failure(address, True, name))
        if found:
            break
    return list(found.values())
