"""IMAP URLs, folder names between server and mailrecover, flags, and the gathering reader."""

from __future__ import annotations

import pytest

from mailrecover.errors import UsageError
from mailrecover.imapconn import (
    AnswerTooLong,
    ConnectionSettings,
    flags_from_imap,
    flags_to_imap,
    folder_from_server,
    folder_to_server,
    open_reader,
    parse_imap_url,
)
from mailrecover.limits import Limits
from mailrecover.model import Flag

from .support.hostile_imap import HostileIMAP


def test_urls_with_encoded_users_default_ports_and_folders() -> None:
    url = parse_imap_url("imap://taro%40example.co.jp@Mail.Example.JP/%E4%BB%95%E4%BA%8B/2012")
    assert (url.user, url.host, url.port, url.secure, url.folder) == (
        "taro@example.co.jp",
        "mail.example.jp",
        143,
        False,
        "仕事/2012",
    )
    assert str(url) == "imap://taro%40example.co.jp@mail.example.jp:143/%E4%BB%95%E4%BA%8B/2012"
    secure = parse_imap_url("imaps://hanako@[::1]/")
    assert (secure.port, secure.secure, secure.folder, str(secure)) == (
        993,
        True,
        None,
        "imaps://hanako@[::1]:993/",
    )


@pytest.mark.parametrize(
    "bad", ["imap://host/", "imap://:pw@host/", "http://u@host/", "imap://u@host:99999/"]
)
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
    # a subfolder of INBOX stays apart from a top-level folder of the same name, and comes back as such
    assert folder_to_server("INBOX/Work", ".", "INBOX.") == "INBOX.INBOX.Work"
    assert folder_from_server("INBOX.INBOX.Work", ".", "INBOX.") == "INBOX/Work"


def test_flags_both_ways_and_never_deleted_on_upload() -> None:
    flags, keywords = flags_from_imap([b"\\Seen", b"\\Deleted", b"$Forwarded", b"\\Recent", b"$label1"])
    assert flags == {Flag.SEEN, Flag.DELETED, Flag.FORWARDED} and keywords == ("$label1",)
    assert flags_to_imap(flags) == ["$Forwarded", "\\Seen"]


def test_settings_from_the_environment() -> None:
    env = {"MAILRECOVER_CA_FILE": "/etc/ca.pem", "MAILRECOVER_ALLOW_CLEARTEXT": "yes"}
    assert ConnectionSettings.from_environ(env) == ConnectionSettings(
        ca_file="/etc/ca.pem", allow_cleartext=True
    )
    assert ConnectionSettings.from_environ({}) == ConnectionSettings()


def test_a_reader_on_an_empty_answer_and_a_flood_of_untagged_lines() -> None:
    mails = [b"Subject: %d\r\n\r\nbody\r\n" % i for i in range(3)]
    with HostileIMAP("endless", mails, good=1, other_folders={b"Empty": []}) as server:
        url = parse_imap_url(server.url)
        limits = Limits(max_response_bytes=1 << 16)
        reader = open_reader(url, lambda prompt: server.password, ConnectionSettings(timeout=5), limits)
        assert reader.examine("Empty") == (0, 42)
        assert reader.uids_after(0) == []
        assert reader.examine("INBOX") == (3, 42)
        assert reader.uids_after(0) == [1, 2, 3]
        assert reader.fetch([1], "BODY.PEEK[]")[1][b"BODY[]"] == mails[0]
        with pytest.raises(AnswerTooLong, match="MAILRECOVER_MAX_RESPONSE_BYTES"):
            reader.fetch([2], "BODY.PEEK[]", mail_bytes=len(mails[1]))
        assert not reader.usable
        reader.close()
    assert not server.state.gave_up  # the reader stopped, not the server


def test_a_folder_too_big_for_one_search_answer_is_searched_in_windows() -> None:
    # 200,000 UIDs answer in 1.3 MB, over imaplib's 1,000,000-byte line: one SEARCH would fail.
    with HostileIMAP("honest", [b"Subject: x\r\n\r\nx\r\n"] * 200_000) as server:
        reader = open_reader(
            parse_imap_url(server.url),
            lambda prompt: server.password,
            ConnectionSettings(timeout=30),
            Limits(),
        )
        assert reader.examine("INBOX") == (200_000, 42)
        assert reader.uids_after(0) == list(range(1, 200_001))
        assert reader.uids_after(199_990) == list(range(199_991, 200_001))
        reader.close()
    assert server.state.commands.count("UID SEARCH") == 3 + 1


@pytest.mark.parametrize(
    "personal, others, own, theirs",
    [
        # Cyrus, Debian's namespace: shared folders sit at the top, beside INBOX.
        (
            "INBOX.",
            ("user.", ""),
            ["INBOX", "INBOX.Junk", "INBOX.user.x"],
            ["user.taro", "user.taro.Sent", "Junk", "support"],
        ),
        # Cyrus 3's own namespace
        (
            "",
            ("Other Users/", "Shared Folders/"),
            ["INBOX", "Junk", "Work/2012", "Other"],
            ["Other Users/taro/Sent", "Shared Folders/Junk", "Other Users"],
        ),
        # Dovecot with a public namespace; Courier's #shared
        ("", ("Public/",), ["INBOX", "Publication", "Sent"], ["Public/Junk", "Public"]),
        ("INBOX.", ("#shared.",), ["INBOX", "INBOX.Sent"], ["#shared.Sent"]),
        # no other namespaces (or no NAMESPACE): everything is the account's
        ("", (), ["INBOX", "Junk", "user.taro"], []),
    ],
)
def test_other_users_and_shared_folders_are_told_from_the_accounts_own(
    personal: str, others: tuple[str, ...], own: list[str], theirs: list[str]
) -> None:
    from mailrecover.imapconn import other_namespace

    assert [n for n in own if other_namespace(n, personal, others) is not None] == []
    assert [n for n in theirs if other_namespace(n, personal, others) is None] == []
