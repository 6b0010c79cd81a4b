"""Where mail clients keep their files, for plugins' ``discover``.

Every root is derived from the user's home and the environment (``HOME``, ``APPDATA``,
``LOCALAPPDATA``, XDG variables), never from a system call, so that a copied home folder
or a test's fake home is searched exactly like a live one.  All systems' layouts are
looked at on every system: a Windows profile copied onto a Linux rescue machine is found.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import platformdirs

__all__ = [
    "documents",
    "enclosing",
    "existing_dirs",
    "file_name_text",
    "home",
    "mac_library",
    "roots",
    "subdirs",
    "tree_size",
    "windows_local",
    "windows_roaming",
    "xdg_config",
    "xdg_data",
]


def home() -> Path:
    return Path(os.path.expanduser("~"))


def windows_roaming() -> Path:
    """``%APPDATA%`` (``…\\AppData\\Roaming``)."""
    value = os.environ.get("APPDATA")
    return Path(value) if value else home() / "AppData" / "Roaming"


def windows_local() -> Path:
    """``%LOCALAPPDATA%`` (``…\\AppData\\Local``)."""
    value = os.environ.get("LOCALAPPDATA")
    return Path(value) if value else home() / "AppData" / "Local"


def mac_library() -> Path:
    return home() / "Library"


def xdg_config() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or home() / ".config")


def xdg_data() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or home() / ".local" / "share")


def roots() -> dict[str, Path]:
    """Every root the plugins' ``discover`` looks under, by name (``discover -v`` shows them)."""
    return {
        "home": home(),
        "Windows APPDATA": windows_roaming(),
        "Windows LOCALAPPDATA": windows_local(),
        "Mac Library": mac_library(),
        "XDG config": xdg_config(),
        "XDG data": xdg_data(),
    }


def documents() -> list[Path]:
    """The user's documents folders: ``~/Documents`` and what the desktop calls it."""
    found = [home() / "Documents"]
    try:
        other = platformdirs.user_documents_path()
    except Exception:  # an odd desktop configuration must not stop a discovery
        other = None
    if other is not None and other not in found:
        found.append(other)
    return found


def existing_dirs(paths: Iterable[Path]) -> Iterator[Path]:
    """The paths that are directories, each once, in the order given."""
    seen: set[str] = set()
    for path in paths:
        try:
            key = os.path.realpath(path)
            if key in seen or not os.path.isdir(path):
                continue
        except OSError:
            continue
        seen.add(key)
        yield path


def subdirs(path: str | os.PathLike[str]) -> list[str]:
    """The real directories directly in ``path`` (no symbolic links), by name; [] if unreadable."""
    try:
        with os.scandir(path) as entries:
            found = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    return sorted(found)


def enclosing(path: str, test: Callable[[str], bool]) -> tuple[str, tuple[str, ...]] | None:
    """The nearest directory at or above ``path`` that passes ``test``, with the names
    leading from it down to ``path``; None when no directory up to the root passes."""
    names: list[str] = []
    current = os.path.abspath(path)
    while True:
        if test(current):
            return current, tuple(reversed(names))
        parent = os.path.dirname(current)
        if parent == current:
            return None
        names.append(os.path.basename(current))
        current = parent


def tree_size(path: str | os.PathLike[str]) -> int:
    """Bytes in the regular files under ``path`` (symbolic links not followed)."""
    total = 0
    for root, dirs, files in os.walk(path, onerror=lambda e: None):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def file_name_text(name: str) -> str:
    """A file name as text, also when it came from another system's bytes.

    Names copied from Japanese Windows (zip, FAT, old Samba) arrive as CP932 bytes,
    which Python hands over with surrogate escapes; they are decoded as CP932 here.
    Names from a Mac come decomposed (NFD: ``シ`` + ``゛``); they are composed (NFC),
    so that one folder has one name whichever machine it was copied from.
    """
    try:
        name.encode("utf-8")
        return unicodedata.normalize("NFC", name)
    except UnicodeEncodeError:
        raw = os.fsencode(name)
    for codec in ("utf-8", "cp932"):
        try:
            return unicodedata.normalize("NFC", raw.decode(codec))
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")
