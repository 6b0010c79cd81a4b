"""The ``thunderbird`` plugin: whole Thunderbird / SeaMonkey profiles, or any part of one."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mailrecover.model import Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    enclosing,
    existing_dirs,
    file_name_text,
    home,
    is_url,
    list_names,
    mac_library,
    read_head,
    subdirs,
    tree_size,
    windows_roaming,
    xdg_config,
)

from .folders import FolderTree, is_folder_file, read_mbox_folder, read_tree
from .profile import is_account_dir, is_profile, listed_profiles, profile_accounts, profile_addresses

__all__ = ["ThunderbirdPlugin"]

_TOPS = ("mail", "imapmail")


def _roots() -> list[str]:
    """Folders that hold a ``profiles.ini`` on Windows, macOS and Linux."""
    h = home()
    return [
        str(p)
        for p in existing_dirs(
            [
                windows_roaming() / "Thunderbird",
                windows_roaming() / "Mozilla" / "SeaMonkey",
                mac_library() / "Thunderbird",
                mac_library() / "Application Support" / "SeaMonkey",
                h / ".thunderbird",
                xdg_config() / "thunderbird",
                h / ".mozilla-thunderbird",
                h / ".icedove",
                h / ".mozilla" / "seamonkey",
                h / "snap" / "thunderbird" / "common" / ".thunderbird",
                h / ".var" / "app" / "org.mozilla.Thunderbird" / ".thunderbird",
            ]
        )
    ]


def _place(path: str) -> tuple[str, str | None, tuple[str, ...]] | None:
    """For a path inside an account tree: the account folder, the profile if there is one,
    and the folder names from the account folder down to the path (``.sbd`` removed)."""
    found = enclosing(path, lambda d: os.path.basename(d).lower() in _TOPS)
    if found is None or not found[1]:
        return None
    top, names = found
    profile = os.path.dirname(top)
    parts = tuple(file_name_text(n[: -len(".sbd")] if n.endswith(".sbd") else n) for n in names[1:])
    return os.path.join(top, names[0]), profile if is_profile(profile) else None, parts


def _hints_for(account_dir: str, profile: str | None) -> tuple[str, ...]:
    if profile is None:
        return ()
    accounts, _ = profile_accounts(profile)
    for account in accounts:
        if os.path.realpath(account.directory) == os.path.realpath(account_dir):
            return account.hints
    return ()


class ThunderbirdPlugin:
    name = "thunderbird"
    description = (
        "Thunderbird and SeaMonkey profiles: every account's mbox or maildir folders, "
        "Mail/ and ImapMail/, expunged-but-not-compacted mail, flags from X-Mozilla-Status"
    )

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isfile(location):
            if location.endswith(".msf") or not is_folder_file(location):
                return 0
            if os.path.isfile(location + ".msf"):
                return 95
            try:
                head = read_head(location, 4096)
            except OSError:
                return 0
            return 92 if head.startswith(b"From ") and b"\nX-Mozilla-Status:" in head else 0
        if not os.path.isdir(location):
            return 0
        if os.path.isfile(os.path.join(location, "profiles.ini")):
            profiles, _ = listed_profiles(location)
            return 95 if profiles else 0
        if is_profile(location):
            return 95
        base = os.path.basename(os.path.normpath(location)).lower()
        if base in _TOPS:
            parent = os.path.dirname(os.path.abspath(location))
            if os.path.isfile(os.path.join(parent, "prefs.js")):
                return 90
            try:
                subs = [os.path.join(location, n) for n in list_names(location)]
            except OSError:
                return 0
            return 90 if any(is_account_dir(s) for s in subs) else 0
        return 85 if is_account_dir(location) else 0

    def discover(self) -> Iterable[Store]:
        for root in _roots():
            profiles, _ = listed_profiles(root)
            for profile in profiles:
                size = sum(tree_size(os.path.join(profile, t)) for t in ("Mail", "ImapMail"))
                yield Store(self.name, profile, size, profile_addresses(profile))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if not os.path.exists(location):
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such file or folder")
            return
        if os.path.isfile(location):
            yield from self._read_file(location, context)
        elif os.path.isfile(os.path.join(location, "profiles.ini")):
            profiles, problems = listed_profiles(location)
            for reason in problems:
                yield Problem(ProblemKind.DAMAGED, os.path.join(location, "profiles.ini"), "", reason)
            for profile in profiles:
                yield from self._read_profile(profile, context)
        elif is_profile(location):
            yield from self._read_profile(location, context)
        elif os.path.basename(os.path.normpath(location)).lower() in _TOPS:
            yield from self._read_top(location, context)
        else:
            yield from self._read_inside(location, context)

    def _read_profile(
        self, profile: str, context: ReadContext, under: str | None = None
    ) -> Iterator[Finding]:
        accounts, problems = profile_accounts(profile)
        for reason in problems:
            yield Problem(ProblemKind.DAMAGED, os.path.join(profile, "prefs.js"), "", reason)
        done: set[str] = set()
        for account in accounts:
            real = os.path.realpath(account.directory)
            if not account.mail:
                context.leave(
                    account.directory, f"a {account.kind or 'news'} account of Thunderbird: not mail"
                )
                continue
            if real in done:
                continue
            if under is not None and os.path.dirname(real) != os.path.realpath(under):
                continue
            done.add(real)
            yield from read_tree(FolderTree(account.directory, (), account.hints, account.maildir), context)

    def _read_top(self, top: str, context: ReadContext) -> Iterator[Finding]:
        """A ``Mail/`` or ``ImapMail/`` folder: its accounts, with their owners if the profile says."""
        profile = os.path.dirname(os.path.abspath(top))
        if os.path.isfile(os.path.join(profile, "prefs.js")):
            yield from self._read_profile(profile, context, under=top)
            return
        for path in subdirs(top):
            yield from read_tree(FolderTree(path), context)

    def _read_inside(self, directory: str, context: ReadContext) -> Iterator[Finding]:
        """An account folder, or a ``.sbd`` folder inside one."""
        placed = _place(directory)
        if placed is None:  # an account folder on its own, or a subfolder tree of one
            name = os.path.basename(os.path.normpath(directory))
            prefix: tuple[str, ...] = ()
            if name.endswith(".sbd"):  # Inbox.sbd holds Inbox's subfolders: INBOX/Projects
                prefix = tuple(context.folder.split("/")) if context.folder else (file_name_text(name[:-4]),)
            yield from read_tree(FolderTree(directory, prefix), context)
            return
        account_dir, profile, parts = placed
        yield from read_tree(FolderTree(directory, parts, _hints_for(account_dir, profile)), context)

    def _read_file(self, path: str, context: ReadContext) -> Iterator[Finding]:
        """One mbox folder file; named from its place in the account tree when it has one."""
        placed = _place(path)
        if placed is None:  # a loose folder file: a folder named after it, as the mbox plugin does
            folder = "/".join(p for p in (context.folder, file_name_text(os.path.basename(path))) if p)
            yield from read_mbox_folder(path, folder, (), context)
            return
        account_dir, profile, parts = placed
        yield from read_mbox_folder(path, "/".join(parts), _hints_for(account_dir, profile), context)
