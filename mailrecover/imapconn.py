"""IMAP plumbing shared by the IMAP source plugin and the IMAP target.

URLs (``imap://user@host[:port][/folder]``, ``imaps://…``, the user percent-encoded),
a connection policy that never sends a password where it could be read, folder names
between the server's delimiter and mailrecover's ``/``, and flags between IMAP and `Flag`.
Restoring talks through IMAPClient (`connect`); gathering through `ImapReader`
(`open_reader`), which bounds what a server may send in answer to each command.
"""

from __future__ import annotations

import ast
import imaplib
import ipaddress
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import imapclient
from imapclient import imap_utf7
from imapclient.exceptions import IMAPClientError, ProtocolError
from imapclient.response_parser import parse_message_list, parse_response

from .errors import ConfigError, OperationError, UsageError
from .limits import LimitExceeded, Limits, env_name, exceeded
from .model import Flag, normalize_folder
from .passwords import read_password_file, run_token_command, without_password

__all__ = [
    "ADMIN_USER_ENV",
    "ALLOW_CLEARTEXT_ENV",
    "CA_FILE_ENV",
    "AnswerTooLong",
    "CommandFailed",
    "ConnectionLost",
    "ConnectionSettings",
    "ImapReader",
    "ImapUrl",
    "LoginRefused",
    "OAUTH_TOKEN_COMMAND_ENV",
    "OAUTH_TOKEN_FILE_ENV",
    "ServerBusy",
    "Unreachable",
    "connect",
    "fetch_many",
    "flags_from_imap",
    "flags_to_imap",
    "folder_from_server",
    "folder_to_server",
    "open_reader",
    "parse_imap_url",
    "namespaces",
    "other_namespace",
    "personal_prefix",
]

CA_FILE_ENV = "MAILRECOVER_CA_FILE"
ALLOW_CLEARTEXT_ENV = "MAILRECOVER_ALLOW_CLEARTEXT"
ADMIN_USER_ENV = "MAILRECOVER_ADMIN_USER"
OAUTH_TOKEN_FILE_ENV = "MAILRECOVER_OAUTH_TOKEN_FILE"
OAUTH_TOKEN_COMMAND_ENV = "MAILRECOVER_OAUTH_TOKEN_COMMAND"

_TRUE = {"1", "yes", "true", "on"}
log = logging.getLogger(__name__)


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
        return (
            f"{'imaps' if self.secure else 'imap'}://{quote(self.user, safe='')}@{host}:{self.port}{folder}"
        )


def parse_imap_url(url: str) -> ImapUrl:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise UsageError(f"{without_password(url)!r} is not an imap:// or imaps:// URL")
    if parts.password is not None:
        raise UsageError(
            "a password does not belong in the URL (it would show in ps and shell history); "
            "use MAILRECOVER_PASSWORD, --password-file or the prompt"
        )
    if not parts.username or not parts.hostname:
        raise UsageError(f"{without_password(url)}: expected imap[s]://user@host[:port][/folder]")
    try:
        port = parts.port or (993 if scheme == "imaps" else 143)
    except ValueError as e:
        raise UsageError(f"{without_password(url)}: bad port") from e
    folder = unquote(parts.path).strip("/")
    return ImapUrl(
        secure=scheme == "imaps",
        user=unquote(parts.username),
        host=parts.hostname,
        port=port,
        folder=normalize_folder(folder) if folder else None,
    )


@dataclass(frozen=True)
class ConnectionSettings:
    """How careful a connection must be; read from the environment unless given."""

    ca_file: str | None = None  # trust this CA (a private server's self-signed certificate)
    allow_cleartext: bool = False  # send the password unencrypted to a non-loopback host
    timeout: float = 60.0
    admin_user: str | None = None  # log in as this admin (master user) and act as the URL's user
    oauth_token_file: str | None = None  # log in by OAuth with the access token in this 0600 file
    oauth_token_command: str | None = None  # ... or with the one this command prints (run again when refused)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ConnectionSettings:
        env = os.environ if environ is None else environ
        return cls(
            ca_file=env.get(CA_FILE_ENV) or None,
            allow_cleartext=env.get(ALLOW_CLEARTEXT_ENV, "").strip().lower() in _TRUE,
            admin_user=env.get(ADMIN_USER_ENV) or None,
            oauth_token_file=env.get(OAUTH_TOKEN_FILE_ENV) or None,
            oauth_token_command=env.get(OAUTH_TOKEN_COMMAND_ENV) or None,
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


class LoginRefused(OperationError):
    """The server refused the credentials; the message carries its own words."""


class ServerBusy(OperationError):
    """The server refused for now (too many connections, unavailable): worth trying later."""


class Unreachable(OperationError):
    """Nothing listens there, or the host name does not resolve: trying again cannot help."""


#: How servers say "not now": Dovecot's ``[LIMIT] Maximum number of connections``, RFC 5530's
#: ``[UNAVAILABLE]``, Gmail's and Exchange's "Too many simultaneous connections".
_BUSY = re.compile(
    r"\[(UNAVAILABLE|LIMIT|INUSE)\]|maximum number of connections|too many (simultaneous )?connections",
    re.IGNORECASE,
)


def _reason(e: BaseException) -> str:
    """The server's own words from an imaplib/IMAPClient error (which wraps them as ``b'…'``)."""
    text = str(e)
    if len(text) > 2 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        try:
            raw = ast.literal_eval(text)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else text
        except (ValueError, SyntaxError):
            pass
    return " ".join(text.split())[:300] or type(e).__name__


def _failed(where: str, e: BaseException, *, connecting: bool = False) -> OperationError:
    """The error to raise for ``e``, with the server's (or the system's) reason word for word."""
    reason = _reason(e)
    if _BUSY.search(reason):
        return ServerBusy(f"{where}: the server says: {reason}")
    if isinstance(e, (ConnectionRefusedError, socket.gaierror)):
        return Unreachable(f"cannot connect to {where}: {reason}")
    return OperationError(f"cannot connect to {where}: {reason}" if connecting else f"{where}: {reason}")


def _log_in(
    url: ImapUrl,
    password: Callable[[str], str],
    settings: ConnectionSettings,
    capabilities: set[str],
    login: Callable[[str, str], object],
    sasl: Callable[[str, Callable[[bytes], bytes]], object],
) -> None:
    """LOGIN as the URL's user; with ``settings.admin_user`` as an admin acting as that user
    (SASL PLAIN with an authorization identity, else Dovecot's ``user*admin`` form by LOGIN, or
    by SASL LOGIN where the LOGIN command is disabled); or by OAuth when a token file or command
    is set.

    ``login(user, secret)`` and ``sasl(mechanism, responder)`` raise on refusal.
    """
    where = f"{url.host}:{url.port}"
    if settings.oauth_token_file or settings.oauth_token_command:
        _oauth_log_in(url, settings, capabilities, sasl)
        return
    admin = settings.admin_user
    if not admin:
        try:
            login(url.user, password(str(url)))
        except UnicodeError as e:  # its message would quote part of the password
            raise OperationError(f"{where}: the password cannot be sent: it is not ASCII") from e
        except (imaplib.IMAP4.abort, OSError, EOFError) as e:
            raise _failed(where, e) from e
        except imaplib.IMAP4.error as e:
            raise _refused(where, f"login as {url.user} refused", e) from e
        return
    secret = password(f"{admin} (admin, acting as {url})")
    tried: list[str] = []
    attempts: list[tuple[str, Callable[[], object]]] = []
    if "AUTH=PLAIN" in capabilities:
        attempts.append(
            ("SASL PLAIN", lambda: sasl("PLAIN", _Responder(f"{url.user}\0{admin}\0{secret}".encode())))
        )
    combined = f"{url.user}*{admin}"
    # Dovecot without PLAIN among its auth_mechanisms disables the LOGIN command too (it is
    # PLAIN inside) yet takes the same name by the SASL LOGIN mechanism.
    if "LOGINDISABLED" in capabilities and "AUTH=LOGIN" in capabilities:
        attempts.append((f"SASL LOGIN {combined}", lambda: sasl("LOGIN", _Prompted(combined, secret))))
    else:
        attempts.append((f"LOGIN {combined}", lambda: login(combined, secret)))
    for how, attempt in attempts:
        try:
            attempt()
            return
        except UnicodeError as e:
            raise OperationError(f"{where}: the password cannot be sent: it is not ASCII") from e
        except (imaplib.IMAP4.abort, OSError, EOFError) as e:
            raise _failed(where, e) from e
        except imaplib.IMAP4.error as e:
            error = _refused(where, f"{how} refused", e)
            if isinstance(error, ServerBusy):
                raise error from e
            tried.append(f"{how}: {_reason(e)}")
    raise LoginRefused(f"{where}: login as admin {admin} acting as {url.user} refused ({'; '.join(tried)})")


class _Responder:
    """A one-step SASL client: its message, then an empty answer to whatever the server says
    back (an OAuth error is a challenge), kept so a refusal can quote it."""

    def __init__(self, message: bytes) -> None:
        self.message, self.sent, self.said = message, False, b""

    def __call__(self, challenge: bytes) -> bytes:
        if self.sent:
            self.said = challenge
            return b""
        self.sent = True
        return self.message


class _Prompted:
    """SASL LOGIN: the user name at the first prompt, the password at every later one."""

    def __init__(self, user: str, secret: str) -> None:
        self.answers = [user.encode(), secret.encode()]

    def __call__(self, challenge: bytes) -> bytes:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


_tokens: dict[tuple[str | None, str | None], str] = {}  # one token for every connection of a run
_tokens_lock = threading.Lock()


def _token(settings: ConnectionSettings, *, fresh: bool = False) -> str:
    key = (settings.oauth_token_file, settings.oauth_token_command)
    with _tokens_lock:
        if fresh or key not in _tokens:
            if settings.oauth_token_command:
                _tokens[key] = run_token_command(settings.oauth_token_command)
            else:
                _tokens[key] = read_password_file(settings.oauth_token_file or "").strip()
        return _tokens[key]


def _oauth_log_in(
    url: ImapUrl,
    settings: ConnectionSettings,
    capabilities: set[str],
    sasl: Callable[[str, Callable[[bytes], bytes]], object],
) -> None:
    """OAUTHBEARER (RFC 7628) when offered, else XOAUTH2 (Gmail, Microsoft 365); a refused
    token is fetched once more (a command's token may have expired) and tried again."""
    where = f"{url.host}:{url.port}"
    mechanism = next((m for m in ("OAUTHBEARER", "XOAUTH2") if f"AUTH={m}" in capabilities), None)
    if mechanism is None:
        offered = " ".join(sorted(c for c in capabilities if c.startswith("AUTH="))) or "none"
        raise LoginRefused(
            f"{where} offers no OAuth login (AUTH=OAUTHBEARER or AUTH=XOAUTH2; it offers {offered})"
        )
    for attempt in range(2):
        token = _token(settings, fresh=attempt > 0)
        if mechanism == "OAUTHBEARER":
            user = url.user.replace("=", "=3D").replace(",", "=2C")
            message = f"n,a={user},\1auth=Bearer {token}\1\1"
        else:
            message = f"user={url.user}\1auth=Bearer {token}\1\1"
        responder = _Responder(message.encode())
        try:
            sasl(mechanism, responder)
            return
        except (imaplib.IMAP4.abort, OSError, EOFError) as e:
            raise _failed(where, e) from e
        except imaplib.IMAP4.error as e:
            error = _refused(where, f"{mechanism} login as {url.user} refused", e)
            detail = " ".join(responder.said.decode("utf-8", "replace").split())[:200]
            if isinstance(error, ServerBusy) or attempt or not settings.oauth_token_command:
                raise type(error)(f"{error}{f' (the server said: {detail})' if detail else ''}") from e
            log.warning(
                "%s: the token was refused (%s); running --oauth-token-command again",
                where,
                detail or _reason(e),
            )


def _refused(where: str, doing: str, e: BaseException) -> OperationError:
    reason = _reason(e)
    if _BUSY.search(reason):
        return ServerBusy(f"{where}: {doing}: {reason}")
    return LoginRefused(f"{where}: {doing}: {reason}")


def connect(
    url: ImapUrl, password: Callable[[str], str], settings: ConnectionSettings
) -> imapclient.IMAPClient:
    """A logged-in client with TCP_NODELAY set; raises `OperationError` (`LoginRefused`,
    `ServerBusy`, `Unreachable`: each with the server's or the system's own reason) or `ConfigError`."""
    context = settings.ssl_context()
    where = f"{url.host}:{url.port}"
    try:
        client = imapclient.IMAPClient(
            url.host,
            port=url.port,
            ssl=url.secure,
            ssl_context=context,
            timeout=settings.timeout,
        )
    except ssl.SSLCertVerificationError as e:
        raise _untrusted(where, e) from e
    except (OSError, IMAPClientError) as e:
        raise _failed(where, e, connecting=True) from e
    try:
        _set_nodelay(client.socket())
        client.normalise_times = False  # keep INTERNALDATE's own zone: aware datetimes
        if not url.secure:
            if client.has_capability("STARTTLS"):
                client.starttls(context)
            else:
                _refuse_cleartext(url, settings)
        capabilities = {
            c.decode("ascii", "replace").upper() if isinstance(c, bytes) else str(c).upper()
            for c in client.capabilities()
        }
        _log_in(url, password, settings, capabilities, client.login, client.sasl_login)
    except ssl.SSLCertVerificationError as e:
        _close(client)
        raise _untrusted(where, e) from e
    except (OSError, IMAPClientError) as e:
        _close(client)
        raise _failed(where, e) from e
    except BaseException:
        _close(client)
        raise
    return client


def _untrusted(where: str, e: ssl.SSLCertVerificationError) -> OperationError:
    return OperationError(
        f"{where}: the server's certificate is not trusted ({e.verify_message}); "
        f"for a private CA set {CA_FILE_ENV} (or --ca-file)"
    )


def _refuse_cleartext(url: ImapUrl, settings: ConnectionSettings) -> None:
    """Raise unless a password may go to this server unencrypted (loopback, or allowed)."""
    if not (_is_loopback(url.host) or settings.allow_cleartext):
        raise ConfigError(
            f"{url.host}:{url.port} offers no TLS; refusing to send the password in clear. Use "
            f"imaps:// or set {ALLOW_CLEARTEXT_ENV}=1 if the network is trusted"
        )


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
    return namespaces(client)[0]


def namespaces(client: imapclient.IMAPClient) -> tuple[str, tuple[str, ...]]:
    """The personal namespace's prefix, and those of other users' and shared folders
    (Cyrus: ``INBOX.``; ``user.`` and ``""``); ``("", ())`` without NAMESPACE."""
    if not client.has_capability("NAMESPACE"):
        return "", ()
    try:
        personal, other, shared = client.namespace()
    except (IMAPClientError, ValueError):
        return "", ()
    mine = _prefixes(personal)
    return (mine[0] if mine else ""), (*_prefixes(other), *_prefixes(shared))


def other_namespace(name: str, personal: str, others: tuple[str, ...]) -> str | None:
    """The other users' or shared namespace a listed folder is in, or None when it is the
    account's own: the longest prefix it starts with decides (Cyrus's shared namespace is ``""``
    beside the personal ``INBOX.``)."""
    if name.upper() == "INBOX":
        return None

    def length(prefix: str) -> int:
        inside = name.startswith(prefix) or (len(prefix) > 1 and name == prefix[:-1])
        return len(prefix) if inside else -1

    theirs = max(others, key=length, default=None)
    if theirs is None or length(theirs) < 0 or length(theirs) <= length(personal):
        return None
    return theirs


def folder_from_server(name: str, delimiter: str | None, prefix: str = "") -> str:
    """A decoded server folder name as mailrecover spells it (``A.B`` → ``A/B``).

    The personal namespace prefix goes: ``INBOX.Sent`` on a Courier server is ``Sent``.
    """
    if prefix and name.startswith(prefix) and len(name) > len(prefix):
        name = name[len(prefix) :]
    parts = name.split(delimiter) if delimiter else [name]
    return normalize_folder("/".join(p.replace("/", "∕") for p in parts))


def folder_to_server(folder: str, delimiter: str | None, prefix: str = "") -> str:
    """The server name (not yet UTF-7 encoded) for a mailrecover folder path.

    Every folder but INBOX goes under the personal prefix, ``INBOX/X`` too (as
    ``INBOX.INBOX.X``): ``folder_from_server`` gives ``X`` back for ``INBOX.X``.
    """
    parts = folder.split("/")
    name = delimiter.join(p.replace(delimiter, "_") for p in parts) if delimiter else "/".join(parts)
    if prefix and name.upper() != "INBOX":
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


# --- reading with a byte budget per command ------------------------------------------------
#
# IMAPClient collects a command's untagged responses until the tagged end comes, with no
# bound, and offers no public way to hand it a connection of our own.  Gathering therefore
# speaks through imaplib directly, whose documented ``read``/``readline``/``send`` hooks are
# where a budget can be kept, and borrows only IMAPClient's public response parser.


class ConnectionLost(OperationError):
    """The connection can no longer be used: closed, silent, or left mid-answer."""


class CommandFailed(OperationError):
    """The server refused a command or answered it with something unreadable; the
    connection itself still works."""


class AnswerTooLong(LimitExceeded):
    """A server's answer to one command passed ``max_response_bytes`` (plus the mail asked for)."""


#: What a response line costs at least: imaplib keeps each one as an object of about this size.
_LINE_COST = 64
#: UIDs asked for in one SEARCH: 80,000 of up to 10 digits answer in under imaplib's 1,000,000-byte line.
_SEARCH_WINDOW = 80_000


class _Metered(imaplib.IMAP4):
    """An imaplib connection that counts the bytes of each answer against a budget.

    ``send`` starts each command (and so the budget); ``read`` and ``readline`` are where
    imaplib takes every byte from the server.  Past the budget, or at a literal larger
    than a message may be, `LimitExceeded` is raised and the connection is left unusable.
    """

    def __init__(self, limits: Limits, *args: Any, **kwargs: Any) -> None:
        self._budget_limits = limits
        self._budget_extra = 0
        self._budget_left = limits.max_response_bytes
        super().__init__(*args, **kwargs)

    def expect(self, mail_bytes: int) -> None:
        """Let the next command's answer be longer by this much mail."""
        self._budget_extra = mail_bytes

    def send(self, data: Any) -> None:
        self._budget_left = self._budget_limits.max_response_bytes + self._budget_extra
        super().send(data)

    def readline(self) -> bytes:
        line = super().readline()
        self._charge(max(len(line), _LINE_COST))
        return line

    def read(self, size: int) -> bytes:
        top = self._budget_limits.max_message_bytes
        if size > top:
            raise LimitExceeded(exceeded("max_message_bytes", size, top, "the server's answer was not read"))
        if size > self._budget_left:  # one literal announced larger than what was asked for: a lie
            raise LimitExceeded(
                f"the server announced {size:,} bytes where at most {self._budget_left:,} "
                f"could come; the answer was not read"
            )
        self._charge(size)  # before reading: a lying size costs no memory
        return super().read(size)

    def _charge(self, n: int) -> None:
        self._budget_left -= n
        if self._budget_left < 0:
            base = self._budget_limits.max_response_bytes
            raise AnswerTooLong(
                f"the server sent more than {base + self._budget_extra:,} bytes answering one "
                f"command ({self._budget_extra:,} of them mail asked for, the rest limited by "
                f"{env_name('max_response_bytes')}={base:,}); the answer was cut there"
            )


class _MeteredTLS(_Metered, imaplib.IMAP4_SSL):
    pass


class ImapReader:
    """A read-only IMAP session for gathering: every answer bounded, folders EXAMINEd."""

    def __init__(self, conn: _Metered) -> None:
        self._conn = conn
        self._uidnext = 0  # of the folder examined last; 0: not told
        self.usable = True

    def _call(self, what: str, command: Callable[..., tuple[str, list[Any]]], *args: Any) -> list[Any]:
        if not self.usable:
            raise ConnectionLost(f"{what}: the connection was lost before")
        try:
            typ, data = command(*args)
        except LimitExceeded:
            self.usable = False
            raise
        except (imaplib.IMAP4.error, OSError, EOFError, ValueError) as e:
            self.usable = False
            raise ConnectionLost(f"{what}: {e or type(e).__name__}") from e
        if typ != "OK":
            raise CommandFailed(f"{what}: the server answered {typ} {_text(data)}")
        return data

    def capabilities(self) -> set[str]:
        data = self._call("CAPABILITY", self._conn.capability)
        return {c.upper() for d in data if isinstance(d, bytes) for c in d.decode("ascii", "replace").split()}

    def list_folders(self) -> list[tuple[tuple[bytes, ...], bytes | None, bytes | int]]:
        """(flags, delimiter, raw name) of every folder, names as the server sent them."""
        data = [d for d in self._call("LIST", self._conn.list) if d not in (b"", None)]
        parsed = _parsed("LIST", data)
        listing = list(zip(parsed[0::3], parsed[1::3], parsed[2::3]))
        if len(parsed) % 3 or not all(
            isinstance(f, tuple) and isinstance(n, (bytes, int)) for f, _, n in listing
        ):
            raise CommandFailed("LIST: the server's answer makes no sense")
        return [
            (tuple(f for f in flags if isinstance(f, bytes)), d if isinstance(d, bytes) else None, n)
            for flags, d, n in listing
        ]

    def personal_prefix(self) -> str:
        """The personal namespace's prefix, as `personal_prefix` finds it for IMAPClient."""
        return self.namespaces()[0]

    def namespaces(self) -> tuple[str, tuple[str, ...]]:
        """The personal namespace's prefix, and those of other users' and shared folders
        (Cyrus: ``INBOX.``; ``user.`` and ``""``), decoded; ``("", ())`` without NAMESPACE."""
        if "NAMESPACE" not in self.capabilities():
            return "", ()
        try:
            parts = _parsed("NAMESPACE", self._call("NAMESPACE", self._conn.namespace))
            personal, *others = (_prefixes(part) for part in parts[:3])
            return (personal[0] if personal else ""), tuple(p for part in others for p in part)
        except (CommandFailed, IndexError, TypeError, ValueError):
            return "", ()

    def examine(self, name: str | bytes) -> tuple[int, int]:
        """Open a folder read-only: (messages in it, UIDVALIDITY)."""
        raw = imap_utf7.encode(name) if isinstance(name, str) else name
        if any(b < 0x20 or b > 0x7E for b in raw):  # a CR LF would end the command early
            raise CommandFailed(f"EXAMINE: the name {raw!r} cannot be sent in a quoted string")
        quoted = b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        exists = self._call("EXAMINE", self._conn.select, quoted, True)
        validity = self._conn.response("UIDVALIDITY")[1]
        self._uidnext = _number(self._conn.response("UIDNEXT")[1][-1])
        return _number(exists[-1]), _number(validity[-1])

    def uids_after(self, last: int) -> list[int]:
        """The UIDs above ``last``, asked for in windows whose answer fits imaplib's line limit."""
        found: set[int] = set()
        start = last + 1
        while self._uidnext - start > _SEARCH_WINDOW:
            found.update(self._search(f"{start}:{start + _SEARCH_WINDOW - 1}"))
            start += _SEARCH_WINDOW
        found.update(self._search(f"{start}:*"))
        return sorted(u for u in found if u > last)  # N:* names the last even below N

    def _search(self, uids: str) -> list[int]:
        lines = [d for d in self._call("SEARCH", self._conn.uid, "SEARCH", "UID", uids) if d]
        try:
            return list(parse_message_list(lines)) if lines else []
        except (ProtocolError, ValueError) as e:
            raise CommandFailed(f"SEARCH: the server's answer makes no sense: {e}") from e

    def fetch(
        self, uids: list[int], items: str, mail_bytes: int = 0, chunk: int = 1000
    ) -> dict[int, dict[bytes, Any]]:
        """UID FETCH in commands short enough for any server; ``mail_bytes``: mail expected in all."""
        result: dict[int, dict[bytes, Any]] = {}
        for i in range(0, len(uids), chunk):
            part = uids[i : i + chunk]
            self._conn.expect(mail_bytes)
            try:
                data = self._call("FETCH", self._conn.uid, "FETCH", _uid_set(part), f"({items})")
            finally:
                self._conn.expect(0)
            result.update(_fetched(data))
        return result

    def close(self) -> None:
        try:
            if self.usable:
                self._conn.logout()
            else:
                self._conn.shutdown()
        except (imaplib.IMAP4.error, OSError, EOFError, ValueError, LimitExceeded):
            pass  # closing a broken connection; nothing left to save
        self.usable = False


def open_reader(
    url: ImapUrl, password: Callable[[str], str], settings: ConnectionSettings, limits: Limits
) -> ImapReader:
    """A logged-in `ImapReader`, with the same care for the password as `connect`."""
    context = settings.ssl_context()
    where = f"{url.host}:{url.port}"
    try:
        if url.secure:
            conn: _Metered = _MeteredTLS(
                limits, url.host, url.port, ssl_context=context, timeout=settings.timeout
            )
        else:
            conn = _Metered(limits, url.host, url.port, timeout=settings.timeout)
    except ssl.SSLCertVerificationError as e:
        raise _untrusted(where, e) from e
    except (OSError, EOFError, ValueError, imaplib.IMAP4.error) as e:
        raise _failed(where, e, connecting=True) from e
    reader = ImapReader(conn)
    try:
        if not url.secure:
            if "STARTTLS" in reader.capabilities():
                try:
                    conn.starttls(context)
                except ssl.SSLCertVerificationError as e:
                    raise _untrusted(where, e) from e
                except (OSError, EOFError, ValueError, imaplib.IMAP4.error) as e:
                    raise OperationError(f"{where}: STARTTLS failed: {e}") from e
            else:
                _refuse_cleartext(url, settings)
        capabilities = {str(c).upper() for c in conn.capabilities}
        _log_in(url, password, settings, capabilities, conn.login, conn.authenticate)
    except BaseException:
        reader.usable = False
        reader.close()
        raise
    return reader


def _text(data: list[Any]) -> str:
    words = [d.decode("utf-8", "replace") for d in data if isinstance(d, bytes)]
    return " ".join(words)[:200]


def _number(value: Any) -> int:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")
    return int(text) if text.strip().isdigit() else 0


def _parsed(what: str, data: list[Any]) -> tuple[Any, ...]:
    try:
        return parse_response(data)
    except (ProtocolError, ValueError, IndexError) as e:
        raise CommandFailed(f"{what}: the server's answer makes no sense: {e}") from e


def _prefixes(part: Any) -> list[str]:
    """The prefixes of one NAMESPACE part (``NIL`` or ``(("INBOX." "."))``), decoded."""
    if not isinstance(part, tuple):
        return []
    found = [entry[0] for entry in part if isinstance(entry, tuple) and entry]
    return [imap_utf7.decode(p) if isinstance(p, bytes) else str(p) for p in found]


def _uid_set(uids: Iterable[int]) -> str:
    """``1:3,7`` for 1, 2, 3, 7: runs as ranges keep a command short."""
    runs: list[list[int]] = []
    for uid in sorted(uids):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


def _fetched(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """FETCH responses by UID: ``{uid: {b"BODY[]": …, b"FLAGS": (…), b"INTERNALDATE": datetime}}``."""
    parsed = _parsed("FETCH", [d for d in data if d is not None])
    result: dict[int, dict[bytes, Any]] = {}
    try:
        if len(parsed) % 2:
            raise ValueError("a FETCH response without its items")
        for seq, items in zip(parsed[0::2], parsed[1::2]):  # imaplib keeps "n (…)" of "* n FETCH (…)"
            if not isinstance(seq, int) or not isinstance(items, tuple) or len(items) % 2:
                raise ValueError(f"not a FETCH response: {seq!r} {items!r:.60}")
            fields = {bytes(k).upper(): v for k, v in zip(items[0::2], items[1::2])}
            if b"INTERNALDATE" in fields:
                fields[b"INTERNALDATE"] = _internaldate(fields[b"INTERNALDATE"])
            result[int(fields[b"UID"])] = fields
    except (KeyError, ValueError, TypeError) as e:
        raise CommandFailed(f"FETCH: the server's answer makes no sense: {e}") from e
    return result


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_INTERNALDATE = re.compile(
    rb"^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\s*$"
)


def _internaldate(value: Any) -> datetime | None:
    """An INTERNALDATE in its own zone (``18-Jun-2012 10:00:00 +0900``); None if malformed."""
    m = _INTERNALDATE.match(value) if isinstance(value, bytes) else None
    month = _MONTHS.get(m.group(2).upper().decode()) if m else None
    if m is None or month is None:
        return None
    offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9))) * (-1 if m.group(7) == b"-" else 1)
    try:
        return datetime(
            int(m.group(3)),
            month,
            int(m.group(1)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
