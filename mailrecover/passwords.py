"""Where a password comes from: a 0600 file, ``MAILRECOVER_PASSWORD``, or a prompt; and an
OAuth access token: a 0600 file, or the output of the administrator's own command.

Never the command line: arguments show in ``ps`` and shell history.  The password is
only ever held in memory; nothing here logs it or writes it anywhere.
"""

from __future__ import annotations

import getpass
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping

from .errors import ConfigError, UsageError

__all__ = ["PASSWORD_ENV", "password_source", "read_password_file", "run_token_command", "without_password"]

PASSWORD_ENV = "MAILRECOVER_PASSWORD"


def without_password(location: str) -> str:
    """``location`` as it may be stored and shown: a URL with its password cut out of the
    user part, anything else as it is.

    Users write passwords the way parsers do not expect (an address as user name with its
    ``@`` not encoded, ``@`` or ``/`` in the password), so the cut is generous: from the first
    ``:`` to the last ``@`` when the ``:`` comes before any ``@``, or when no ``/`` stands
    between it and the next ``@``.  A URL without a password (``imap://u@host:993/a@b``) stays
    whole; one with a password is refused anyway, so cutting a little too much costs nothing.
    """
    scheme, sep, rest = location.partition("://")
    colon, at = rest.find(":"), rest.find("@")
    last_at = rest.rfind("@")
    if not sep or colon < 0 or last_at < colon:
        return location
    if colon < at or "/" not in rest[colon : rest.find("@", colon)]:
        return f"{scheme}{sep}{rest[:colon]}@{rest[last_at + 1 :]}"
    return location


def read_password_file(path: str) -> str:
    """The first line of ``path``, which must be a regular file no one else can read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise ConfigError(f"password file {path}: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"password file {path} is not a regular file")
        if st.st_mode & 0o077:
            raise ConfigError(
                f"password file {path} has mode {stat.S_IMODE(st.st_mode):04o}; "
                f"others could read it: chmod 600 {path}"
            )
        data = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "strict").splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"password file {path} is empty")
    return lines[0]


def password_source(
    password_file: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    interactive: bool | None = None,
) -> Callable[[str], str]:
    """What ``ReadContext.password`` and the IMAP target call to get a password.

    A password file wins (read and checked now, so a bad file fails before any work);
    then ``MAILRECOVER_PASSWORD``; then a prompt when stdin is a terminal.
    """
    if password_file is not None:
        secret = read_password_file(password_file)
        return lambda prompt: secret
    env = os.environ if environ is None else environ
    tty = sys.stdin.isatty() if interactive is None else interactive

    def ask(prompt: str) -> str:
        value = env.get(PASSWORD_ENV)
        if value:
            return value
        if tty:
            return getpass.getpass(f"Password for {prompt}: ")
        raise UsageError(
            f"a password is needed for {prompt}: set {PASSWORD_ENV}, "
            "give --password-file FILE (mode 0600), or run on a terminal"
        )

    return ask


def run_token_command(command: str, timeout: float = 120) -> str:
    """The first line a token command (``oauth2l fetch …``, ``az account get-access-token …``)
    prints; its own error output is shown, never its standard output, which holds the token."""
    try:
        done = subprocess.run(
            command, shell=True, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"--oauth-token-command: {e}") from None
    said = " ".join(done.stderr.decode("utf-8", "replace").split())[-300:]
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    if done.returncode != 0 or not lines or not lines[0].strip():
        why = f"exit status {done.returncode}" if done.returncode else "no token on its output"
        raise ConfigError(f"--oauth-token-command failed ({why}){': ' + said if said else ''}")
    return lines[0].strip()
