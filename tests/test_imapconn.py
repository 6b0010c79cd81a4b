"""IMAP URLs, folder names between server and mailrecover, and flags."""

from __future__ import annotations

import pytest

from mailrecover.errors import UsageError
from mailrecover.imapconn import (
    ConnectionSettings,
    flags_from_imap,
    flags_to_imap,
    folder_from_server,
    folder_to_server,
    parse_imap_url,
)
from mailrecover.model import Flag


def test_urls_with_encoded_users_default_ports_and_folders() -> None:
    url = parse_imap_url("imap://taro%40example.co.jp@Mail.Example.JP/%E4%BB%95%E4%BA%8B/2012")
    assert (url.user, url.host, url.port, url.secure, url.folder) == (
        "taro@example.co.jp", "mail.example.jp", 143, False, "仕事/2012")  # fmt: skip
    assert str(url) == "imap://taro%40example.co.jp@mail.example.jp:143/%E4%BB%95%E4%BA%8B/2012"
    secure = parse_imap_url("imaps://hanako@[::1]/")
    assert (secure.port, secure.secure, secure.folder, str(secure)) == (993, True, None, "imaps://hanako@[::1]:993/")


@pytest.mark.parametrize("bad", ["imap://host/", "imap://:pw@host/", "http://u@host/", "imap://u@host:99999/"])
def test_bad_urls_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_imap_url(bad)


def test_a_password_in_the_url_is_refused_without_being_repeated() -> None:
    with pytest.raises(UsageError) as e:
        parse_imap_url("imaps://taro:hunter2@host/")
    assert "hunter2" not in str(e.value)


def test_folder_names_follow_the_server_delimiter() -> None:
    assert folder_from_server("INBOX.仕事.見積もり", ".") == "INBOX/仕事/見積もり"
    assert folder_from_server("Archive/2012", "/") == "Archive/2012"
    assert folder_from_server("inbox", None) == "INBOX"
    assert folder_to_server("仕事/見積もり", ".") == "仕事.見積もり"
    assert folder_to_server("ML/v1.2 notes", ".") == "ML.v1_2 notes"  # a dot inside a name is not a level
    assert folder_to_server("ML/v1.2 notes", "/") == "ML/v1.2 notes"


def test_a_personal_namespace_prefix_is_hidden_and_restored() -> None:
    """Courier and Cyrus keep every folder under ``INBOX.``."""
    assert folder_from_server("INBOX.Sent", ".", "INBOX.") == "Sent"
    assert folder_from_server("INBOX", ".", "INBOX.") == "INBOX"
    assert folder_to_server("Sent/2011", ".", "INBOX.") == "INBOX.Sent.2011"
    assert folder_to_server("INBOX", ".", "INBOX.") == "INBOX"
    assert folder_to_server("INBOX/Work", ".", "INBOX.") == "INBOX.Work"


def test_flags_both_ways_and_never_deleted_on_upload() -> None:
    flags, keywords = flags_from_imap([b"\\Seen", b"\\Deleted", b"$Forwarded", b"\\Recent", b"$label1"])
    assert flags == {Flag.SEEN, Flag.DELETED, Flag.FORWARDED} and keywords == ("$label1",)
    assert flags_to_imap(flags) == ["$Forwarded", "\\Seen"]


def test_settings_from_the_environment() -> None:
    env = {"MAILRECOVER_CA_FILE": "/etc/ca.pem", "MAILRECOVER_ALLOW_CLEARTEXT": "yes"}
    assert ConnectionSettings.from_environ(env) == ConnectionSettings(ca_file="/etc/ca.pem", allow_cleartext=True)
    assert ConnectionSettings.from_environ({}) == ConnectionSettings()
