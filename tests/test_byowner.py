"""Sorting a mixed-up area back to its owners (``gather --by-owner``): the 2012 restore undone."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from mailrecover.byowner import area_account, read_accounts_file
from mailrecover.cli import main
from mailrecover.errors import UsageError
from mailrecover.ownership import Clue, JobIndex, owners

from .support.builders import OTHER, Provider, build_provider, snapshot

JOB = {"taro@example.co.jp": ("taro@example.jp",), "hanako@example.co.jp": ()}
INDEX = JobIndex(JOB)


def _run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


def _markers(root: Path) -> list[str]:
    """The marker of every message in a Maildir++ tree (a list: a duplicate shows twice)."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        if Path(dirpath).name == "cur":
            for name in files:
                found += re.findall(r"^Body of (.+)\.\r?$", (Path(dirpath) / name).read_text(), re.M)
    return found


def _restore_all(ws: Path, provider: Provider, out: Path) -> dict[str, list[str]]:
    got = {}
    for account in provider.accounts:
        target = out / account / "Maildir"
        assert _run(ws, "restore", "--account", account, "--to", f"maildir:{target}") in (0, 3)
        got[account] = _markers(target)
    return got


def _expected(provider: Provider) -> dict[str, list[str]]:
    return {a: sorted(m for m, who in provider.owners.items() if a in who) for a in provider.accounts}


@pytest.fixture
def provider(tmp_path: Path) -> Provider:
    return build_provider(tmp_path / "restore" / "home")


def test_every_copy_lands_in_exactly_its_owners_mailboxes(provider, tmp_path, capsys):
    before = snapshot(provider.root)
    ws = tmp_path / "ws"
    assert (
        _run(
            ws,
            "--json",
            "gather",
            "--by-owner",
            "--accounts",
            str(provider.accounts_file),
            str(provider.root),
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    unowned = sorted(m for m, who in provider.owners.items() if not who)
    assert result["unassigned"] == len(unowned)
    got = _restore_all(ws, provider, tmp_path / "new")
    assert {a: sorted(m) for a, m in got.items()} == _expected(provider)  # none lost, none twice, none astray
    capsys.readouterr()
    assert _run(ws, "--json", "report") == 3  # the unassigned pile is listed
    report = json.loads(capsys.readouterr().out)
    pile = {re.sub(r"^<(.+)@example.org>$", r"\1", f"<{u['message_id']}>") for u in report["unassigned"]}
    assert sorted(pile) == unowned
    stranger = next(u for u in report["unassigned"] if u["message_id"] == "stranger-0@example.org")
    assert stranger["evidence"] == [{"field": "Delivered-To", "address": "nobody0@not-in-job.example"}]
    assert "none of them an account of the job" in stranger["reason"]
    for account in provider.accounts:
        assert report["accounts"][account]["quarantined"] == 0  # what was sorted to it is its own
    assert snapshot(provider.root) == before


def test_sorting_again_adds_nothing(provider, tmp_path, capsys):
    ws = tmp_path / "ws"
    args = ["--json", "gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)]
    assert _run(ws, *args) == 0
    capsys.readouterr()
    assert _run(ws, *args) == 0
    assert json.loads(capsys.readouterr().out)["new_copies"] == 0
    got = _restore_all(ws, provider, tmp_path / "new")
    assert {a: sorted(m) for a, m in got.items()} == _expected(provider)


def test_without_a_file_the_workspace_accounts_and_aliases_are_the_job(provider, tmp_path, capsys):
    ws = tmp_path / "ws"
    for account, aliases in provider.accounts.items():  # each customer's own client copy makes it known
        own = tmp_path / "pc" / account / "Maildir" / "cur"
        own.mkdir(parents=True)
        (own / "1.M1P1.pc:2,S").write_bytes(
            f"From: {account}\nSubject: hello\nMessage-ID: <pc-{account}>\n\nBody of pc.\n".encode()
        )
        assert (
            _run(ws, "gather", "--account", account, *[f"--alias={a}" for a in aliases], str(own.parent)) == 0
        )
    assert _run(ws, "gather", "--by-owner", str(provider.root)) == 0
    got = _restore_all(ws, provider, tmp_path / "new")
    assert {a: sorted(m for m in got[a] if m != "pc") for a in got} == _expected(provider)


def test_the_quarantine_then_sees_what_was_misplaced_as_foreign(provider, tmp_path, capsys):
    """An area gathered as its customer's: the others' delivered mail in it is held back from
    that customer and arrives at its owner through the sorted pile."""
    ws = tmp_path / "ws"
    first, second = list(provider.accounts)[:2]
    assert _run(ws, "gather", "--account", second, str(provider.root / second.partition("@")[0])) == 0
    assert (
        _run(ws, "gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)) == 0
    )
    capsys.readouterr()
    assert _run(ws, "--json", "report", "--account", second) == 3  # quarantined mail listed
    held = {q["message_id"] for q in json.loads(capsys.readouterr().out)["accounts"][second]["quarantine"]}
    kinds = ("delivered", "xorig", "envelope", "received", "alias", "list")
    assert held == {f"misplaced-0-{k}@example.org" for k in kinds} | {"stranger-1@example.org"}
    got = _restore_all(ws, provider, tmp_path / "new")
    assert sorted(got[first]) == _expected(provider)[first]
    assert not [m for m in got[second] if m.startswith("misplaced-0-") and m != "misplaced-0-sent"]


def test_owners_follow_the_quarantine_rules():
    assert owners([Clue("Delivered-To", "taro@example.jp")], "", INDEX) == (["taro@example.co.jp"], "")
    assert owners(
        [Clue("Delivered-To", "taro+x@example.co.jp"), Clue("Received … for", "hanako@example.co.jp")],
        "",
        INDEX,
    )[0] == ["taro@example.co.jp", "hanako@example.co.jp"]
    assert owners([], "hanako@example.co.jp", INDEX, "taro@example.co.jp") == (["hanako@example.co.jp"], "")
    assert owners([], "x@example.org", INDEX, "taro@example.co.jp") == (["taro@example.co.jp"], "")
    who, why = owners([Clue("Delivered-To", OTHER)], "taro@example.co.jp", INDEX, "taro@example.co.jp")
    assert who == [] and OTHER in why  # foreign evidence outweighs the area and the writer
    internal = Clue("Received … for (server-internal name)", "jiro@example.co.jp", True)
    assert owners([internal], "", INDEX, "hanako@example.co.jp") == (["hanako@example.co.jp"], "")
    assert owners([], "", INDEX)[0] == []


@pytest.mark.parametrize(
    ("path", "account"),
    [
        ("/r/home/taro/Maildir/cur/1", "taro@example.co.jp"),
        ("/r/home/taro@example.co.jp/cur/1", "taro@example.co.jp"),
        ("/r/vmail/example.co.jp/hanako/cur/1", "hanako@example.co.jp"),
        ("/r/home/jiro/Maildir/cur/1", ""),
        ("/r/home/taro/hanako/cur/1", ""),  # two areas named: no hint
    ],
)
def test_the_area_a_copy_sits_in(path, account):
    assert area_account(path, "/r", INDEX) == account


def test_accounts_file_lines(tmp_path):
    good = tmp_path / "job.txt"
    good.write_text("# customers\nTaro@Example.co.jp taro@example.jp\n\nhanako@example.co.jp  # no aliases\n")
    assert read_accounts_file(str(good)) == JOB
    bad = tmp_path / "bad.txt"
    bad.write_text("taro@example.co.jp\nhanako\n")
    with pytest.raises(UsageError, match="line 2: 'hanako' is not a mail address"):
        read_accounts_file(str(bad))
    bad.write_text("taro@example.co.jp\nTARO@example.co.jp\n")
    with pytest.raises(UsageError, match="line 2: taro@example.co.jp is listed twice"):
        read_accounts_file(str(bad))


def test_by_owner_refuses_an_account_and_needs_known_accounts(provider, tmp_path, capsys):
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--by-owner", "--account", "taro@example.co.jp", str(provider.root)) == 2
    assert _run(ws, "gather", "--by-owner", str(provider.root)) == 2
    assert "knows no account yet" in capsys.readouterr().err
    assert _run(ws, "gather", "--accounts", str(provider.accounts_file), str(provider.root)) == 2


@pytest.mark.parametrize(
    "address",
    [
        "taro@example.co.jp",
        "Taro+shop@EXAMPLE.co.jp",
        "example.co.jp-taro@example.co.jp",
        "taro@localhost",
        "taro@example.jp",
        "taro+x@example.jp",
        "taro@mail.example.co.jp",
        "hanako@localhost.localdomain",
        "hanako@example.co.jp.",
        '"hanako"@example.co.jp',
        "jiro@example.co.jp",
        "x@elsewhere.example",
    ],
)
def test_the_index_names_exactly_whom_names_account_names(address):
    from mailrecover.ownership import names_account

    assert INDEX.named_by(address) == [a for a, aliases in JOB.items() if names_account(address, a, aliases)]


def _wide(marker: str, head: str) -> bytes:
    """A mail whose header is too wide to summarize under a 2 KiB limit (a LIMIT problem)."""
    return (
        f"{head}From: sender@example.org\nSubject: {marker}\nMessage-ID: <{marker}@example.org>\n"
        f"X-Pad: {'x' * 3000}\n\nBody of {marker}.\n"
    ).encode()


def test_problems_found_while_sorting_are_filed_with_the_copies_they_concern(
    provider, tmp_path, capsys, monkeypatch
):
    """A problem is its copy's owners' (each of them), its area's when no copy came of it, and
    the job's when nobody's: each account's report lists what concerns its mail."""
    first, second, third = provider.accounts
    monkeypatch.setenv("MAILRECOVER_MAX_HEADER_BYTES", "2048")
    empty = provider.root / "user1" / "Maildir" / "cur" / "9.M9P1.mx:2,S"
    empty.write_bytes(b"")  # damaged, in the second customer's area
    both = provider.root / "user2" / "Maildir" / "cur" / "8.M8P1.mx:2,S"
    both.write_bytes(
        _wide("wide-both", f"Received: from a by mx with ESMTP id 1\n\tfor <{first}>, <{second}>;\n")
    )
    foreign = provider.root / "user0" / "Maildir" / "cur" / "7.M7P1.mx:2,S"
    foreign.write_bytes(_wide("wide-stranger", "Delivered-To: nobody@not-in-job.example\n"))
    ws = tmp_path / "ws"
    assert (
        _run(ws, "gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)) == 3
    )
    capsys.readouterr()
    assert _run(ws, "--json", "report") == 3
    filed: dict[str, list[str]] = {}
    for p in json.loads(capsys.readouterr().out)["problems"]:
        filed.setdefault(p["source"], []).append(p["account"])
    assert {s: sorted(a) for s, a in filed.items()} == {
        str(empty): [second],
        str(both): sorted([first, second]),
        str(foreign): [""],  # the unassigned pile's: the job's
    }
    for account, concerns in ((first, [both]), (second, [both, empty]), (third, [])):
        capsys.readouterr()
        _run(ws, "--json", "report", "--account", account)
        report = json.loads(capsys.readouterr().out)
        assert sorted(p["source"] for p in report["problems"]) == sorted(map(str, concerns))
        assert report["accounts"][account]["problems"] == len(concerns)


def test_a_longer_accounts_file_takes_what_it_claims_out_of_the_pile_once(provider, tmp_path, capsys):
    first, *rest = provider.accounts
    shorter = tmp_path / "shorter.txt"
    shorter.write_text("".join(f"{a} {' '.join(provider.accounts[a])}\n" for a in rest))
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--by-owner", "--accounts", str(shorter), str(provider.root)) == 0
    capsys.readouterr()
    _run(ws, "--json", "report")
    pile = [u["message_id"] for u in json.loads(capsys.readouterr().out)["unassigned"]]
    assert "own-0-0@example.org" in pile  # the first customer is not in that job
    for _ in range(2):  # the whole job, twice: the pile shrinks once and stays so
        args = ["gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)]
        assert _run(ws, *args) == 0
        capsys.readouterr()
        _run(ws, "--json", "report")
        pile = [u["message_id"] for u in json.loads(capsys.readouterr().out)["unassigned"]]
        assert sorted(pile) == sorted(f"{m}@example.org" for m, who in provider.owners.items() if not who)
    target = tmp_path / "new" / first
    assert _run(ws, "restore", "--account", first, "--to", f"maildir:{target}") == 0
    assert sorted(_markers(target)) == _expected(provider)[first]  # what left the pile arrived, once


def _subjects(ws: Path, account: str) -> list[str]:
    """The subjects (markers) of the copies filed under ``account`` (a list: a duplicate shows twice)."""
    with sqlite3.connect(ws / "workspace.db") as db:
        return sorted(r[0] for r in db.execute("SELECT subject FROM copies WHERE account = ?", (account,)))


def test_a_longer_accounts_file_takes_a_weakly_filed_copy_back_from_the_wrong_account(
    provider, tmp_path, capsys
):
    """Without the first customer in the job, its Sent mail in the second's area went to the
    second by the area alone; the whole job files it under its writer, and only there."""
    first, second, *_ = provider.accounts
    shorter = tmp_path / "shorter.txt"
    shorter.write_text("".join(f"{a} {' '.join(al)}\n" for a, al in provider.accounts.items() if a != first))
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--by-owner", "--accounts", str(shorter), str(provider.root)) == 0
    assert "misplaced-0-sent" in _subjects(ws, second)  # the area was the only hint it had
    early = tmp_path / "early" / second
    assert _run(ws, "restore", "--account", second, "--to", f"maildir:{early}") == 0
    restored = snapshot(early)
    for status in (3, 0):  # the whole job, twice: the copy moves once, and the problem is said once
        args = ["gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)]
        assert _run(ws, *args) == status
    assert "misplaced-0-sent" not in _subjects(ws, second)
    assert _subjects(ws, first).count("misplaced-0-sent") == 1
    got = _restore_all(ws, provider, tmp_path / "new")
    assert {a: sorted(m) for a, m in got.items()} == _expected(provider)  # nothing lost, nothing twice
    assert snapshot(early) == restored  # a target is never touched by a sort
    capsys.readouterr()
    assert _run(ws, "--json", "report", "--account", second) == 3
    problems = json.loads(capsys.readouterr().out)["problems"]
    misfiled = [p for p in problems if p["kind"] == "misfiled"]
    assert len(misfiled) == 1 and misfiled[0]["account"] == second
    assert "misplaced-0-sent" in misfiled[0]["reason"]
    assert str(early) in misfiled[0]["reason"]  # where to take it out by hand


def test_a_later_sort_withdraws_neither_evidence_nor_what_was_gathered_as_the_accounts(
    provider, tmp_path, capsys
):
    """A copy its delivery evidence filed, and one the administrator gathered into an account,
    stay where they are whatever a later sort with another job decides."""
    first, second, *_ = provider.accounts
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", second, str(provider.root / second.partition("@")[0])) == 0
    gathered = _subjects(ws, second)
    assert (
        _run(ws, "gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)) == 0
    )
    assert _subjects(ws, first).count("misplaced-0-sent") == 1
    shorter = tmp_path / "shorter.txt"
    shorter.write_text("".join(f"{a} {' '.join(al)}\n" for a, al in provider.accounts.items() if a != first))
    before = _subjects(ws, first)
    assert _run(ws, "gather", "--by-owner", "--accounts", str(shorter), str(provider.root)) == 0
    assert _subjects(ws, first) == before  # evidence, and a writer this job does not know, still stand
    assert set(gathered) <= set(_subjects(ws, second))  # what was gathered as the second's stays its
    capsys.readouterr()
    _run(ws, "--json", "report")
    assert not [p for p in json.loads(capsys.readouterr().out)["problems"] if p["kind"] == "misfiled"]


def test_a_shorter_job_gives_no_one_else_a_copy_an_earlier_sort_filed_to_an_account_it_left_out(
    provider, tmp_path
):
    """The reverse of a take-back: an earlier sort knew the writer of a sent message sitting in
    another customer's area; a later job without that writer must not hand it to the area's owner."""
    first, second, *_ = provider.accounts
    ws = tmp_path / "ws"
    assert (
        _run(ws, "gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)) == 0
    )
    assert _subjects(ws, first).count("misplaced-0-sent") == 1
    assert "misplaced-0-sent" not in _subjects(ws, second)
    shorter = tmp_path / "shorter.txt"
    shorter.write_text("".join(f"{a} {' '.join(al)}\n" for a, al in provider.accounts.items() if a != first))
    assert _run(ws, "gather", "--by-owner", "--accounts", str(shorter), str(provider.root)) == 0
    assert "misplaced-0-sent" not in _subjects(ws, second)
    assert _subjects(ws, first).count("misplaced-0-sent") == 1


def _as_sorted_before_016(ws: Path) -> None:
    """A workspace as a sort made it before copies recorded how they were filed (016_filed_by)
    and before 017_sorted_share read that back from where they were found."""
    with sqlite3.connect(ws / "workspace.db") as db:
        db.execute("UPDATE copies SET filed_by = ''")
        db.execute("DROP TABLE shares")
        db.execute("DELETE FROM migrations WHERE name = '017_sorted_share'")


def _located(ws: Path, account: str) -> list[tuple[str, str, str]]:
    """(subject, where it was read as, filed_by) of the copies filed under ``account``."""
    with sqlite3.connect(ws / "workspace.db") as db:
        return sorted(
            db.execute(
                "SELECT c.subject, l.account, c.filed_by FROM copies c JOIN locations l ON l.id = c.location_id "
                "WHERE c.account = ?",
                (account,),
            )
        )


def test_a_copy_sorted_before_016_is_taken_back_like_a_weak_one_and_a_gathered_one_stays(
    provider, tmp_path, capsys
):
    """Sorted copies are told from gathered ones by where they were read (a location read by
    owner); one an old sort filed under an account the current sort no longer names leaves it."""
    first, second, third = provider.accounts
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", third, str(provider.root / "user2")) == 0  # a normal gather
    shorter = tmp_path / "shorter.txt"
    shorter.write_text("".join(f"{a} {' '.join(al)}\n" for a, al in provider.accounts.items() if a != first))
    assert _run(ws, "gather", "--by-owner", "--accounts", str(shorter), str(provider.root)) == 0
    early = tmp_path / "early" / second
    assert _run(ws, "restore", "--account", second, "--to", f"maildir:{early}") == 0
    assert "misplaced-0-sent" in _markers(early)
    gathered = [c for c in _located(ws, third) if c[1] == third]
    _as_sorted_before_016(ws)

    args = ["gather", "--by-owner", "--accounts", str(provider.accounts_file), str(provider.root)]
    assert _run(ws, *args) == 3  # the misfiled problem
    assert "misplaced-0-sent" not in _subjects(ws, second)
    assert _subjects(ws, first).count("misplaced-0-sent") == 1
    assert [c for c in _located(ws, third) if c[1] == third] == gathered  # never marked, never taken
    assert {c[2] for c in _located(ws, second)} == {"unknown"}  # what the old sort filed: how, unknown
    capsys.readouterr()
    assert _run(ws, "--json", "report", "--account", second) == 3
    misfiled = [p for p in json.loads(capsys.readouterr().out)["problems"] if p["kind"] == "misfiled"]
    assert len(misfiled) == 1 and "misplaced-0-sent" in misfiled[0]["reason"]
    assert str(early) in misfiled[0]["reason"]
    got = _restore_all(ws, provider, tmp_path / "new")
    want = _expected(provider)
    assert {a: sorted(m) for a, m in got.items() if a != third} == {a: want[a] for a in (first, second)}
