"""IMAP plumbing shared by the IMAP source plugin and the IMAP target.

URLs (``imap://user@host[:port][/folder]``, ``imaps://…``, the user percent-encoded),
a connection policy that never sends a password where it could be read, folder names
between the server's delimiter and mailrecover's ``/``, and flags between IMAP and `Flag`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from .errors import ConfigError, OperationError, UsageError
from .model import Flag, normalize_folder

__all__ = [
    "ALLOW_CLEARTEXT_ENV",
    "CA_FILE_ENV",
    "ConnectionSettings",
    "ImapUrl",
    "connect",
    "fetch_many",
    "flags_from_imap",
    "flags_to_imap",
    "folder_from_server",
    "folder_to_server",
    "parse_imap_url",
    "personal_prefix",
]

CA_FILE_ENV = "MAILRECOVER_CA_FILE"
ALLOW_CLEARTEXT_ENV = "MAILRECOVER_ALLOW_CLEARTEXT"

_TRUE = {"1", "yes", "true", "on"}


@dataclass(frozen=True)
class ImapUrl:
    secure: bool  # imaps: TLS from the first byte
    user: str
    host: str
    port: int
    folder: str | None = None  # one folder only, '/'-separated; None: every folder

    def __str__(self) -> str:
        """The URL as it may be shown and stored: never with a password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        folder = "/" + quote(self.folder, safe="/") if self.folder else "/"
        return f"{'imaps' if self.secure else 'imap'}://{quote(self.user, safe='')}@{host}:{self.port}{folder}"


def parse_imap_url(url: str) -> ImapUrl:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise UsageError(f"{url!r} is not an imap:// or imaps:// URL")
    if parts.password is not None:
        raise UsageError(
            "a password does not belong in the URL (it would show in ps and shell history); "
            "use MAILRECOVER_PASSWORD, --password-file or the prompt"
        )
    if not parts.username or not parts.hostname:
        raise UsageError(f"{_redact(url)}: expected imap[s]://user@host[:port][/folder]")
    try:
        port = parts.port or (993 if scheme == "imaps" else 143)
    except ValueError as e:
        raise UsageError(f"{url}: bad port") from e
    folder = unquote(parts.path).strip("/")
    return ImapUrl(
        secure=scheme == "imaps",
        user=unquote(parts.username),
        host=parts.hostname,
        port=port,
        folder=normalize_folder(folder) if folder else None,
    )


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    return f"{scheme}{sep}{userinfo.split(':')[0]}{at}{hostpart}" if at else url


@dataclass(frozen=True)
class ConnectionSettings:
    """How careful a connection must be; read from the environment unless given."""

    ca_file: str | None = None  # trust this CA (a private server's self-signed certificate)
    allow_cleartext: bool = False  # send the password unencrypted to a non-loopback host
    timeout: float = 60.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ConnectionSettings:
        env = os.environ if environ is None else environ
        return cls(
            ca_file=env.get(CA_FILE_ENV) or None,
            allow_cleartext=env.get(ALLOW_CLEARTEXT_ENV, "").strip().lower() in _TRUE,
        )

    def ssl_context(self) -> ssl.SSLContext:
        if self.ca_file and not os.path.isfile(self.ca_file):
            raise ConfigError(f"CA file {self.ca_file} does not exist")
        return ssl.create_default_context(cafile=self.ca_file)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(
    url: ImapUrl, password: Callable[[str], str], settings: ConnectionSettings
) -> imapclient.IMAPClient:
    """A logged-in client with TCP_NODELAY set; raises `OperationError` or `ConfigError`."""
    context = settings.ssl_context()
    where = f"{url.host}:{url.port}"
    try:
        client = imapclient.IMAPClient(
            url.host, port=url.port, ssl=url.secure, ssl_context=context,
            timeout=settings.timeout,
        )  # fmt: skip
    except ssl.SSLCertVerificationError as e:
        raise OperationError(
            f"{where}: the server's certificate is not trusted ({e.verify_message}); "
            f"for a private CA set {CA_FILE_ENV} (or --ca-file)"
        ) from e
    except (OSError, IMAPClientError) as e:
        raise OperationError(f"cannot connect to {where}: {e}") from e
    try:
        _set_nodelay(client.socket())
        client.normalise_times = False  # keep INTERNALDATE's own zone: aware datetimes
        if not url.secure:
            if client.has_capability("STARTTLS"):
                client.starttls(context)
            elif not (_is_loopback(url.host) or settings.allow_cleartext):
                raise ConfigError(
                    f"{where} offers no TLS; refusing to send the password in clear. Use "
                    f"imaps:// or set {ALLOW_CLEARTEXT_ENV}=1 if the network is trusted"
                )
        client.login(url.user, password(str(url)))
    except ssl.SSLCertVerificationError as e:
        _close(client)
        raise OperationError(
            f"{where}: the server's certificate is not trusted ({e.verify_message}); "
            f"for a private CA set {CA_FILE_ENV} (or --ca-file)"
        ) from e
    except LoginError as e:
        _close(client)
        raise OperationError(f"{where}: login as {url.user} refused") from e
    except (OSError, IMAPClientError) as e:
        _close(client)
        raise OperationError(f"{where}: {e}") from e
    except BaseException:
        _close(client)
        raise
    return client


def fetch_many(
    client: imapclient.IMAPClient, uids: Iterable[int], items: list[str], chunk: int = 1000
) -> dict[int, dict[bytes, Any]]:
    """FETCH for many UIDs in commands short enough for any server's line limit."""
    uids = list(uids)
    result: dict[int, dict[bytes, Any]] = {}
    for i in range(0, len(uids), chunk):
        result.update(client.fetch(uids[i : i + chunk], items))
    return result


def _set_nodelay(sock: socket.socket) -> None:
    # Literals and their closing CRLF go out in separate writes: without this, Nagle
    # and delayed ACKs add tens of milliseconds to every command.
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def _close(client: imapclient.IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # closing a broken connection; nothing left to save
        pass


def personal_prefix(client: imapclient.IMAPClient) -> str:
    """The personal namespace's prefix: ``INBOX.`` on Courier and Cyrus, '' on most others."""
    if not client.has_capability("NAMESPACE"):
        return ""
    try:
        personal = client.namespace().personal
    except IMAPClientError:
        return ""
    return str(personal[0][0]) if personal else ""


def folder_from_server(name: str, delimiter: str | None, prefix: str = "") -> str:
    """A decoded server folder name as mailrecover spells it (``A.B`` → ``A/B``).

    The personal namespace prefix goes: ``INBOX.Sent`` on a Courier server is ``Sent``.
    """
    if prefix and name.startswith(prefix) and len(name) > len(prefix):
        name = name[len(prefix) :]
    parts = name.split(delimiter) if delimiter else [name]
    return normalize_folder("/".join(p.replace("/", "∕") for p in parts))


def folder_to_server(folder: str, delimiter: str | None, prefix: str = "") -> str:
    """The server name (not yet UTF-7 encoded) for a mailrecover folder path."""
    parts = folder.split("/")
    name = delimiter.join(p.replace(delimiter, "_") for p in parts) if delimiter else "/".join(parts)
    if prefix and name.upper() != "INBOX" and not name.startswith(prefix):
        name = prefix + name
    return name


_IMAP_FLAGS = {
    Flag.SEEN: "\\Seen",
    Flag.ANSWERED: "\\Answered",
    Flag.FLAGGED: "\\Flagged",
    Flag.DRAFT: "\\Draft",
    Flag.FORWARDED: "$Forwarded",
}
_FROM_IMAP = {v.lower(): k for k, v in _IMAP_FLAGS.items()} | {"\\deleted": Flag.DELETED}
_NOT_KEYWORDS = {"\\recent"}


def flags_from_imap(flags: Iterable[bytes | str]) -> tuple[frozenset[Flag], tuple[str, ...]]:
    """`Flag` values and the remaining keywords (client tags) from a FLAGS response."""
    found: set[Flag] = set()
    keywords: list[str] = []
    for f in flags:
        name = f.decode("utf-8", "replace") if isinstance(f, bytes) else f
        flag = _FROM_IMAP.get(name.lower())
        if flag is not None:
            found.add(flag)
        elif name.lower() not in _NOT_KEYWORDS:
            keywords.append(name)
    return frozenset(found), tuple(keywords)


def flags_to_imap(flags: Iterable[Flag]) -> list[str]:
    """IMAP flags to APPEND with; never ``\\Deleted``, which would invite an expunge."""
    return sorted(_IMAP_FLAGS[f] for f in flags if f in _IMAP_FLAGS)
