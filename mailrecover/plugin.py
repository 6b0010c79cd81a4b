"""The plugin protocol and the lazy loading of plugins from entry points.

A plugin reads one kind of location.  It is found through the entry-point group
``mailrecover.plugins``; built-in plugins are registered exactly like third-party ones.
``MAILRECOVER_PLUGINS=name,name`` restricts which are loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Protocol, runtime_checkable

from .errors import PluginError, UsageError
from .model import Finding

__all__ = [
    "CLAIM",
    "ENTRY_POINT_GROUP",
    "Plugin",
    "ReadContext",
    "Store",
    "get_plugin",
    "load_plugins",
]

ENTRY_POINT_GROUP = "mailrecover.plugins"

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


_loaded: dict[str, Plugin] | None = None


def load_plugins(*, refresh: bool = False) -> dict[str, Plugin]:
    """All plugins by name, loaded on first use, in name order."""
    global _loaded
    if _loaded is not None and not refresh:
        return _loaded
    wanted = {
        n.strip() for n in os.environ.get("MAILRECOVER_PLUGINS", "").split(",") if n.strip()
    }
    from importlib.metadata import entry_points  # 20 ms to import: only commands that read stores pay

    found: dict[str, Plugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if wanted and ep.name not in wanted:
            continue
        try:
            obj = ep.load()
            plugin = obj() if isinstance(obj, type) else obj
        except Exception as e:  # a broken third-party plugin must not stop a recovery
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {e}") from e
        if not isinstance(plugin, Plugin):
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) does not have the plugin methods")
        found[ep.name] = plugin
    _loaded = dict(sorted(found.items()))
    return _loaded


def get_plugin(name: str) -> Plugin:
    plugins = load_plugins()
    try:
        return plugins[name]
    except KeyError:
        raise UsageError(
            f"no plugin named {name!r}; known: {', '.join(plugins) or 'none'}"
        ) from None
