"""The gather walk's two promises, over every plugin that reads files from a directory:
nothing outside a gathered location is read (a symbolic link is never followed out of it),
and every regular file under it ends as copies, a problem naming it or a skip naming it.

Each store shape is built here, then gathered as it is and again with one of the files its
plugin reads (or the folder holding it) replaced by a symbolic link to a copy kept outside
the gathered tree: the copy must not be read, and the link must be named with its target.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mailrecover.gather import GatherResult, gather, storable
from mailrecover.model import ProblemKind
from mailrecover.workspace import Workspace

from .plugins.client_stores import build_apple_mail, build_becky, build_thunderbird, build_windows_mail
from .support.builders import snapshot
from .support.dbx_builder import DbxMessage, message_dbx
from .support.lists_builders import build_fml, build_mailman
from .support.logbuilder import write_log

ACCOUNT = "taro@example.co.jp"


def _mail(n: int, subject: str = "hello") -> bytes:
    return (
        f"From: hanako@example.com\r\nTo: {ACCOUNT}\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <walk-{n}@example.com>\r\nDate: Mon, 18 Jun 2012 10:0{n % 10}:00 +0900\r\n"
        f"\r\nbody {n}\r\n"
    ).encode()


def _maildir(tree: Path) -> None:
    root = tree / "Maildir"
    for folder in (root, root / ".Work"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    (root / "cur" / "1340000001.1.host:2,S").write_bytes(_mail(1))
    (root / "new" / "1340000002.2.host").write_bytes(_mail(2))
    (root / ".Work" / "cur" / "1340000003.3.host:2,").write_bytes(_mail(3))


def _mh(tree: Path) -> None:
    inbox = tree / "Mail" / "inbox"
    (inbox / "work").mkdir(parents=True)
    (inbox / ".mh_sequences").write_text("unseen: 2\n")
    (inbox / "1").write_bytes(_mail(1))
    (inbox / "2").write_bytes(_mail(2))
    (inbox / "work" / "1").write_bytes(_mail(3))


def _loose(tree: Path) -> None:
    """A plain tree the walk goes through file by file: .eml and mbox files."""
    (tree / "saved" / "old").mkdir(parents=True)
    (tree / "saved" / "one.eml").write_bytes(_mail(1))
    (tree / "saved" / "old" / "archive").write_bytes(
        b"From hanako@example.com Mon Jun 18 10:00:00 2012\n" + _mail(2)
    )


def _dbx(tree: Path) -> None:
    folder = tree / "Outlook Express"
    folder.mkdir(parents=True)
    (folder / "Inbox.dbx").write_bytes(message_dbx([DbxMessage(_mail(1)), DbxMessage(_mail(2))]))


def _logs(tree: Path) -> None:
    (tree / "log").mkdir(parents=True)
    write_log(tree / "log", "postfix", keep_times=True)


def _majordomo(tree: Path) -> None:
    home = tree / "majordomo"
    (home / "lists").mkdir(parents=True)
    (home / "majordomo.cf").write_text('$whereami = "example.edu";\n')
    (home / "lists" / "chat").write_text("ann@example.com\nBob <bob@example.com>\n")
    (home / "lists" / "chat.config").write_text("admin_passwd = x\n")
    (home / "Log").write_text(
        "Dec 30 10:00:00 lists majordomo[100] {ann@example.com} subscribe chat ann@example.com\n"
    )


def _ezmlm(tree: Path) -> None:
    d = tree / "lists" / "test"
    (d / "subscribers").mkdir(parents=True)
    (d / "outlocal").write_text("test\n")
    (d / "outhost").write_text("lists.example.com\n")
    (d / "subscribers" / "@").write_bytes(b"TAnn@example.com\0Tbob@example.com\0")
    (d / "subscribers" / "A").write_bytes(b"Tcy@example.org\0")
    (d / "Log").write_text("1485642996 +manual ann@example.com\n")


SHAPES: dict[str, Callable[[Path], object]] = {
    "majordomo": _majordomo,
    "ezmlm": _ezmlm,
    "maildir": _maildir,
    "mh": _mh,
    "walked-tree": _loose,
    "thunderbird": lambda tree: build_thunderbird(tree / "Thunderbird"),
    "apple-mail": lambda tree: build_apple_mail(tree / "Library"),
    "becky": lambda tree: build_becky(tree / "Becky"),
    "windows-live-mail": lambda tree: build_windows_mail(tree / "Local"),
    "outlook-express": _dbx,
    "postfix-log": _logs,
    "mailman2": lambda tree: build_mailman(tree / "mailman"),
    "fml": lambda tree: build_fml(tree / "fml"),
}


def _gather(tree: Path, ws_path: Path, **kw: object) -> tuple[GatherResult, set[str], set[str], set[str]]:
    """The result, and the sources of copies and evidence, of problems, and the skipped paths."""
    with Workspace(ws_path) as ws:
        result = gather(ws, [str(tree)], account=ACCOUNT, list_address="dev@example.com", **kw)  # type: ignore[arg-type]
        found = {s for (s,) in ws.db.execute("SELECT source FROM copies UNION SELECT source FROM evidence")}
        problems = {s for (s,) in ws.db.execute("SELECT source FROM problems")}
        skipped = {s for (s,) in ws.db.execute("SELECT path FROM skipped")}
    return result, found, problems, skipped


def unaccounted(tree: Path, found: set[str], problems: set[str], skipped: set[str]) -> list[str]:
    """Regular files under ``tree`` that gave no copy or evidence, no problem and no skip."""
    files = [os.path.join(d, n) for d, _, names in os.walk(tree) for n in names]
    regular = [storable(f) for f in files if os.path.isfile(f) and not os.path.islink(f)]  # as stored
    return sorted(f for f in regular if f not in found and f not in problems and f not in skipped)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_file_of_a_store_and_beside_it_is_accounted_for(tmp_path: Path, shape: str) -> None:
    tree = tmp_path / "tree"
    SHAPES[shape](tree)
    (tree / "notes").mkdir(exist_ok=True)
    (tree / "notes" / "todo.txt").write_text("call the provider\n")  # no plugin's kind of file
    result, found, problems, skipped = _gather(tree, tmp_path / "ws")
    assert result.copies + result.evidence > 0
    assert unaccounted(tree, found, problems, skipped) == []
    assert str(tree / "notes" / "todo.txt") in skipped


def _replace_with_link(victim: Path, outside: Path) -> Path:
    """Move ``victim`` (a file or folder) outside the tree and leave a link to it in its place."""
    target = outside / victim.name
    outside.mkdir(parents=True, exist_ok=True)
    shutil.move(str(victim), str(target))
    victim.symlink_to(target, target_is_directory=target.is_dir())
    return target


@pytest.mark.parametrize("link", ["file", "folder"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_link_out_of_a_store_is_reported_never_followed(tmp_path: Path, shape: str, link: str) -> None:
    tree = tmp_path / "tree"
    SHAPES[shape](tree)
    _, found, _, _ = _gather(tree, tmp_path / "ws-before")
    read = sorted(f for f in found if f.startswith(str(tree) + os.sep) and os.path.isfile(f))
    assert read, "the plugin read no file of its store"
    victim = Path(read[0]) if link == "file" else Path(read[0]).parent
    if victim == tree:
        pytest.skip("the store's files lie at the top of the tree")
    target = _replace_with_link(victim, tmp_path / "outside")
    before = snapshot(tmp_path / "outside")

    result, found, problems, skipped = _gather(tree, tmp_path / "ws")

    inside_link = [f for f in found if f == str(victim) or f.startswith(str(victim) + os.sep)]
    assert inside_link == [] and not any(f.startswith(str(tmp_path / "outside")) for f in found)
    named = [p for p in result.problems if p.source == str(victim)]
    assert [p.kind for p in named] == [ProblemKind.UNREADABLE], result.problems
    assert f"symbolic link to {target}" in named[0].reason
    assert result.serious
    assert snapshot(tmp_path / "outside") == before
    assert unaccounted(tree, found, problems, skipped) == []


def test_etc_passwd_linked_into_a_maildir_is_not_restored(tmp_path: Path) -> None:
    """The issue's own case, through the command line: gather exits 3 naming the link, and
    the restore holds the real message only."""
    import subprocess
    import sys

    _maildir(tmp_path / "tree")
    secret = tmp_path / "other-customer"
    secret.write_bytes(b"From: x@example.net\nSubject: someone else's mail\n\nSECRET\n")
    link = tmp_path / "tree" / "Maildir" / "cur" / "2:2,S"
    link.symlink_to(secret)
    ws = tmp_path / "ws"
    run = [sys.executable, "-m", "mailrecover", "--workspace", str(ws)]
    gathered = subprocess.run(
        [*run, "gather", "--account", ACCOUNT, str(tmp_path / "tree")], capture_output=True, text=True
    )
    assert gathered.returncode == 3, gathered.stderr
    assert (
        f"unreadable: {link}: symbolic link to {secret}, outside the gathered location: not followed"
        in gathered.stderr
    )
    assert "3 problems" not in gathered.stdout and "0 files skipped" in gathered.stdout
    restored = subprocess.run(
        [*run, "restore", "--account", ACCOUNT, "--to", f"maildir:{tmp_path / 'out'}"],
        capture_output=True,
        text=True,
    )
    assert restored.returncode in (0, 3), restored.stderr
    data = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert b"SECRET" not in data and data.count(b"Message-ID: <walk-") == 3


def test_links_that_stay_inside_are_read_once_by_their_own_name(tmp_path: Path) -> None:
    _maildir(tmp_path / "tree")
    cur = tmp_path / "tree" / "Maildir" / "cur"
    (cur / "again:2,S").symlink_to(cur / "1340000001.1.host:2,S")
    (tmp_path / "tree" / "Maildir-too").symlink_to(tmp_path / "tree" / "Maildir", target_is_directory=True)
    result, found, problems, skipped = _gather(tmp_path / "tree", tmp_path / "ws")
    assert result.copies == 3
    links = sorted((os.path.basename(p.source), p.kind) for p in result.problems)
    assert links == [("Maildir-too", ProblemKind.SKIPPED), ("again:2,S", ProblemKind.SKIPPED)]
    assert all("(read under its own name)" in p.reason for p in result.problems)
    assert not result.serious


def test_fifos_sockets_and_dangling_links_are_named(tmp_path: Path) -> None:
    import socket

    _maildir(tmp_path / "tree")
    os.mkfifo(tmp_path / "tree" / "Maildir" / "cur" / "fifo")
    os.mkfifo(tmp_path / "tree" / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "tree" / "sock"))
        (tmp_path / "tree" / "gone").symlink_to(tmp_path / "tree" / "nothing-here")
        result, found, problems, skipped = _gather(tmp_path / "tree", tmp_path / "ws")
    reasons = {os.path.basename(p.source): (p.kind, p.reason) for p in result.problems}
    assert reasons == {
        "fifo": (ProblemKind.SKIPPED, "a fifo, not a file: not read"),
        "pipe": (ProblemKind.SKIPPED, "a fifo, not a file: not read"),
        "sock": (ProblemKind.SKIPPED, "a socket, not a file: not read"),
        "gone": (
            ProblemKind.UNREADABLE,
            f"symbolic link to {tmp_path / 'tree' / 'nothing-here'}, which does not exist: not followed",
        ),
    }
    assert result.copies == 3


def test_a_companion_outside_the_location_is_read_only_by_its_real_name(tmp_path: Path) -> None:
    """What a store names beside it (a log's rotation) is read; the same through a link is not."""
    from mailrecover.readonly import NotFollowed, confined, read_head

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "mail.log").write_text("x\n")
    (tmp_path / "logs" / "mail.log.1").write_text("y\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret").write_text("z\n")
    (tmp_path / "logs" / "mail.log.2").symlink_to(tmp_path / "elsewhere" / "secret")
    with confined(str(tmp_path / "logs" / "mail.log")):
        assert read_head(tmp_path / "logs" / "mail.log.1", 10) == b"y\n"
        with pytest.raises(NotFollowed) as outside:
            read_head(tmp_path / "elsewhere" / "secret", 10)
        with pytest.raises(NotFollowed) as through:
            read_head(tmp_path / "logs" / "mail.log.2", 10)
    assert outside.value.errno == errno.EXDEV and "outside the gathered location" in outside.value.strerror
    assert through.value.strerror == f"symbolic link to {tmp_path / 'elsewhere' / 'secret'}: not followed"


def _failing_open(monkeypatch: pytest.MonkeyPatch, failures: dict[str, OSError]) -> None:
    """Make ``os.open`` fail for the given paths, as the kernel would.

    The tests run as root, whom permission bits do not stop, and a real I/O error needs a
    failing disk: the lowest call every source open goes through is made to fail instead,
    with the errno the kernel gives (EACCES, EIO), so everything above it runs as it would."""
    real_open = os.open

    def fake(path: object, flags: int, *args: object, **kw: object) -> int:
        failure = failures.get(os.fspath(path) if isinstance(path, (str, os.PathLike)) else "")  # type: ignore[arg-type]
        if failure is not None:
            raise failure
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake)


def test_unreadable_files_are_problems_with_their_reason(tmp_path, monkeypatch, capsys) -> None:
    from mailrecover.cli import main

    tree = tmp_path / "tree"
    _maildir(tree)
    _loose(tree)
    (tree / "notes").mkdir()
    denied, broken = tree / "notes" / "private.dat", tree / "Maildir" / "cur" / "1340000009.9.host:2,S"
    in_walk = tree / "saved" / "two.eml"
    for path in (denied, broken, in_walk):
        path.write_bytes(_mail(9))
    _failing_open(
        monkeypatch,
        {
            str(denied): PermissionError(errno.EACCES, "Permission denied", str(denied)),
            str(broken): OSError(errno.EIO, "Input/output error", str(broken)),
            str(in_walk): OSError(errno.EIO, "Input/output error", str(in_walk)),
        },
    )
    code = main(["--workspace", str(tmp_path / "ws"), "gather", "--account", ACCOUNT, str(tree)])
    err = capsys.readouterr().err
    assert code == 3
    assert f"mailrecover: unreadable: {denied}: cannot read: Permission denied" in err
    assert f"mailrecover: unreadable: {broken}: cannot read: Input/output error" in err
    assert f"mailrecover: unreadable: {in_walk}: cannot read: Input/output error" in err
    with Workspace(tmp_path / "ws") as ws:
        skipped = {p for (p,) in ws.db.execute("SELECT path FROM skipped")}
        found = {s for (s,) in ws.db.execute("SELECT source FROM copies")}
        problems = {s for (s,) in ws.db.execute("SELECT source FROM problems")}
    assert len(found) == 5
    assert not skipped & {str(denied), str(broken), str(in_walk)}
    assert unaccounted(tree, found, problems, skipped) == []


def test_the_summary_counts_copies_problems_and_skipped(tmp_path) -> None:
    import subprocess
    import sys

    tree = tmp_path / "tree"
    _maildir(tree)
    (tree / "Maildir" / "dovecot-uidlist").write_text("3 V1 N4\n")
    (tree / "Maildir" / "cur" / "secret").symlink_to("/etc/passwd")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailrecover",
            "--workspace",
            str(tmp_path / "ws"),
            "gather",
            "--account",
            ACCOUNT,
            str(tree),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 3
    assert run.stdout.splitlines()[0] == (
        "gathered 3 copies (3 new) and 0 evidence records from 1 store; 1 problem; "
        "1 file skipped (-v lists them)"
    )


def _tb_mbox(n: int) -> bytes:
    return b"From - Mon Jun 18 10:00:00 2012\nX-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\n" + _mail(
        n
    )


def _folders(tree: Path, ws_path: Path, location: Path | None = None) -> dict[str, str]:
    """Folder of each file's copy; every file under the location accounted for on the way."""
    with Workspace(ws_path) as ws:
        gather(ws, [str(location or tree)], account=ACCOUNT)
        found = {s for (s,) in ws.db.execute("SELECT source FROM copies")}
        problems = {s for (s,) in ws.db.execute("SELECT source FROM problems")}
        skipped = {s for (s,) in ws.db.execute("SELECT path FROM skipped")}
        rows = ws.db.execute("SELECT source, folder FROM copies").fetchall()
    folders = {Path(s).relative_to(tree).as_posix(): f for s, f in rows}
    assert unaccounted(location or tree, found, problems, skipped) == []
    return folders


def test_loose_thunderbird_mbox_files_are_folders_named_after_them(tmp_path: Path) -> None:
    """Outside Mail/ and ImapMail/, without .msf files: each file is its own folder."""
    tree = tmp_path / "tree"
    (tree / "backup").mkdir(parents=True)
    for i, name in enumerate(("Archive2011", "Work", "Inbox"), 1):
        (tree / "backup" / name).write_bytes(_tb_mbox(i))
    (tree / "Sent").write_bytes(_tb_mbox(4))
    assert _folders(tree, tmp_path / "ws") == {
        "backup/Archive2011": "backup/Archive2011",
        "backup/Work": "backup/Work",
        "backup/Inbox": "backup/Inbox",
        "Sent": "Sent",
    }
    assert _folders(tree, tmp_path / "ws-file", tree / "Sent") == {"Sent": "Sent"}


@pytest.mark.parametrize("named", ["tree", "Inbox.sbd"])
def test_a_subfolder_of_inbox_stays_under_inbox(tmp_path: Path, named: str) -> None:
    tree = tmp_path / "tree"
    (tree / "Inbox.sbd" / "Projects.sbd").mkdir(parents=True)
    (tree / "Inbox.sbd" / "Projects").write_bytes(_tb_mbox(1))
    (tree / "Inbox.sbd" / "Projects.sbd" / "2012").write_bytes(_tb_mbox(2))
    (tree / "Inbox.sbd" / "Projects.msf").write_bytes(b'// <!-- <mdb:mork:z v="1.4"/> -->\n')
    location = tree if named == "tree" else tree / "Inbox.sbd"
    assert _folders(tree, tmp_path / "ws", location) == {
        "Inbox.sbd/Projects": "INBOX/Projects",
        "Inbox.sbd/Projects.sbd/2012": "INBOX/Projects/2012",
    }


def test_files_beside_a_thunderbird_sbd_are_read_by_the_walk(tmp_path: Path) -> None:
    """Issue 24 item 9: a directory holding Inbox.sbd/ is Thunderbird's, and what lies beside
    it is still read (seven mail files, seven copies), each in its own place's folder."""
    tree = tmp_path / "tree"
    (tree / "Inbox.sbd").mkdir(parents=True)
    (tree / "old").mkdir()
    (tree / "Inbox").write_bytes(_tb_mbox(1))
    (tree / "Inbox.sbd" / "Projects").write_bytes(_tb_mbox(2))
    (tree / "Inbox.sbd" / "Work").write_bytes(_tb_mbox(3))
    (tree / "saved.eml").write_bytes(_mail(4))
    (tree / "archive.txt").write_bytes(b"From hanako@example.com Mon Jun 18 10:00:00 2012\n" + _mail(5))
    (tree / "old" / "saved").write_bytes(b"From hanako@example.com Mon Jun 18 10:00:00 2012\n" + _mail(6))
    (tree / "old" / "note.eml").write_bytes(_mail(7))
    (tree / "Inbox.msf").write_bytes(b'// <!-- <mdb:mork:z v="1.4"/> -->\n')
    result, found, problems, skipped = _gather(tree, tmp_path / "ws")
    assert (result.copies, result.problems) == (7, [])
    assert _folders(tree, tmp_path / "ws-2") == {
        "Inbox": "INBOX",
        "Inbox.sbd/Projects": "INBOX/Projects",
        "Inbox.sbd/Work": "INBOX/Work",
        "saved.eml": "INBOX",
        "archive.txt": "archive.txt",
        "old/saved": "old/saved",
        "old/note.eml": "old",
    }
    assert skipped == {str(tree / "Inbox.msf")}
    assert unaccounted(tree, found, problems, skipped) == []


def test_a_folder_a_store_names_outside_the_location_is_not_read(tmp_path: Path) -> None:
    """Not only links: a path written inside a store (a Thunderbird prefs.js naming an account
    folder elsewhere on the machine, another customer's) is not read; the problem names it,
    so the administrator can gather it knowingly."""
    profile = tmp_path / "tree" / "x.default"
    (profile / "Mail" / "Local Folders").mkdir(parents=True)
    (profile / "Mail" / "Local Folders" / "Inbox").write_bytes(_tb_mbox(1))
    elsewhere = tmp_path / "elsewhere" / "Local Folders"
    elsewhere.mkdir(parents=True)
    (elsewhere / "Inbox").write_bytes(_tb_mbox(2))
    (elsewhere / "Inbox.msf").write_bytes(b"")
    (profile / "prefs.js").write_text(
        'user_pref("mail.account.account1.server", "server1");\n'
        'user_pref("mail.account.account2.server", "server2");\n'
        'user_pref("mail.accountmanager.accounts", "account1,account2");\n'
        'user_pref("mail.server.server1.directory-rel", "[ProfD]Mail/Local Folders");\n'
        'user_pref("mail.server.server1.type", "none");\n'
        f'user_pref("mail.server.server2.directory", "{elsewhere}");\n'
        'user_pref("mail.server.server2.type", "pop3");\n'
    )
    result, found, problems, skipped = _gather(tmp_path / "tree", tmp_path / "ws")
    assert found == {str(profile / "Mail" / "Local Folders" / "Inbox")}
    assert [(p.source, p.reason) for p in result.problems] == [
        (str(elsewhere), f"cannot list: outside the gathered location {tmp_path / 'tree'}: not read")
    ]
    assert unaccounted(tmp_path / "tree", found, problems, skipped) == []


def test_what_a_store_leaves_out_on_purpose_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """A mail file inside a part of a store its plugin leaves out (an attachment Apple Mail
    keeps apart, a Windows Mail backup, Thunderbird's Windows Search copies) is listed as
    skipped with the reason, not read as mail a second time."""
    tree = tmp_path / "tree"
    apple = build_apple_mail(tree / "Library")
    attachments = next((tree / "Library").rglob("Attachments"))
    (attachments / "999" / "2").mkdir(parents=True)
    (attachments / "999" / "2" / "forwarded.eml").write_bytes(_mail(8))
    live = build_windows_mail(tree / "Local").live
    (live / "Backup" / "new").mkdir(parents=True, exist_ok=True)
    (live / "Backup" / "new" / "old.eml").write_bytes(_mail(9))
    account = tree / "Mail" / "Local Folders"
    account.mkdir(parents=True)
    (account / "Inbox").write_bytes(_tb_mbox(10))
    (account / "Inbox.msf").write_bytes(b"")
    (account / "Inbox.mozmsgs").mkdir()
    (account / "Inbox.mozmsgs" / "10.eml").write_bytes(_mail(10))
    result, found, problems, skipped = _gather(tree, tmp_path / "ws")
    assert result.why_skipped[str(account / "Inbox.mozmsgs" / "10.eml")].startswith("Thunderbird's copies")
    assert result.why_skipped[str(attachments / "999" / "2" / "forwarded.eml")] == (
        "Apple Mail's attachments kept apart from their messages"
    )
    assert result.why_skipped[str(live / "Backup" / "new" / "old.eml")].startswith(
        "Windows Mail's own backup"
    )
    assert not any("forwarded.eml" in f or "old.eml" in f for f in found)
    assert apple.attachment and unaccounted(tree, found, problems, skipped) == []


@pytest.mark.parametrize("root", ["/", "{tmp}", "{tmp}/store", "{tmp}/linked"])
def test_where_a_read_file_must_be_is_its_place_below_the_real_root(tmp_path: Path, root: str) -> None:
    """The confinement's expected place of each file it may read: the root's real path with
    the file's path below the root, for the root itself, files deep below it, a companion
    outside it and a file beside it; nothing for a file elsewhere."""
    from mailrecover.readonly import Confinement

    (tmp_path / "store" / "a" / "b").mkdir(parents=True)
    (tmp_path / "linked").symlink_to(tmp_path / "store")
    root = root.format(tmp=tmp_path)
    scope = Confinement(root)
    real = os.path.realpath(root)
    below = [root, os.path.join(root, "f"), os.path.join(root, "a", "b", "message.eml")]
    for path in below:
        assert scope.expected(path) == (
            real if path == root else os.path.join(real, os.path.relpath(path, root))
        )
    if root == "/":
        return
    beside, elsewhere = os.path.join(os.path.dirname(root), "prefs.js"), "/elsewhere-than-any-root/x"
    scope.companions.add(str(tmp_path / "companion" / "db"))
    assert scope.expected(beside) == os.path.join(os.path.realpath(os.path.dirname(root)), "prefs.js")
    assert scope.expected(str(tmp_path / "companion" / "db")) == os.path.join(
        os.path.realpath(tmp_path), "companion", "db"
    )
    assert scope.expected(elsewhere) is None
    assert scope.expected(root + "-sibling/x") is None
