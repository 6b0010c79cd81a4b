"""Where passwords come from, and where they may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrecover.errors import ConfigError, UsageError
from mailrecover.passwords import password_source, read_password_file


def _file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "pw"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_private_file_gives_its_first_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "s3cret with spaces \nsecond line\n")
    assert read_password_file(str(path)) == "s3cret with spaces "
    assert password_source(str(path), environ={"MAILRECOVER_PASSWORD": "env"})("x") == "s3cret with spaces "


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ConfigError, match="chmod 600"):
        password_source(str(_file(tmp_path, "pw\n", mode)))


def test_a_symlink_an_empty_file_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(_file(tmp_path, "pw\n"))
    empty = tmp_path / "empty"
    empty.write_text("")
    empty.chmod(0o600)
    for path in (link, empty, tmp_path / "missing"):
        with pytest.raises(ConfigError):
            read_password_file(str(path))


def test_the_environment_then_the_terminal_else_a_clear_error() -> None:
    assert password_source(environ={"MAILRECOVER_PASSWORD": "from-env"}, interactive=False)("x") == "from-env"
    with pytest.raises(UsageError, match="MAILRECOVER_PASSWORD.*--password-file"):
        password_source(environ={}, interactive=False)("imap://taro@host/")
