"""One error tree; ``cli`` maps it to exit statuses once."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MailRecoverError",
    "OperationError",
    "PluginError",
    "TargetError",
    "UsageError",
    "WorkspaceError",
    "WorkspaceInUse",
]


class MailRecoverError(Exception):
    """Anything mailrecover reports to the user as one line."""

    exit_status = 1


class UsageError(MailRecoverError):
    """The command line or a setting is wrong; nothing was done."""

    exit_status = 2


class ConfigError(UsageError):
    """A setting (workspace, password file, target) is unusable."""


class OperationError(MailRecoverError):
    """The work could not be done; nothing was changed."""


class WorkspaceError(OperationError):
    """The workspace is missing, locked, damaged or of a newer version."""


class WorkspaceInUse(WorkspaceError):
    """Another process is writing the workspace; nothing was done (run again when it ends)."""

    exit_status = 2


class PluginError(OperationError):
    """A plugin could not be loaded or broke its contract."""


class TargetError(OperationError):
    """A restore target refused or failed."""
