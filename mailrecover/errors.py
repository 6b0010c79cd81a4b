"""One error tree; ``cli`` maps it to exit statuses once."""

from __future__ import annotations

__all__ = [
    "BlobError",
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


class BlobError(WorkspaceError):
    """A copy's stored bytes are gone or no longer match their SHA-256: that copy is lost."""

    def __init__(self, digest: str, reason: str) -> None:
        super().__init__(f"the workspace's copy {digest[:12]} {reason}")
        self.digest = digest
        self.reason = reason
