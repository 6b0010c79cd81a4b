"""The command line: arguments in, calls into the core, errors out as exit statuses.

Exit status: 0 done; 1 failed, nothing changed; 2 bad usage; 3 done, with problems
reported (unreadable inputs, quarantined mail).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import io
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import __version__
from .clean import is_addr_spec, json_safe, terminal_safe, write_csv
from .errors import MailRecoverError, OperationError, UsageError
from .model import Problem, ProblemKind
from .passwords import password_source, without_password
from .progress import Progress
from .words import counted, size_text
from .workspace import Workspace, default_workspace_path

if TYPE_CHECKING:
    from .imapconn import ConnectionSettings
    from .resolicit import Draft

# Each command imports the modules it runs when it runs (a restore loads neither the list,
# report nor plugin modules): start-up is paid by every command, the shortest included.

__all__ = ["main"]

DONE, FAILED, USAGE, PROBLEMS = 0, 1, 2, 3

#: Commands that load the plugins: each names the plugins that could not be loaded.
_PLUGIN_USERS = {"plugins", "discover", "gather"}

#: Commands that only read the workspace: they also run on a read-only one, or beside a writer.
_READERS = {"report", "members", "verify", "export-items"}


class _ExportFormats:
    """``members --format``'s choices, loaded from ``members`` only when argparse checks or shows
    them: every other command parses without importing the list modules."""

    def __iter__(self) -> Iterator[str]:
        from .members import ExportFormat

        return iter([f.value for f in ExportFormat])

    def __contains__(self, value: object) -> bool:
        return value in list(self)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


_EXIT_TEXT = """\
exit status:
  0  done
  1  failed, nothing changed
  2  bad usage: a wrong option, an account or workspace that does not exist, a password
     inside a URL, or the workspace in use by another process
  3  done, with problems reported (unreadable inputs, a list file without --list,
     quarantined mail, problems listed by report, a folder the IMAP server refused,
     addresses left out of an export)"""


def _global_options(p: argparse.ArgumentParser, *, after: bool) -> None:
    """The options every command takes, before or after its name (after it, an option given
    nowhere keeps the value from before: argparse's SUPPRESS leaves it unset there)."""
    g = p.add_argument_group("global options (also before COMMAND)") if after else p
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    g.add_argument(
        "--workspace", metavar="DIR", help="recovery job folder (or MAILRECOVER_WORKSPACE)", **unset
    )
    g.add_argument(
        "--json",
        action="store_true",
        help="print one machine-readable result on standard output, errors included",
        **unset,
    )
    g.add_argument(
        "--password-file",
        metavar="FILE",
        help="IMAP password from this file (mode 0600); else MAILRECOVER_PASSWORD or a prompt",
        **unset,
    )
    g.add_argument(
        "--ca-file",
        metavar="FILE",
        help="trust IMAP servers whose certificate this CA signed (or MAILRECOVER_CA_FILE)",
        **unset,
    )
    g.add_argument(
        "--admin-user",
        metavar="NAME",
        help="IMAP: log in as this admin (master user) acting as the URL's user; the password "
        "asked for is the admin's",
        **unset,
    )
    g.add_argument(
        "--oauth-token-file",
        metavar="FILE",
        help="IMAP: log in by OAuth (OAUTHBEARER or XOAUTH2) with the access token in FILE (mode 0600)",
        **unset,
    )
    g.add_argument(
        "--oauth-token-command",
        metavar="CMD",
        help="IMAP: the same with the token CMD prints; run again when the server refuses it",
        **unset,
    )
    g.add_argument(
        "-v", "--verbose", action="store_true", help="say more: skipped files, where discover looked", **unset
    )
    g.add_argument(
        "-q", "--quiet", action="store_true", help="only errors and the result line, no progress", **unset
    )


def _command(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    c: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 78),
        epilog=_EXIT_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(c, after=True)
    return c


def _parser() -> argparse.ArgumentParser:
    where = default_workspace_path()
    p = _Parser(
        prog="mailrecover",
        description=textwrap.fill(
            "Bring lost mail back: gather every surviving copy into a workspace, merge "
            "them per account, check ownership, restore.",
            78,
        ),
        epilog=f"{_EXIT_TEXT}\n\ndefault workspace: {where}\n  (--workspace DIR or MAILRECOVER_WORKSPACE "
        "choose another; only gather creates one)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"mailrecover {__version__}")
    _global_options(p, after=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    _command(sub, "plugins", "list plugins", "List the plugins that read mail stores, logs and list files.")
    _command(
        sub,
        "discover",
        "list mail stores found on this machine",
        "List mail stores in the usual places of every mail client, rooted at HOME, APPDATA and "
        "LOCALAPPDATA (point them at a copied home to search it); -v says where it looked.",
    )

    g = _command(
        sub,
        "gather",
        "read mail stores, IMAP accounts and logs into the workspace",
        "Read each LOCATION (a file, a folder to walk, an imap[s]:// URL) into the workspace, "
        "creating the workspace if needed. Folder names come from the store's own folders, "
        "under the path from LOCATION down to the store: gather a store itself to keep its "
        "folders at the top. Gathering again adds nothing twice.",
    )
    g.add_argument(
        "--account",
        metavar="ADDR",
        default="",
        help="whose mailbox these locations hold (a mail address); without it copies go under no account",
    )
    g.add_argument(
        "--alias",
        metavar="ADDR",
        action="append",
        default=[],
        help="another address of the account (old domain, info@ delivered to it); repeatable",
    )
    g.add_argument(
        "--list",
        metavar="ADDR",
        default="",
        dest="list_address",
        help="the mailing list these list-manager files belong to",
    )
    g.add_argument(
        "--plugin", metavar="NAME", help="read with this plugin instead of detecting (see 'plugins')"
    )
    g.add_argument(
        "--log-timezone",
        metavar="ZONE",
        help="the mail server's zone for log times that name none, e.g. Asia/Tokyo or +09:00 "
        "(or MAILRECOVER_LOG_TZ; default: this machine's)",
    )
    g.add_argument(
        "--by-owner",
        action="store_true",
        help="a mixed-up area: file each copy under the accounts its delivery evidence names",
    )
    g.add_argument(
        "--accounts",
        metavar="FILE",
        help="with --by-owner: the job's accounts, one a line, aliases after it (default: the workspace's)",
    )
    g.add_argument(
        "locations",
        nargs="+",
        metavar="LOCATION",
        help="path or imap[s]://user@host/ URL (no password in it)",
    )

    r = _command(
        sub,
        "report",
        "what was found, merged, held back and restored",
        "Show per account the copies found, messages, folders (as restore places them), "
        "quarantined mail, problems and restores; exit 3 when it lists problems, "
        "quarantined mail or copies a sort by owner left unassigned.",
    )
    r.add_argument("--account", metavar="ADDR", help="only this account (one the workspace holds)")
    r.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report (0600)")
    r.add_argument(
        "--draft-resend-requests",
        metavar="DIR",
        help="with --account: one .eml per sender of lost mail asking them to resend (never sent)",
    )
    r.add_argument(
        "--template", metavar="FILE", help="your own resend request text (placeholders: see README)"
    )
    r.add_argument(
        "--senders",
        action="store_true",
        help="CSV of who sent the account mail the logs show and no copy holds",
    )

    s = _command(
        sub,
        "restore",
        "write an account's merged mail to a new home",
        "Write the account's merged, checked messages to TARGET, each once; a rerun "
        "writes only what is not there yet.",
    )
    s.add_argument(
        "--account", metavar="ADDR", required=True, help="whose mail to restore (one the workspace holds)"
    )
    s.add_argument(
        "--to",
        metavar="TARGET",
        required=True,
        dest="target",
        help="maildir:PATH, mbox:PATH or imap[s]://user@host/",
    )
    s.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    s.add_argument(
        "--folder",
        metavar="PATTERN",
        action="append",
        default=[],
        dest="folders",
        help="only folders matching this glob (and their subfolders); repeatable",
    )
    s.add_argument(
        "--exclude-folder",
        metavar="PATTERN",
        action="append",
        default=[],
        dest="excluded",
        help="leave out folders matching this glob (and their subfolders); repeatable",
    )
    s.add_argument("--since", metavar="DATE", help="only mail that arrived on or after DATE (2012-06-01)")
    s.add_argument("--before", metavar="DATE", help="only mail that arrived before DATE")
    s.add_argument(
        "--folder-map",
        metavar="FROM=TO",
        action="append",
        default=[],
        dest="folder_maps",
        help="rename folders: a regular expression on the folder path and its replacement (\\1 for "
        "a group); repeatable, applied in order",
    )
    s.add_argument("--under", metavar="PREFIX", help="put every folder below PREFIX (e.g. Recovered/2012)")
    s.add_argument(
        "--connections",
        metavar="N",
        type=_connections,
        help="IMAP: at most N upload connections besides the main one (default 4)",
    )
    s.add_argument(
        "--max-rate",
        metavar="RATE",
        type=_rate,
        help="IMAP: upload at most RATE bytes per second over all connections (500K, 2M)",
    )
    s.add_argument(
        "--include-quarantined",
        action="store_true",
        help="also restore mail delivered to other mailboxes, knowingly",
    )
    s.add_argument(
        "--alias",
        metavar="ADDR",
        action="append",
        default=[],
        help="another address of the account, kept for later runs; repeatable",
    )

    _command(
        sub,
        "verify",
        "check the workspace (database, every stored copy) and the targets restored to",
        "Check the workspace's database, every stored copy against its SHA-256, and every local "
        "target restored to against the restore journal; exit 3 when something is damaged or missing.",
    )

    b = _command(
        sub,
        "batch",
        "many accounts in one job: gather, sort, merge, check and restore each",
        "Run every account of a manifest (TOML): sort the mixed-up areas by owner once, then gather, "
        "merge, check and restore each account in its own workspace under the job folder, in "
        "parallel; exit 3 when any account ended with problems or copies are unassigned.",
    )
    b.add_argument(
        "manifest",
        metavar="MANIFEST.toml",
        help="the job: [job] workspace and mixed areas, one [[account]] each",
    )
    b.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the accounts on a Dask distributed cluster (default: a process pool here)",
    )
    b.add_argument(
        "--dry-run", action="store_true", help="check the manifest and show the plan, write nothing"
    )

    m = _command(
        sub,
        "members",
        "mailing-list members rebuilt from every surviving trace",
        "Without --list: every list found with its member counts. With --list: its members "
        "as CSV with evidence, or in a list manager's input format.",
    )
    m.add_argument("--list", metavar="ADDR", dest="list_address", help="the list to export")
    m.add_argument(
        "--format",
        choices=_ExportFormats(),
        help="csv (default: every address, with its evidence) or a list manager's input format",
    )
    m.add_argument(
        "--uncertain",
        action="store_true",
        help="list the addresses whose status rests on weak or old evidence, with why",
    )
    m.add_argument(
        "--draft-invitations",
        metavar="DIR",
        help="write one .eml per uncertain address asking them to confirm (never sent)",
    )
    m.add_argument("--all", action="store_true", help="with --draft-invitations: every current member too")
    m.add_argument("--template", metavar="FILE", help="your own invitation text (placeholders: see README)")
    m.add_argument(
        "--from",
        metavar="ADDR",
        dest="sender",
        default="",
        help="the drafts' sender (default: the list's owner)",
    )
    m.add_argument(
        "--output",
        metavar="DIR",
        help="write the list manager's files there, digest and delivery-off members apart",
    )
    x = _command(
        sub,
        "export-items",
        "an account's Outlook contacts (vCard) and calendar items (iCalendar)",
        "Write the contacts and distribution lists gathered for the account as one vCard 4.0 file "
        "per folder (DIR/<folder>.vcf) and its calendar items as iCalendar (DIR/<folder>.ics); "
        "existing files are never overwritten.",
    )
    x.add_argument("--account", required=True, metavar="ADDR", help="whose items to write")
    x.add_argument("directory", metavar="DIR", help="the folder to write the files into")
    return p


def _connections(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number from 1 to 64")
    return int(text)


def _rate(text: str) -> int:
    from .throttle import parse_rate

    try:
        return parse_rate(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--max-rate ")) from None


def _jobs() -> int | None:
    """``MAILRECOVER_JOBS``: processes that fingerprint copies (default: one per core)."""
    text = os.environ.get("MAILRECOVER_JOBS", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"MAILRECOVER_JOBS={text!r}: expected a whole number of processes, 1 or more")
    return int(text)


def _log_timezone(option: str | None) -> tzinfo | None:
    """``--log-timezone`` or ``MAILRECOVER_LOG_TZ``: an IANA name or a ``+HH:MM`` offset."""
    text = (option or os.environ.get("MAILRECOVER_LOG_TZ", "")).strip()
    if not text or text.lower() == "local":
        return None
    offset = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d\d):?(\d\d)", text)
    if offset:
        sign = -1 if offset[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3])))
    try:
        return ZoneInfo(text)
    except (ValueError, ZoneInfoNotFoundError):
        raise UsageError(
            f"log time zone {text!r}: expected a zone name like Asia/Tokyo or an offset like +09:00"
        ) from None


def _connection(args: argparse.Namespace) -> ConnectionSettings:
    """How IMAP connections are made: the environment's settings, the options first."""
    from .imapconn import ConnectionSettings  # (the IMAP modules load only where IMAP is used)

    settings = ConnectionSettings.from_environ()
    if args.ca_file:
        settings = replace(settings, ca_file=os.path.abspath(args.ca_file))
    if args.admin_user:
        settings = replace(settings, admin_user=args.admin_user)
    if args.oauth_token_file or args.oauth_token_command:
        settings = replace(
            settings,
            oauth_token_command=args.oauth_token_command,
            oauth_token_file=args.oauth_token_file and os.path.abspath(args.oauth_token_file),
        )
    return settings


def _say(lines: str | list[str], *, err: bool = False, end: str = "\n") -> None:
    """The one way text reaches the user: every line through ``terminal_safe``, since names,
    folders, addresses and paths in it come from sources and may hold terminal escapes.

    A list holds lines, each shown as one line whatever it holds (a folder name's newline
    cannot forge a line); a string's own line breaks are layout mailrecover made (a report,
    an export, JSON), its fields cleaned where they were put in.
    """
    stream = sys.stderr if err else sys.stdout
    text = "\n".join(terminal_safe(line) for line in (lines.split("\n") if isinstance(lines, str) else lines))
    try:
        stream.write(text + end)
        stream.flush()  # a reader that left (``| head``) is found here, not in a traceback at exit
    except BrokenPipeError:
        _reader_gone(stream)


def _reader_gone(stream: Any) -> None:
    """The reader of ``stream`` went away: the rest of the output goes nowhere, and the command
    finishes with its own exit status (the Python docs' advice for SIGPIPE: point the stream at
    devnull, so the flush at exit cannot raise again)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def _emit(args: argparse.Namespace, data: Any, text: str | list[str]) -> None:
    if args.json:
        _say(json_safe(json.dumps(data, ensure_ascii=False, indent=2, default=str)))
    elif text:
        _say(text)


def _problem_line(p: Problem) -> str:
    where = p.source + (f" @{p.position}" if p.position else "")
    return terminal_safe(f"mailrecover: {p.kind.value}: {where}: {p.reason}")


def _show_problems(problems: list[Problem]) -> int:
    """Problem lines on standard error; the exit status they make."""
    for p in problems:
        _say([_problem_line(p)], err=True)
    return PROBLEMS if problems else DONE


def _problem_data(p: Problem) -> dict[str, str]:
    return {"kind": p.kind.value, "source": p.source, "position": p.position, "reason": p.reason}


def _warn_not_loaded() -> None:
    """One line per plugin skipped because it could not be loaded; the command goes on."""
    from .plugin import not_loaded

    for skipped in not_loaded():
        _say(
            [f"mailrecover: plugin {skipped.name} not loaded ({skipped.target}): {skipped.reason}"], err=True
        )


def _account_name(account: str) -> str:
    return account or "(none given)"


def _known_account(
    ws: Workspace, account: str, *, logs_count: bool = False, also: Sequence[str] = ()
) -> None:
    """Refuse an account the workspace does not know (a typo must not restore nothing, exit 0),
    naming the known ones closest first; for a report, one the mail logs name is known too;
    ``also``: accounts known by something other than copies."""
    from .inventory import named_in_logs

    known = sorted({*ws.accounts(), *also})
    if account in known or (logs_count and named_in_logs(ws.db, account)):
        return
    closest = difflib.get_close_matches(account, known, n=max(1, len(known)), cutoff=0.0)
    closest += [a for a in known if a not in closest]
    held = (
        f"it holds: {', '.join(_account_name(a) for a in closest)}"
        if known
        else "it holds no account's mail yet"
    )
    raise UsageError(f"account {account} is not in the workspace; {held}")


def _refuse_password_in_url(option: str, location: str) -> None:
    """A password inside a URL is a usage error before anything runs, shown without it."""
    shown = without_password(location)
    if shown != location:
        raise UsageError(
            f"{option} {shown}: a password does not belong in the URL (it would show in ps and shell "
            "history); give it through MAILRECOVER_PASSWORD, --password-file FILE or the prompt"
        )


def _cmd_plugins(args: argparse.Namespace) -> int:
    from .plugin import load_plugins, not_loaded

    plugins = load_plugins()
    skipped = not_loaded()
    data = [{"name": n, "description": p.description} for n, p in plugins.items()]
    width = max((len(n) for n in [*plugins, *(s.name for s in skipped)]), default=0)
    _emit(
        args,
        data,
        [f"{n:<{width}}  {p.description}" for n, p in plugins.items()]
        + [f"{s.name:<{width}}  not loaded: {s.reason}" for s in skipped],
    )
    return DONE


def _cmd_discover(args: argparse.Namespace) -> int:
    from .places import roots
    from .plugin import load_plugins

    if args.verbose and not args.json:
        _say([f"mailrecover: looking under {what} {path}" for what, path in roots().items()], err=True)
    found = []
    for name, plugin in load_plugins().items():
        try:
            stores = list(plugin.discover())
        except Exception as e:
            _say([f"mailrecover: plugin {name} could not look for stores: {e}"], err=True)
            continue
        if args.verbose and not args.json:
            _say([f"mailrecover: plugin {name}: {counted(len(stores), 'store')} found"], err=True)
        found.extend(stores)
    data = [
        {"plugin": s.plugin, "location": s.location, "size": s.size, "hints": list(s.hints)} for s in found
    ]
    lines = [
        f"{s.plugin:<18} {s.location}"
        + (f"  ({size_text(s.size)})" if s.size is not None else "")
        + (f"  [{', '.join(s.hints)}]" if s.hints else "")
        for s in found
    ]
    _emit(args, data, lines or ["no mail stores found in the usual places (-v says where it looked)"])
    return DONE


def _folder_list(folders: dict[str, int], most: int = 8) -> str:
    """A short list of folders with their counts: what a gather made, at a glance."""
    shown = [f"{name} ({counted(n, 'copy')})" for name, n in sorted(folders.items())[:most]]
    more = len(folders) - most
    return ", ".join(shown) + (f" and {more:,} more (report lists all)" if more > 0 else "")


def _cmd_gather(args: argparse.Namespace, ws: Workspace) -> int:
    from .byowner import job_accounts, read_accounts_file
    from .gather import gather, work_size  # its process pool and plugins are for this command only
    from .ownership import add_aliases
    from .report import items_text

    log_timezone = _log_timezone(args.log_timezone)  # a bad zone is refused before anything is written
    bar = Progress(enabled=not args.quiet and not args.json)
    if bar.enabled:  # counting costs a walk: only worth it for someone watching
        bar.total = work_size(args.locations)

    def progress(location: str, copies: int, nbytes: int) -> None:
        bar.show(
            lambda: bar.line(
                "gather", nbytes, size_text, f"{counted(copies, 'copy')}  {os.path.basename(location)}"
            )
        )

    def on_problem(p: Problem) -> None:
        bar.clear()
        if not args.json:
            _say([_problem_line(p)], err=True)

    by_owner = None
    if args.by_owner:
        if args.account or args.alias or args.list_address:
            raise UsageError(
                "gather --by-owner finds each copy's account: give the accounts with --accounts FILE, "
                "not --account, --alias or --list"
            )
        by_owner = job_accounts(ws, read_accounts_file(args.accounts) if args.accounts else None)
    elif args.accounts:
        raise UsageError("--accounts FILE is for gather --by-owner")
    add_aliases(ws, args.account, args.alias)
    result = gather(
        ws,
        args.locations,
        account=args.account,
        list_address=args.list_address,
        plugin=args.plugin,
        password=password_source(args.password_file),
        progress=progress,
        on_problem=on_problem,
        jobs=_jobs(),
        log_timezone=log_timezone,
        connection=_connection(args),
        by_owner=by_owner,
    )
    bar.clear()
    if args.verbose and not args.json:
        for path in result.skipped:
            why = result.why_skipped.get(path, "no plugin reads it")
            _say([f"mailrecover: skipped ({why}): {path}"], err=True)
    data = {
        "account": args.account,
        "stores": result.stores,
        "copies": result.copies,
        "new_copies": result.new_copies,
        "evidence": result.evidence,
        "items": result.items,
        "new_items": result.new_items,
        "folders": result.folders,
        "problems": [_problem_data(p) for p in result.problems],
        "skipped": result.skipped,
        **({"owners": result.owners, "unassigned": result.unassigned} if by_owner is not None else {}),
    }
    lines = [
        f"gathered {counted(result.copies, 'copy')} ({result.new_copies:,} new) and "
        f"{counted(result.evidence, 'evidence record')} from {counted(result.stores, 'store')}; "
        f"{counted(len(result.problems), 'problem')}; {counted(len(result.skipped), 'file')} skipped"
        + (" (-v lists them)" if result.skipped and not args.verbose else "")
    ]
    if not args.quiet:
        if result.folders:
            lines.append(f"  {counted(len(result.folders), 'folder')}: {_folder_list(result.folders)}")
        if result.items:
            lines.append(
                f"  {items_text(result.items)} kept, not mail ({result.new_items:,} new; "
                "export-items writes them as vCard and iCalendar)"
            )
        if result.copies and not args.account and by_owner is None:
            lines.append(
                "  filed under no account ('(none given)' in report): to give them to an account, "
                "gather the same locations again with --account ADDR"
            )
    if by_owner is not None:
        lines.append(
            f"sorted by owner: {counted(sum(result.owners.values()), 'copy')} filed under "
            f"{len(result.owners):,} of {counted(len(by_owner), 'account')}; {result.unassigned:,} unassigned "
            "('report' lists them with their evidence)"
        )
    _emit(args, data, lines)
    return PROBLEMS if result.serious else DONE


def _write_drafts(directory: str, drafts: list[Draft], index: list[list[str]] | None = None) -> None:
    """The drafts into ``directory`` (never over existing files), then the paths written."""
    from .private import write_new_files

    files = {d.name: d.data for d in drafts}
    if index is not None:
        out = io.StringIO()
        write_csv(out, ["address", "token", "file", "reasons"], index)
        files["tokens.csv"] = out.getvalue().encode()
    try:
        written = write_new_files(directory, files)
    except OSError as e:
        raise OperationError(f"cannot write to {directory}: {e.strerror or e}") from e
    _say(
        [f"{len(drafts)} drafts written to {directory} (nothing was sent)"]
        if drafts
        else [f"no drafts to write: nobody to ask; {directory} left as it was"]
        if not written
        else []
    )


def _cmd_report(args: argparse.Namespace, ws: Workspace) -> int:
    from .inventory import logs_gathered, lost_by_sender, write_senders_csv
    from .items import item_accounts
    from .logtimes import correct_log_years
    from .report import render_text, skipped_files, summary
    from .report_html import write_html
    from .resolicit import RESEND_FIELDS, RESEND_TEMPLATE, load_template, resend_requests

    if args.account is not None:
        _known_account(ws, args.account, logs_count=True, also=item_accounts(ws))
    if args.draft_resend_requests:
        if not args.account:
            raise UsageError("report --draft-resend-requests needs --account")
        if not logs_gathered(ws.db):
            raise OperationError(
                "no mail server logs were gathered, so nothing can be called lost: "
                "gather the server's log directory (mailrecover gather /var/log) first"
            )
        correct_log_years(ws.db, ws.accounts())
        template = load_template(args.template, RESEND_FIELDS) if args.template else RESEND_TEMPLATE
        lost = lost_by_sender(ws.db, args.account)
        drafts = resend_requests(args.account, lost, template)
        _write_drafts(args.draft_resend_requests, drafts)
        return DONE
    if args.senders:
        if not args.account:
            raise UsageError("report --senders needs --account")
        if not logs_gathered(ws.db):
            raise OperationError(
                "no mail server logs were gathered, so nothing can be called lost: "
                "gather the server's log directory (mailrecover gather /var/log) first"
            )
        correct_log_years(ws.db, ws.accounts())
        out = io.StringIO()
        left_out = write_senders_csv(ws.db, args.account, out)
        _say(out.getvalue(), end="")
        return _show_problems(left_out)
    data = summary(ws, args.account)
    if args.verbose and not args.json:
        skipped = skipped_files(ws)
        if skipped:
            _say([f"mailrecover: skipped by a gather: {path}" for path in skipped], err=True)
    if args.html:
        try:
            write_html(ws, data, args.html)
        except OSError as e:
            raise OperationError(f"cannot write {args.html}: {e.strerror or e}") from e
        data["html"] = os.path.abspath(args.html)
    text = render_text(data)
    if args.html:
        text += f"\nHTML report written to {os.path.abspath(args.html)}"
    _emit(args, data, text)
    listed = (
        data["problems"] or data["unassigned"] or any(a["quarantined"] for a in data["accounts"].values())
    )
    return PROBLEMS if listed else DONE


def _cmd_restore(args: argparse.Namespace, ws: Workspace) -> int:
    from .restore import restore

    if args.alias and args.account not in ws.accounts():
        raise UsageError(f"--alias: the workspace holds no mail of {args.account!r} to give aliases to")
    _known_account(ws, args.account)
    bar = Progress(enabled=not args.quiet and not args.json)
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        bar.show(lambda: bar.line("restore", done, lambda n: counted(n, "message")))

    if args.alias:
        from .ownership import add_aliases

        add_aliases(ws, args.account, args.alias)  # a new one has the ownership check run again
    result = restore(
        ws,
        args.account,
        args.target,
        dry_run=args.dry_run,
        include_quarantined=args.include_quarantined,
        progress=progress,
        password=password_source(args.password_file),
        # only an IMAP target connects: the IMAP modules cost any other restore 0.05 CPU s to load
        connection=_connection(args) if args.target.partition(":")[0].lower() in ("imap", "imaps") else None,
        planned=lambda n: setattr(bar, "total", n),
        connections=args.connections,
        max_rate=args.max_rate,
        selection=args.selection,
        mapping=args.mapping,
    )
    bar.clear()
    data = {
        "account": args.account,
        "target": result.target,
        "dry_run": args.dry_run,
        "planned": result.planned,
        "undated_left_out": result.undated,
        "written": result.written,
        "labels_added": result.labelled,
        "unrestorable": result.unrestorable,
        "to_write": result.to_write,
        "already_there": result.already,
        "bytes": result.bytes,
        "folders": result.folders,
        "folder_map": result.mapped,
        "placement": {f: {"to": name, "why": why} for f, (name, why) in result.placed.items()},
        "quarantined": result.quarantined,
        "held_back": [{"message_id": m, "subject": s, "reason": r} for m, s, r in result.held_back],
        "included_quarantined": [
            {"message_id": m, "subject": s, "reason": r} for m, s, r in result.included_list
        ],
        "problems": result.problems,
        "damaged": [_problem_data(p) for p in result.damaged],
        "verification": None if result.verification is None else dataclasses.asdict(result.verification),
    }
    if result.problems and not args.json:
        _say([f"mailrecover: not restored: {line}" for line in result.problems], err=True)
    if result.damaged and not args.json:
        _say([_problem_line(p) for p in result.damaged], err=True)
    lines = []
    already = f", {result.already:,} already there" if result.already else ""
    if args.dry_run:
        lines.append(
            f"would write {counted(result.to_write, 'message')} ({size_text(result.bytes)}) "
            f"to {result.target}{already}" + (":" if result.to_write else "")
        )
        lines += [f"  {folder}: {n:,}" for folder, n in sorted(result.folders.items())]
        if result.mapped:
            lines.append("folders mapped (--folder-map, --under):")
            lines += [f"  {source} -> {to}" for source, to in sorted(result.mapped.items())]
        if result.placed:
            lines.append("folders on the server (source -> the server's folder: why):")
            lines += [f"  {source} -> {name}: {why}" for source, (name, why) in sorted(result.placed.items())]
        if result.unplaced:
            lines.append(f"the server could not be asked where folders would go ({result.unplaced})")
    else:
        size = f" ({size_text(result.bytes)})" if result.written else ""
        lines.append(
            f"restored to {result.target}: {counted(result.written, 'message')} written{size}{already}"
        )
        if result.labelled:
            lines.append(
                f"{counted(result.labelled, 'label')} added: messages in several folders, each "
                "uploaded once (the server keeps labels, as Gmail does)"
            )
        if result.unrestorable:
            lines.append(
                f"{counted(result.unrestorable, 'message')} could not be restored: no intact copy "
                "was left in the workspace (see the lines above)"
            )
        if result.verification is not None and result.verification.repaired:
            lines.append(
                f"{counted(result.verification.repaired, 'message')} had gone missing from the target "
                "(or changed there) and were written again"
            )
    if result.undated:
        lines.append(
            f"{counted(result.undated, 'message')} without a known arrival date left out of this "
            "restore by date; a restore without --since/--before brings them"
        )
    if result.quarantined:
        lines.append(
            f"{counted(result.quarantined, 'message')} held back: delivered to other mailboxes "
            "(see 'report'; --include-quarantined restores them knowingly)"
        )
        for mid, subject, reason in result.held_back[:20]:
            lines.append(
                f"  <{mid}> {terminal_safe(subject[:60])!r}: {reason}"
            )  # (repr would escape the cleaning)
        if len(result.held_back) > 20:
            lines.append(f"  … and {len(result.held_back) - 20:,} more")
    if result.included:
        lines.append(
            f"{counted(result.included, 'message')} delivered to other mailboxes "
            f"{'was' if result.included == 1 else 'were'} included, as --include-quarantined asked"
        )
    _emit(args, data, lines)
    return PROBLEMS if result.quarantined or result.problems or result.damaged else DONE


def _cmd_verify(args: argparse.Namespace, ws: Workspace) -> int:
    from .verify import verify_workspace

    bar = Progress(enabled=not args.quiet and not args.json)

    def progress(what: str, n: int, total: int) -> None:
        bar.show(lambda: f"verify {what}: {n:,}" + (f" of {total:,}" if total else ""))

    result = verify_workspace(ws, progress)
    bar.clear()
    t = terminal_safe
    data = {
        "workspace": str(ws.path),
        "ok": result.ok,
        "database": result.integrity,
        "blobs": {
            "checked": result.blobs,
            "bad": [{"blob": b.digest, "reason": b.reason, "copies": b.copies} for b in result.bad],
        },
        "targets": [
            {
                "target": c.target,
                "account": c.account,
                "note": c.note,
                **(dataclasses.asdict(c.verification) if c.verification else {}),
            }
            for c in result.targets
        ],
    }
    lines = [f"workspace {t(str(ws.path))}"]
    lines.append(
        "  database: ok" if result.integrity == ["ok"] else "  database: DAMAGED (SQLite integrity_check):"
    )
    lines += [f"    {t(line)}" for line in result.integrity if result.integrity != ["ok"]]
    lines.append(
        f"  {counted(result.blobs, 'stored copy', 'stored copies')} checked against their SHA-256: "
        + (f"{len(result.bad):,} damaged or lost" if result.bad else "all intact")
    )
    for b in result.bad:
        lines.append(f"    blob {b.digest} {b.reason}")
        for copy in b.copies:
            where = copy["source"] + (f" @{copy['position']}" if copy["position"] else "")
            what = f"copy {copy['copy']}" + (f" of <{copy['message_id']}>" if copy["message_id"] else "")
            restore = f"; the restored copy: restore {copy['restore']}" if "restore" in copy else ""
            lines.append(f"      {t(what)} ({t(copy['account'])}) from {t(where)}{t(restore)}")
    for check in result.targets:
        if check.verification is None:
            lines.append(f"  {t(check.target)} ({t(check.account)}): {t(check.note)}")
            continue
        v = check.verification
        lines.append(
            f"  {t(check.target)} ({t(check.account)}): {v.present:,} of {v.planned:,} restored messages there"
            + (f", {v.missing:,} missing or changed: run restore again to put them back" if v.missing else "")
        )
    if ws.read_only:
        lines.append("  (the workspace is read-only here: this check is not recorded for 'report')")
    _emit(args, data, lines)
    return DONE if result.ok else PROBLEMS


def _cmd_members(args: argparse.Namespace, ws: Workspace) -> int:
    from .members import (
        ExportFormat,
        export,
        export_files,
        find_list,
        from_workspace,
        render_summary,
        to_json,
    )
    from .members import summary as list_summary
    from .private import write_new_files
    from .resolicit import INVITATION_FIELDS, INVITATION_TEMPLATE, invitations, load_template, uncertain

    if args.format and not args.list_address:
        raise UsageError("--format exports one list: name it with --list")
    if (args.uncertain or args.draft_invitations or args.output) and not args.list_address:
        raise UsageError(
            "--uncertain, --draft-invitations and --output work on one list: name it with --list"
        )
    pictures = from_workspace(ws)
    if not args.list_address:
        rows = list_summary(pictures)
        _emit(args, rows, render_summary(rows))
        return DONE
    picture = find_list(pictures, args.list_address)
    if picture.notes and not args.quiet:
        _say([f"mailrecover: {picture.address}: {n}" for n in picture.notes], err=True)
    if args.uncertain or args.draft_invitations:
        asked = uncertain(picture)
        if args.all:
            unsure = {m.address for m, _ in asked}
            asked += [(m, []) for m in picture.current() if m.address not in unsure]
        if args.draft_invitations:
            template = (
                load_template(args.template, INVITATION_FIELDS) if args.template else INVITATION_TEMPLATE
            )
            drafts = invitations(picture, asked, template, owner=args.sender)
            reasons = {m.address: "; ".join(r) for m, r in asked}
            _write_drafts(
                args.draft_invitations,
                drafts,
                [[d.address, d.token, d.name, reasons[d.address]] for d in drafts],
            )
            return _show_problems(
                [
                    Problem(
                        ProblemKind.SKIPPED,
                        picture.address,
                        "",
                        f"no draft for {m.address!r}: not an address to write to",
                    )
                    for m, _ in asked
                    if not is_addr_spec(m.address)
                ]
            )
        header = ["address", "name", "status", "last_seen"]
        found = [
            ([m.address, m.name, m.label, m.last_seen.strftime("%Y-%m-%d") if m.last_seen else ""], r)
            for m, r in asked
        ]
        if args.json:
            _emit(args, [{**dict(zip(header, row)), "reasons": r} for row, r in found], "")
            return DONE
        out = io.StringIO()
        write_csv(out, [*header, "reasons"], ([*row, "; ".join(r)] for row, r in found))
        _say(out.getvalue(), end="")
        return DONE
    if args.json:
        _emit(args, to_json([picture])[0], "")
        return DONE
    if args.output:
        files, left_out = export_files(picture, args.format or ExportFormat.CSV)
        try:
            written = write_new_files(args.output, {n: text.encode() for n, text in files.items()})
        except OSError as e:
            raise OperationError(f"cannot write to {args.output}: {e.strerror or e}") from e
        _say([str(p) for p in written])
        return _show_problems(left_out)
    exported = export(picture, args.format or ExportFormat.CSV)
    apart = [m for m in picture.current() if m.digest or m.nomail]
    if apart and args.format in (ExportFormat.MAILMAN2, ExportFormat.MAILMAN3) and not args.quiet:
        _say(
            [
                f"mailrecover: {len(apart)} of these members had digests or delivery off; "
                "--output DIR writes them apart, with the commands that set them"
            ],
            err=True,
        )
    _say(exported.text, end="")
    return _show_problems(exported.left_out)


def _cmd_export_items(args: argparse.Namespace, ws: Workspace) -> int:
    from .items import export_items, item_accounts
    from .report import items_text

    _known_account(ws, args.account, also=item_accounts(ws))
    result = export_items(ws, args.account, args.directory)
    data = {
        "account": args.account,
        "directory": args.directory,
        "written": {kind: result.written.get(kind, 0) for kind in ("contact", "group", "event")},
        "files": [str(p) for p in result.files],
        "problems": [_problem_data(p) for p in result.left_out],
    }
    if result.files:
        lines = [f"wrote {items_text(result.written)} to {args.directory}"]
        if not args.quiet:
            lines += [f"  {p.name}" for p in result.files]
    else:
        lines = [f"no contacts or calendar items gathered for {args.account}; nothing written"]
    if not args.json:
        for p in result.left_out:
            _say([_problem_line(p)], err=True)
    _emit(args, data, lines)
    return PROBLEMS if result.left_out else DONE


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import (
        ManifestError,
        Status,
        plan_data,
        read_manifest,
        render_plan,
        render_table,
        result_data,
        run_batch,
    )

    try:
        manifest = read_manifest(args.manifest)
    except ManifestError as e:  # every bad line, before anything is written
        _say([f"mailrecover: {line}" for line in e.problems], err=True)
        return USAGE
    if args.scheduler and "://" not in args.scheduler:
        raise UsageError(f"--scheduler {args.scheduler!r}: expected an address like tcp://HOST:8786")
    if args.dry_run:
        plan = plan_data(manifest)
        _emit(args, plan, render_plan(plan))
        return DONE
    bar = Progress(enabled=not args.quiet and not args.json)

    def progress(done: int, total: int, eta: float | None) -> None:
        left = "" if eta is None else f", about {timedelta(seconds=round(eta))} left"
        bar.show(f"batch: {done:,} of {total:,} accounts done{left}", force=True)

    results, sort = run_batch(manifest, scheduler=args.scheduler, progress=progress)
    bar.clear()
    for address, r in results.items():
        if not args.json:
            _say([f"mailrecover: {address}: {line}" for line in r.problem_lines], err=True)
    _emit(args, result_data(manifest, results, sort), render_table(manifest, results, sort))
    clean = (
        all(r.status == Status.DONE for r in results.values())
        and not sort.get("unassigned")
        and not sort.get("problems")
    )
    return DONE if clean else PROBLEMS


def _check_usage(args: argparse.Namespace) -> None:
    """What is wrong with the command line as a whole, found before anything is opened."""
    if args.verbose and args.quiet:
        raise UsageError("-v and -q ask for opposite things: give one")
    if args.ca_file and not os.path.isfile(args.ca_file):
        raise UsageError(f"--ca-file {args.ca_file}: no such file")
    if args.command == "gather":
        from .ownership import is_mail_address

        if args.account and not is_mail_address(args.account):
            raise UsageError(f"--account {args.account!r}: not a mail address (expected local@domain)")
        for location in args.locations:
            _refuse_password_in_url("location", location)
    if args.command == "restore":
        from .restore import FolderMap, Selection

        _refuse_password_in_url("--to", args.target)
        args.selection = Selection.parse(args.folders, args.excluded, args.since, args.before)
        args.mapping = FolderMap.parse(args.folder_maps, args.under)
    if args.command in ("plugins", "discover", "gather", "batch"):  # batch: a workspace per account
        return
    path = Path(args.workspace) if args.workspace else default_workspace_path()
    if not (path / "workspace.db").is_file():
        raise UsageError(
            f"no workspace at {path}: only gather creates one (check --workspace or MAILRECOVER_WORKSPACE)"
        )


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    _check_usage(args)
    if args.command in _PLUGIN_USERS:
        _warn_not_loaded()
    if args.command == "plugins":
        return _cmd_plugins(args)
    if args.command == "discover":
        return _cmd_discover(args)
    if args.command == "batch":
        return _cmd_batch(args)  # a workspace per account, under the manifest's job folder
    with Workspace(args.workspace, reader=args.command in _READERS) as ws:
        if ws.held_by and not args.quiet:
            _say([f"mailrecover: {ws.held_by}; showing what it has finished so far"], err=True)
        command = {
            "gather": _cmd_gather,
            "report": _cmd_report,
            "restore": _cmd_restore,
            "members": _cmd_members,
            "verify": _cmd_verify,
            "export-items": _cmd_export_items,
        }
        return command[args.command](args, ws)


def _fail(message: str, status: int, as_json: bool) -> int:
    """An error as one line on standard error, or with ``--json`` as the one JSON result on
    standard output: a script reads every outcome from the same place."""
    if as_json:
        _say(json_safe(json.dumps({"error": message, "exit_status": status}, ensure_ascii=False)))
    else:
        _say([f"mailrecover: {message}"], err=True)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # everything mailrecover writes is for the administrator's eyes only
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
    try:
        return _run(argv)
    except MailRecoverError as e:
        return _fail(str(e), e.exit_status, as_json)
    except KeyboardInterrupt:
        return _fail("interrupted; what was done is kept, run the command again to finish", FAILED, as_json)
    except BrokenPipeError:  # a write outside ``_say`` (none today): still no traceback
        _reader_gone(sys.stdout)
        return FAILED
