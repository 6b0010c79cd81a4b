"""Folders and files only the administrator can read, whatever the umask.

Everything mailrecover creates (workspace, restored Maildir and mbox trees, reports)
holds other people's mail: folders are made 0700 and files 0600 and then set so
explicitly, because a umask only ever removes bits and a caller may have set 0 or 0o277.
What already existed is left as it was: mailrecover does not change the modes of the
administrator's own folders.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "open_private",
    "open_private_at",
    "open_root",
    "private_dir",
    "private_dir_at",
    "write_all",
    "write_new_files",
    "write_private",
]

#: A folder opened below a root: never through a symbolic link, never inherited by children.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Make ``path`` and every missing parent, each 0700; returns the path."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.is_dir() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, 0o700)
    return path


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open`` that creates a missing file 0600; an existing file keeps its mode.

    With ``O_EXCL`` in ``flags`` an existing file is an error, as ``os.open`` has it.
    """
    return _open_private(path, flags)


def _open_private(path: str | os.PathLike[str], flags: int, dir_fd: int | None = None) -> int:
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        if flags & os.O_EXCL:
            raise
        return os.open(path, flags & ~os.O_CREAT, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_root(path: str | os.PathLike[str]) -> int:
    """Make ``path`` (0700, with missing parents) and open it as a folder to work below.

    A symbolic link the user named as the root (or above it) is followed: that is the place
    they asked for.  Everything below it is reached with ``private_dir_at``/``open_private_at``,
    which never follow one.
    """
    private_dir(path)
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def private_dir_at(dir_fd: int, name: str) -> int:
    """Open the folder ``name`` inside ``dir_fd``, made 0700 if missing, never through a symlink.

    A symbolic link there fails with ``ELOOP``, a file with ``ENOTDIR``: the caller says which.
    """
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        created = True
    except FileExistsError:
        created = False
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    if created:
        try:
            os.fchmod(fd, 0o700)
        except BaseException:
            os.close(fd)
            raise
    return fd


def open_private_at(dir_fd: int, name: str, flags: int) -> int:
    """``open_private`` for ``name`` inside ``dir_fd``, never through a symlink (``ELOOP``).

    With ``O_EXCL`` in ``flags`` an existing file is an error, as ``os.open`` has it.
    """
    return _open_private(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd)


def write_all(fd: int, data: bytes, *, sync: bool = True) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than it is given) and sync it,
    unless the caller syncs a whole batch of files at once (``sync=False``)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if sync:
        os.fsync(fd)


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` in a new 0600 file (never through a symlink)."""
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a killed run, never written through
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_new_files(directory: str | os.PathLike[str], files: dict[str, bytes]) -> list[Path]:
    """Write each named file into ``directory`` (made 0700 if missing), 0600 and atomically;
    FileExistsError before writing anything when one of them is there already: an owner's
    edited drafts or exports are never overwritten."""
    folder = Path(directory)
    paths = [folder / name for name in files]
    for path in paths:
        if path.exists() or path.is_symlink():
            raise FileExistsError(f"{path} exists already")
    private_dir(folder)
    for path, data in zip(paths, files.values()):
        write_private(path, data)
    return paths
