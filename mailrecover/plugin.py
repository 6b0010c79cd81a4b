"""The plugin protocol and the lazy loading of plugins from entry points.

A plugin reads one kind of location.  It is found through the entry-point group
``mailrecover.plugins``; built-in plugins are registered exactly like third-party ones.
``MAILRECOVER_PLUGINS=name,name`` restricts which are loaded;
``MAILRECOVER_BUILTIN_PLUGINS_ONLY=1`` loads only mailrecover's own (the test suite sets it,
as llm's ``pytest_configure`` does, so installed third-party plugins stay out of the tests).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .errors import UsageError
from .model import Finding

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from .imapconn import ConnectionSettings

__all__ = [
    "CLAIM",
    "ENTRY_POINT_GROUP",
    "NotLoaded",
    "Plugin",
    "ReadContext",
    "Store",
    "get_plugin",
    "load_plugins",
    "not_loaded",
    "reset",
]

ENTRY_POINT_GROUP = "mailrecover.plugins"

#: The distribution whose entry points are the built-in plugins.
_OWN_DISTRIBUTION = "mailrecover"

#: A directory scored at least this high is read whole by that plugin instead of walked.
CLAIM = 50


def _no_password(prompt: str) -> str:
    raise UsageError(f"a password is needed for {prompt}, but none can be asked for here")


@dataclass
class ReadContext:
    """What the core tells a plugin about the read it asks for.

    ``folder`` is the folder implied by the directory a store stands in, below the location
    the user gave (``Mail/Inbox.sbd`` → ``Mail/Inbox``; '' at the top).  A store whose
    files are folders (mbox) adds its file name; a folder of single messages (.eml) files
    them there; a store carrying its own folder tree (a Maildir++ root, a client profile)
    uses its own names below it.  ``state`` is kept in the workspace per plugin and
    location, for plugins that read incrementally (IMAP UIDs, log offsets).  ``leave(path,
    reason)`` tells the core a file or folder of the store was left out on purpose (a feed
    account, a backup copy): it is listed as skipped with that reason, not read by another
    plugin; every other file no finding names is walked by the core.
    """

    account: str | None = None
    list_address: str | None = None
    folder: str = ""
    state: MutableMapping[str, str] = field(default_factory=dict)
    connection: ConnectionSettings | None = None  # TLS trust and cleartext rule (None: from the environment)
    password: Callable[[str], str] = _no_password
    advance: Callable[[int], None] = lambda nbytes: None  # progress, in bytes read
    timezone: tzinfo | None = None  # the server's zone for log times that name none (None: this machine's)
    leave: Callable[[str, str], None] = lambda path, reason: None


@dataclass(frozen=True)
class Store:
    """A mail store found by ``discover``."""

    plugin: str
    location: str
    size: int | None = None
    hints: tuple[str, ...] = ()  # account addresses or names seen in the store's settings


@runtime_checkable
class Plugin(Protocol):
    name: str
    description: str

    def detect(self, location: str) -> int:
        """0-100: how sure this plugin is that it can read ``location``."""
        ...

    def discover(self) -> Iterable[Store]:
        """Stores of this kind in the usual places on this machine."""
        ...

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        """Stream what the location holds; never write to it, never raise on bad input."""
        ...


@dataclass(frozen=True)
class NotLoaded:
    """An entry point that gave no plugin: skipped, so one broken plugin stops no recovery."""

    name: str
    target: str  # the entry point's ``module:attribute``
    reason: str


_loaded: dict[str, Plugin] | None = None
_not_loaded: list[NotLoaded] = []


def _wanted() -> set[str]:
    return {n.strip() for n in os.environ.get("MAILRECOVER_PLUGINS", "").split(",") if n.strip()}


def _builtin_only() -> bool:
    return os.environ.get("MAILRECOVER_BUILTIN_PLUGINS_ONLY", "").strip() not in ("", "0")


def _distribution(ep: EntryPoint) -> str:
    return re.sub(r"[-_.]+", "-", ep.dist.name).lower() if ep.dist is not None and ep.dist.name else ""


class _NotAPlugin(Exception):
    pass


def _instantiate(ep: EntryPoint) -> Plugin:
    """The plugin an entry point names, or an exception saying why there is none."""
    obj = ep.load()
    plugin = obj() if isinstance(obj, type) else obj
    if not isinstance(plugin, Plugin):
        raise _NotAPlugin("it does not have the plugin methods (name, description, detect, discover, read)")
    return plugin


def _reason(e: BaseException) -> str:
    """One line: a third party's exception text may run to many."""
    text = (str(e).strip().splitlines() or [""])[0]
    return text if isinstance(e, _NotAPlugin) else f"{type(e).__name__}: {text}".rstrip(": ")


def load_plugins(*, refresh: bool = False) -> dict[str, Plugin]:
    """All plugins by name, loaded on first use, in name order.

    An entry point that cannot be loaded is left out and kept, with its reason, for
    ``not_loaded()``.  ``refresh`` is ``reset()`` first.
    """
    global _loaded
    if refresh:
        reset()
    if _loaded is not None:
        return _loaded
    wanted, builtin_only = _wanted(), _builtin_only()
    from importlib.metadata import entry_points  # 20 ms to import: only commands that read stores pay

    found: dict[str, Plugin] = {}
    failed: list[NotLoaded] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if wanted and ep.name not in wanted:
            continue
        if builtin_only and _distribution(ep) != _OWN_DISTRIBUTION:
            continue
        try:
            found[ep.name] = _instantiate(ep)
        except (Exception, SystemExit) as e:  # a broken third-party plugin must not stop a recovery
            failed.append(NotLoaded(ep.name, ep.value, _reason(e)))
    _not_loaded[:] = sorted(failed, key=lambda n: n.name)
    _loaded = dict(sorted(found.items()))
    return _loaded


def not_loaded() -> list[NotLoaded]:
    """The entry points the last loading skipped, by name, each with the reason."""
    load_plugins()
    return list(_not_loaded)


def reset() -> None:
    """Forget the loaded plugins: the next use reads the entry points and the environment again."""
    global _loaded
    _loaded = None
    _not_loaded.clear()


def get_plugin(name: str) -> Plugin:
    plugins = load_plugins()
    try:
        return plugins[name]
    except KeyError:
        raise UsageError(f"no plugin named {name!r}; known: {', '.join(plugins) or 'none'}") from None
