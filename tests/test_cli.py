"""The command line as a new user meets it: mistakes refused, exit statuses, words, progress."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailrecover.cli import _parser, main
from mailrecover.progress import Progress, progress_line
from mailrecover.words import counted, size_text

REPO = Path(__file__).resolve().parents[1]
TARO = REPO / "examples" / "taro"
ACCOUNT = "taro@example.co.jp"
#: The README's first set-up command's locations: 18 copies, 11 messages, one deleted in every copy.
LOCATIONS = [
    str(TARO / "old-pc" / "Thunderbird" / "Local Folders"),
    str(TARO / "backup" / "Maildir"),
    str(TARO / "Desktop" / "saved-mail"),
    str(TARO / "outlook-export"),
]


@pytest.fixture
def ws(tmp_path, capsys) -> str:
    """The example mailbox gathered into a fresh workspace."""
    path = str(tmp_path / "ws")
    assert main(["--workspace", path, "gather", "--account", ACCOUNT, *LOCATIONS]) == 0
    capsys.readouterr()
    return path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


# --- mistakes that must not pass unnoticed --------------------------------------------------


@pytest.mark.parametrize("command", [["restore", "--to", "maildir:{t}"], ["report"], ["report", "--senders"]])
def test_an_unknown_account_is_a_usage_error_naming_the_known_ones_closest_first(
    ws, tmp_path, capsys, command
):
    assert main(["--workspace", ws, "gather", "--account", "jiro@example.org", LOCATIONS[1]]) == 0
    capsys.readouterr()
    target = tmp_path / "typo"
    args = [a.format(t=target) for a in command]
    status, out, err = _run(capsys, "--workspace", ws, *args, "--account", "taro@example.co")
    assert status == 2 and out == ""
    assert "taro@example.co is not in the workspace; it holds: taro@example.co.jp, jiro@example.org" in err
    assert not target.exists()  # no empty target made


def test_gather_refuses_an_account_that_is_no_address(tmp_path, capsys):
    status, _, err = _run(
        capsys, "--workspace", str(tmp_path / "ws"), "gather", "--account", "not-an-address", LOCATIONS[1]
    )
    assert status == 2 and "--account 'not-an-address': not a mail address" in err
    assert not (tmp_path / "ws").exists()


def test_gather_without_account_says_where_the_copies_went_and_how_to_assign_them(tmp_path, capsys):
    status, out, _ = _run(capsys, "--workspace", str(tmp_path / "ws"), "gather", LOCATIONS[1])
    assert status == 0
    assert "filed under no account ('(none given)' in report)" in out and "again with --account ADDR" in out


@pytest.mark.parametrize(
    "command", [["report"], ["members"], ["restore", "--account", ACCOUNT, "--to", "maildir:x"]]
)
def test_only_gather_creates_a_workspace(tmp_path, capsys, command):
    missing = tmp_path / "does-not-exist"
    status, out, err = _run(capsys, "--workspace", str(missing), *command)
    assert status == 2 and f"no workspace at {missing}: only gather creates one" in err
    assert not missing.exists()
    assert main(["--workspace", str(missing), "gather", LOCATIONS[1]]) == 0
    assert (missing / "workspace.db").is_file()


def test_global_options_are_accepted_after_the_command_too(ws, capsys):
    status, out, _ = _run(capsys, "report", "--json", "--workspace", ws)
    assert status == 0 and json.loads(out)["accounts"][ACCOUNT]["messages"] == 11
    status, out, _ = _run(capsys, "--workspace", "/nowhere", "report", "--workspace", ws, "-q")  # after wins
    assert status == 0 and "11 distinct messages" in out
    assert _run(capsys, "--workspace", ws, "report", "-v", "-q")[0] == 2  # opposite asks, wherever given


# --- exit status and output -----------------------------------------------------------------


def test_a_list_file_without_list_is_a_problem_and_exits_3(tmp_path, capsys):
    members = tmp_path / "lists" / "members.txt"
    members.parent.mkdir()
    members.write_text("a@example.org\nb@example.org\n")
    status, out, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "gather", str(members))
    assert status == 3 and "which list is this? give --list" in err and "1 problem" in out


@pytest.mark.parametrize(
    "command",
    [
        ["gather", "--account", ACCOUNT, "imaps://taro:s3cret@localhost/"],
        ["gather", "imap://taro%40example.co.jp:s3cret@127.0.0.1:1/INBOX"],
        ["restore", "--account", ACCOUNT, "--to", "imaps://taro:s3cret@localhost/"],
    ],
)
def test_a_password_inside_a_url_is_a_usage_error_with_the_reason(ws, capsys, command):
    status, out, err = _run(capsys, "--workspace", ws, *command)
    assert status == 2 and "a password does not belong in the URL" in err
    assert "s3cret" not in out + err


def test_report_exits_3_when_it_lists_problems(ws, tmp_path, capsys):
    assert _run(capsys, "--workspace", ws, "report")[0] == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.eml").write_bytes(b"\x00" * 64)
    assert main(["--workspace", ws, "gather", "--account", ACCOUNT, str(broken)]) == 3
    status, out, _ = _run(capsys, "--workspace", ws, "report")
    assert status == 3 and "1 problem:" in out


@pytest.mark.parametrize("args", [["report"], ["--json", "report"], ["members"]])
def test_a_reader_that_leaves_early_gets_no_traceback(ws, args):
    """``mailrecover report | head -5``: the pipe is closed before the first byte is written."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before mailrecover writes
    done = subprocess.run(
        [sys.executable, "-m", "mailrecover", "--workspace", ws, *args],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode in (0, 3)  # the command's own status: its work was done


@pytest.mark.parametrize(
    "args, status",
    [
        (["report", "--account", "nobody@example.org"], 2),
        (["restore", "--account", ACCOUNT], 2),  # argparse's own complaint: --to missing
        (["report", "--nonsense"], 2),
    ],
)
def test_with_json_an_error_is_the_one_json_result_on_stdout(ws, capsys, args, status):
    got, out, err = _run(capsys, "--workspace", ws, "--json", *args)
    assert got == status and err == ""
    answer = json.loads(out)
    assert answer["exit_status"] == status and answer["error"]


def test_restore_says_what_it_wrote_and_what_was_there(ws, tmp_path, capsys):
    target = f"maildir:{tmp_path / 'Maildir'}"
    status, out, _ = _run(
        capsys, "--workspace", ws, "restore", "--dry-run", "--account", ACCOUNT, "--to", target
    )
    assert status == 0 and out.startswith(f"would write 11 messages (12.3 kB) to {target}:")
    assert "  Recovered Deleted/INBOX: 1\n" in out and "  INBOX: 7\n" in out
    status, out, _ = _run(capsys, "--workspace", ws, "restore", "--account", ACCOUNT, "--to", target)
    assert out == f"restored to {target}: 11 messages written (12.3 kB)\n"
    status, out, _ = _run(capsys, "--workspace", ws, "restore", "--account", ACCOUNT, "--to", target)
    assert out == f"restored to {target}: 0 messages written, 11 already there\n"
    status, out, _ = _run(
        capsys, "--workspace", ws, "--json", "restore", "--dry-run", "--account", ACCOUNT, "--to", target
    )
    plan = json.loads(out)
    assert (plan["planned"], plan["to_write"], plan["already_there"], plan["bytes"]) == (11, 0, 11, 0)


def test_report_folders_are_the_folders_restore_writes(ws, capsys):
    status, out, _ = _run(capsys, "--workspace", ws, "--json", "report")
    folders = json.loads(out)["accounts"][ACCOUNT]["folders"]
    assert folders == {"INBOX": 7, "Projects": 1, "Projects/2012": 1, "Recovered Deleted/INBOX": 1, "Sent": 1}
    status, out, _ = _run(capsys, "--workspace", ws, "report")
    assert "in 5 folders\n" in out and "  folders, as restore files them:\n    INBOX " in out


def test_report_html_says_where_it_wrote(ws, tmp_path, capsys):
    page = tmp_path / "report.html"
    status, out, _ = _run(capsys, "--workspace", ws, "report", "--html", str(page))
    assert status == 0 and out.rstrip().endswith(f"HTML report written to {page}") and page.is_file()


def test_report_senders_without_logs_says_no_logs_were_gathered(ws, capsys):
    status, out, err = _run(capsys, "--workspace", ws, "report", "--account", ACCOUNT, "--senders")
    assert status == 1 and out == "" and "no mail server logs were gathered" in err


# --- words ----------------------------------------------------------------------------------


def test_counts_read_right_in_the_singular_and_with_separators():
    assert [counted(1, "copy"), counted(2, "copy"), counted(0, "problem"), counted(20001, "copy")] == [
        "1 copy",
        "2 copies",
        "0 problems",
        "20,001 copies",
    ]
    assert [size_text(512), size_text(12_300), size_text(4_700_000)] == ["512 bytes", "12.3 kB", "4.7 MB"]


def test_gather_summary_in_the_singular(tmp_path, capsys):
    status, out, _ = _run(
        capsys,
        "--workspace",
        str(tmp_path / "ws"),
        "gather",
        "--account",
        ACCOUNT,
        str(TARO / "outlook-export" / "見積書.eml"),
    )
    assert status == 0
    assert out.startswith(
        "gathered 1 copy (1 new) and 0 evidence records from 1 store; 0 problems; 0 files skipped\n"
    )
    assert "  1 folder: INBOX (1 copy)\n" in out
    status, out, _ = _run(capsys, "--workspace", str(tmp_path / "ws"), "report")
    assert "1 copy found, 1 distinct message (0 duplicates merged) in 1 folder" in out


def test_forcing_a_plugin_on_a_folder_it_does_not_know_says_what_it_expected(tmp_path, capsys):
    status, _, err = _run(
        capsys, "--workspace", str(tmp_path / "ws"), "gather", "--plugin", "mbox", str(TARO)
    )
    assert status == 3 and "plugin mbox reads mbox files" in err and "No such device" not in err


def test_quiet_gather_prints_errors_and_the_result_line(tmp_path, capsys):
    status, out, err = _run(
        capsys,
        "--workspace",
        str(tmp_path / "ws"),
        "-q",
        "gather",
        "--account",
        ACCOUNT,
        LOCATIONS[1],
        str(tmp_path / "nowhere"),
    )
    assert status == 3 and "nowhere: cannot open" in err
    assert (
        out == "gathered 5 copies (5 new) and 0 evidence records from 1 store; 1 problem; 0 files skipped\n"
    )


def test_help_names_exit_codes_default_workspace_and_every_option(capsys, monkeypatch):
    monkeypatch.setenv("MAILRECOVER_WORKSPACE", "/srv/recovery/job")
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "3  done, with problems reported" in text and "default workspace: /srv/recovery/job" in text
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert sub.description, name
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_discover_verbose_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    status, out, err = _run(capsys, "discover", "-v")
    assert status == 0
    assert (
        f"looking under home {tmp_path / 'home'}" in err and f"Windows APPDATA {tmp_path / 'roaming'}" in err
    )
    assert "plugin thunderbird: 0 stores found" in err


def test_verbose_report_names_the_skipped_files(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    assert main(["--workspace", ws, "gather", "--account", ACCOUNT, str(REPO / "examples")]) == 0
    capsys.readouterr()
    status, out, err = _run(capsys, "--workspace", ws, "-v", "report")
    assert "3 files skipped, no mail read from them (-v names them" in out
    assert f"skipped by a gather: {REPO / 'examples' / 'README.md'}" in err


def test_gather_names_the_folders_it_made_from_the_path_given(tmp_path, capsys):
    status, out, _ = _run(
        capsys, "--workspace", str(tmp_path / "ws"), "gather", "--account", ACCOUNT, str(REPO / "examples")
    )
    assert "taro/Desktop/saved-mail (3 copies)" in out  # the path below the location names the folder
    status, out, _ = _run(
        capsys,
        "--workspace",
        str(tmp_path / "ws2"),
        "gather",
        "--account",
        ACCOUNT,
        str(TARO / "Desktop" / "saved-mail"),
    )
    assert "  1 folder: INBOX (3 copies)\n" in out


# --- progress -------------------------------------------------------------------------------


def test_progress_line_shows_done_of_total_rate_and_time_left():
    line = progress_line("gather", 12_000_000, 48_000_000, 4.0, size_text, "INBOX")
    assert line == "gather: 12.0 MB of 48.0 MB (25%), 3.0 MB/s, about 0:12 left  INBOX"
    assert progress_line("restore", 5, None, 0.5, lambda n: counted(n, "message")) == "restore: 5 messages"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_gather_and_restore_progress_on_a_terminal_count_towards_a_total(tmp_path, capsys, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    clock = iter(range(10**6))  # a clock that moves a second a look: every line is due
    monkeypatch.setattr("mailrecover.progress.time.monotonic", lambda: float(next(clock)))
    ws = str(tmp_path / "ws")
    assert main(["--workspace", ws, "gather", "--account", ACCOUNT, LOCATIONS[1]]) == 0
    assert " of " in terminal.getvalue() and "(100%)" in terminal.getvalue()
    terminal.seek(0), terminal.truncate()
    capsys.readouterr()
    assert (
        main(["--workspace", ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{tmp_path / 'M'}"]) == 0
    )
    assert "restore: 5 messages of 5 messages (100%)" in terminal.getvalue()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\r" not in out  # one summary line, no progress in the output


def test_no_progress_in_a_pipe(tmp_path):
    pipe = io.StringIO()
    bar = Progress(enabled=True, stream=pipe)
    bar.total = 10
    bar.show("restore: 1 of 10", force=True)
    assert pipe.getvalue() == ""


def test_an_account_only_the_mail_logs_name_is_known_to_report(tmp_path, capsys):
    """A mailbox of which no copy survived: the logs alone say what it lost."""
    from tests.support.logbuilder import LOCAL, write_log

    logs = tmp_path / "var-log"
    logs.mkdir()
    write_log(logs, "postfix")
    ws = str(tmp_path / "ws")
    main(["--workspace", ws, "gather", str(logs)])
    capsys.readouterr()
    status, out, _ = _run(capsys, "--workspace", ws, "--json", "report", "--account", LOCAL)
    assert status in (0, 3) and json.loads(out)["accounts"][LOCAL]["missing"]  # everything it was sent
    status, out, err = _run(capsys, "--workspace", ws, "report", "--account", "nobody@example.org")
    assert status == 2 and "nobody@example.org is not in the workspace" in err


def test_report_html_is_named_in_the_json_result(ws, tmp_path, capsys):
    page = tmp_path / "r.html"
    status, out, _ = _run(capsys, "--workspace", ws, "--json", "report", "--html", str(page))
    assert status == 0 and json.loads(out)["html"] == str(page)
