"""Thunderbird and SeaMonkey profiles: which profiles exist, which accounts they hold, whose.

``profiles.ini`` lists the profiles; each profile's ``prefs.js`` names every incoming
server, the folder its mail is kept in and the identities (addresses) of its account.
Both files are read forgivingly: a profile copied from another machine keeps absolute
paths of that machine, so directories are found again under the profile at hand.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from dataclasses import dataclass

from mailrecover.pluginkit import read_head, subdirs

__all__ = [
    "Account",
    "is_account_dir",
    "is_profile",
    "listed_profiles",
    "parse_prefs",
    "profile_accounts",
    "profile_addresses",
]

_PREF = re.compile(r'user_pref\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*("(?:[^"\\]|\\.)*"|[^)]*?)\s*\)\s*;')
_MAILDIR_STORE = "maildirstore"
_FEEDS = re.compile(r"^Feeds(?:-\d+)?$")
#: Server types whose folders hold something other than the user's mail.
_NOT_MAIL = {"nntp", "rss", "movemail-news"}
_MAX_SETTINGS = 8 << 20


@dataclass(frozen=True)
class Account:
    """One incoming server's folder tree in a profile."""

    directory: str
    kind: str  # "pop3", "imap", "none" (Local Folders), … as prefs.js says; "" if unknown
    maildir: bool = False  # storeContractID says maildirstore
    hints: tuple[str, ...] = ()  # the addresses of the identities it belongs to
    mail: bool = True  # False for news and feed servers: read nothing from them


def _read_text(path: str) -> str:
    return read_head(path, _MAX_SETTINGS).decode("utf-8", "replace")


def parse_prefs(text: str) -> dict[str, str | int | bool]:
    """The ``user_pref`` values of a prefs.js; lines that do not parse are left out."""
    prefs: dict[str, str | int | bool] = {}
    for m in _PREF.finditer(text):
        name, value = m.group(1), m.group(2).strip()
        try:
            name = json.loads(f'"{name}"')
            if value.startswith('"'):
                prefs[name] = json.loads(value)
            elif value in ("true", "false"):
                prefs[name] = value == "true"
            else:
                prefs[name] = int(value)
        except ValueError:
            continue
    return prefs


def is_account_dir(path: str) -> bool:
    """Whether a directory looks like one account's folder tree: index files or subfolders."""
    try:
        with os.scandir(path) as entries:
            return any(e.name.endswith(".msf") or (e.name.endswith(".sbd") and e.is_dir()) for e in entries)
    except OSError:
        return False


def is_profile(path: str) -> bool:
    """Whether ``path`` is a profile that holds mail (not a Firefox profile, not ~/Mail of MH)."""
    tops = [os.path.join(path, d) for d in ("Mail", "ImapMail") if os.path.isdir(os.path.join(path, d))]
    if not tops:
        return False
    if os.path.isfile(os.path.join(path, "prefs.js")):
        return True
    return any(is_account_dir(d) for top in tops for d in subdirs(top))


def _split_any(path: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", path) if p]


def listed_profiles(root: str) -> tuple[list[str], list[str]]:
    """Profile directories under a folder holding ``profiles.ini``, and one-line problems.

    Profiles listed in the file come first; profile folders found beside them but not
    (or no longer) listed follow, since an old profile may hold the only copy of a mail.
    """
    found: list[str] = []
    problems: list[str] = []
    ini = os.path.join(root, "profiles.ini")
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(_read_text(ini))
    except (OSError, configparser.Error) as e:
        problems.append(f"profiles.ini unreadable: {e}")
    for section in parser.sections():
        if not section.lower().startswith("profile"):
            continue
        raw = parser.get(section, "Path", fallback="").strip()
        if not raw:
            continue
        relative = parser.get(section, "IsRelative", fallback="1").strip() != "0"
        parts = _split_any(raw)
        candidates = [os.path.join(root, *parts)] if relative else [raw]
        candidates += [os.path.join(root, "Profiles", parts[-1]), os.path.join(root, parts[-1])]
        path = next((c for c in candidates if os.path.isdir(c)), None)
        if path is None:
            problems.append(f"profile {raw!r} listed in profiles.ini is missing")
        elif os.path.realpath(path) not in map(os.path.realpath, found):
            found.append(path)
    for base in (os.path.join(root, "Profiles"), root):
        for path in subdirs(base):
            if is_profile(path) and os.path.realpath(path) not in map(os.path.realpath, found):
                found.append(path)
    return found, problems


def _prefs(profile: str) -> tuple[dict[str, str | int | bool], str | None]:
    path = os.path.join(profile, "prefs.js")
    if not os.path.isfile(path):
        return {}, None
    try:
        return parse_prefs(_read_text(path)), None
    except OSError as e:
        return {}, f"prefs.js unreadable ({e.strerror or e}): accounts guessed from folders"


def _resolve_directory(profile: str, prefs: dict[str, str | int | bool], server: str) -> str | None:
    rel = prefs.get(f"mail.server.{server}.directory-rel")
    if isinstance(rel, str) and rel.startswith("[ProfD]"):
        path = os.path.join(profile, *_split_any(rel[len("[ProfD]") :]))
        if os.path.isdir(path):
            return path
    absolute = prefs.get(f"mail.server.{server}.directory")
    if isinstance(absolute, str) and absolute:
        if os.path.isabs(absolute) and is_account_dir(absolute):  # kept outside the profile
            return absolute
        parts = _split_any(absolute)
        for i in range(len(parts) - 1, -1, -1):  # the profile moved: keep the tail under Mail/
            if parts[i].lower() in ("mail", "imapmail"):
                path = os.path.join(profile, parts[i], *parts[i + 1 :])
                if os.path.isdir(path):
                    return path
                break
    return None


def _identity_addresses(prefs: dict[str, str | int | bool], identities: str) -> list[str]:
    out = []
    for ident in (i.strip() for i in identities.split(",")):
        email = prefs.get(f"mail.identity.{ident}.useremail")
        if isinstance(email, str) and "@" in email:
            out.append(email.strip().lower())
    return out


def profile_addresses(profile: str) -> tuple[str, ...]:
    """Every identity address configured in a profile."""
    prefs, _ = _prefs(profile)
    return tuple(
        sorted(
            {
                v.strip().lower()
                for k, v in prefs.items()
                if k.startswith("mail.identity.")
                and k.endswith(".useremail")
                and isinstance(v, str)
                and "@" in v
            }
        )
    )


def profile_accounts(profile: str) -> tuple[list[Account], list[str]]:
    """The account folder trees of a profile (from prefs.js, then any left unnamed in
    Mail/ and ImapMail/), and one-line problems."""
    prefs, problem = _prefs(profile)
    problems = [problem] if problem else []
    servers = sorted({k.split(".")[2] for k in prefs if k.startswith("mail.server.")})
    by_server: dict[str, list[str]] = {}
    for key, value in prefs.items():
        if key.startswith("mail.account.") and key.endswith(".server") and isinstance(value, str):
            idents = prefs.get(key[: -len("server")] + "identities")
            addresses = _identity_addresses(prefs, idents) if isinstance(idents, str) else []
            by_server.setdefault(value, []).extend(addresses)
    everyone = list(profile_addresses(profile))
    accounts: list[Account] = []
    seen: set[str] = set()
    for server in servers:
        kind = str(prefs.get(f"mail.server.{server}.type", ""))
        directory = _resolve_directory(profile, prefs, server)
        if directory is None:
            continue
        seen.add(os.path.realpath(directory))
        hints = list(by_server.get(server, []))
        user = prefs.get(f"mail.server.{server}.userName")
        if isinstance(user, str) and "@" in user:
            hints.append(user.strip().lower())
        if kind == "none":  # Local Folders: where every account's POP mail may be kept
            hints += everyone
        store = str(prefs.get(f"mail.server.{server}.storeContractID", ""))
        accounts.append(
            Account(
                directory=directory,
                kind=kind,
                maildir=_MAILDIR_STORE in store,
                hints=tuple(dict.fromkeys(hints)),
                mail=kind not in _NOT_MAIL,
            )
        )
    for top in ("Mail", "ImapMail"):
        for path in subdirs(os.path.join(profile, top)):
            if os.path.realpath(path) not in seen:  # no server names it: Feeds is the feed reader's
                feeds = top == "Mail" and _FEEDS.match(os.path.basename(path)) is not None
                accounts.append(Account(directory=path, kind="rss" if feeds else "", mail=not feeds))
    return accounts, problems
