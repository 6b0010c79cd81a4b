"""Many accounts in one job (``mailrecover batch MANIFEST.toml``).

The manifest names the job's folder, the mixed-up areas to sort by owner, and one row per
account: its aliases, its sources and its target.  The job folder holds:

- ``sorted/``: one workspace the mixed areas are read into once, each copy filed under its
  owners (``byowner``); its ``unassigned`` pile is what no account of the job claims;
- ``accounts/<address>/``: one workspace per account.  A workspace has one writer at a time
  (``workspace.lock``), so accounts that run side by side each write their own; each reads
  the sorted workspace only (read-only, beside the others);
- ``results/<address>.json``: how each account's last run ended, written when it ends.

Every stage is one that can be run again (gathering again adds nothing, the restore journal
finishes what a killed run left), so a rerun after a kill at any point finishes the job and
duplicates nothing; an account whose last run ended ``done`` for the same row and the same share
of the sorted pile (``store.save_shares``: a digest per account) is not run again.  A manifest
that changes the job's accounts sorts the pile again; an account whose share changed then
follows it (``byowner.import_sorted``), and a copy the sort took from it after it went to the
account's target is a ``misfiled`` problem of that account.

Accounts are independent units of work: by default a process pool sized to the cores runs
them; with a Dask ``distributed`` scheduler its workers do, each one whole accounts.  Either
way every worker must see the manifest's paths and the job folder at the same names (shared
storage) and run the same mailrecover.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from .byowner import import_sorted, job_accounts
from .errors import MailRecoverError
from .model import ProblemKind
from .ownership import add_aliases
from .passwords import password_source, read_password_file, without_password
from .rfc822 import normalize_address
from .workspace import Workspace, store

__all__ = [
    "AccountResult",
    "AccountRow",
    "Manifest",
    "ManifestError",
    "Status",
    "plan_data",
    "read_manifest",
    "render_plan",
    "render_table",
    "result_data",
    "run_account",
    "run_batch",
    "sort_mixed",
]

_TARGET_KINDS = ("maildir", "mbox", "imap", "imaps")  # what ``targets.open_target`` opens
_ADDRESS = re.compile(r"[^\s@<>,;]+@[^\s@<>,;.][^\s@<>,;]*")


class Status(StrEnum):
    """How an account's run ended."""

    DONE = "done"  # restored, nothing to report
    PROBLEMS = "problems"  # restored, with problems, quarantined mail or unrestorable messages to read
    FAILED = "failed"  # stopped (a refused login, a full disk): its workspace is kept for a rerun


class ManifestError(MailRecoverError):
    """A manifest that cannot be run: every bad line, each with its number."""

    exit_status = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problems in the manifest")
        self.problems = problems


@dataclass(frozen=True)
class AccountRow:
    """One ``[[account]]`` of the manifest, its paths made absolute."""

    address: str
    aliases: tuple[str, ...]
    sources: tuple[str, ...]
    target: str
    password_file: str | None
    line: int

    def fingerprint(self) -> str:
        """What the row asks for: a changed row is run again even if it ended ``done``."""
        data = [self.address, self.aliases, self.sources, self.target, self.password_file]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()

    def gathered_for(self, manifest: Manifest) -> str:
        """What the account's workspace holds once gathered: its sources and the sorted areas."""
        data = [self.address, self.aliases, self.sources, manifest.mixed]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    path: str
    workspace: str  # the job's folder
    mixed: tuple[str, ...]
    accounts: tuple[AccountRow, ...]

    def account_folder(self, address: str) -> str:
        return os.path.join(self.workspace, "accounts", address)

    @property
    def sorted_folder(self) -> str:
        return os.path.join(self.workspace, "sorted")


@dataclass
class AccountResult:
    """What one account's run did: the per-account table's row."""

    address: str
    status: Status = Status.FAILED
    copies: int = 0
    messages: int = 0
    quarantined: int = 0
    restored: int = 0
    problems: int = 0
    target: str = ""
    error: str = ""
    problem_lines: list[str] = field(default_factory=list)
    row: str = ""  # the row's fingerprint
    gathered: str = (
        ""  # what was gathered in full (``_gathered_for``): a rerun after a failed restore only restores
    )
    share: str = ""  # the digest of the sorted pile's share the workspace was brought to follow
    seconds: float = 0.0


# --- the manifest ----------------------------------------------------------------------------


def _lines_of_rows(text: str) -> list[int]:
    """The line number of each ``[[account]]`` header, in order (tomllib keeps no positions)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*account\s*\]\]", line)]


def _key_line(text: str, start: int, key: str) -> int:
    """The line of ``key =`` in the table starting at line ``start`` (``start`` if not found)."""
    lines = text.splitlines()
    for n in range(start, len(lines)):
        line = lines[n]
        if re.match(r"\s*\[", line):
            break
        if re.match(rf"\s*{key}\s*=", line):
            return n + 1
    return start


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def read_manifest(path: str) -> Manifest:
    """Read and check a manifest before any work: ``ManifestError`` lists every bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError([f"{path}: cannot read it: {getattr(e, 'strerror', None) or e}"]) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError([f"{path}: not TOML: {e}"]) from e
    base = os.path.dirname(os.path.abspath(path))
    problems: list[str] = []

    def here(line: int, what: str) -> None:
        problems.append(f"{path} line {line}: {what}")

    def local(p: str) -> str:
        return p if "://" in p else os.path.normpath(os.path.join(base, os.path.expanduser(p)))

    job = data.get("job")
    job_line = next(
        (n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\s*job\s*\]", line)), 1
    )
    workspace = job.get("workspace") if isinstance(job, dict) else None
    if not isinstance(workspace, str) or not workspace:
        here(job_line, '[job] needs workspace = "FOLDER" (the job\'s folder)')
        workspace = ""
    mixed = _strings(job.get("mixed", []) if isinstance(job, dict) else [])
    if mixed is None:
        here(_key_line(text, job_line, "mixed"), "mixed: expected a list of paths")
        mixed = []
    for area in mixed:
        if not os.path.exists(local(area)):
            here(_key_line(text, job_line, "mixed"), f"mixed area {area}: no such file or folder")
    rows = data.get("account", [])
    starts = _lines_of_rows(text)
    if not isinstance(rows, list) or not rows:
        here(job_line, "no [[account]] rows: nothing to do")
        rows = []
    accounts: list[AccountRow] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        line = starts[i] if i < len(starts) else job_line

        def at(key: str, line: int = line) -> int:
            return _key_line(text, line, key)

        address = row.get("address") if isinstance(row, dict) else None
        if not isinstance(address, str) or not _ADDRESS.fullmatch(normalize_address(address)):
            here(line, f"address {address!r}: expected a mail address")
            continue
        address = normalize_address(address)
        if address in seen:
            here(line, f"{address} has a row already (line {seen[address]}): one row per account")
        seen.setdefault(address, line)
        aliases = _strings(row.get("aliases", []))
        if aliases is None or any(not _ADDRESS.fullmatch(normalize_address(a)) for a in aliases):
            here(at("aliases"), "aliases: expected a list of mail addresses")
            aliases = []
        sources = _strings(row.get("sources", []))
        if sources is None:
            here(at("sources"), "sources: expected a list of paths or imap[s]:// URLs")
            sources = []
        for source in sources:
            if "://" not in source and not os.path.lexists(local(source)):
                here(at("sources"), f"source {source}: no such file or folder")
        target = row.get("target")
        kind, sep, rest = target.partition(":") if isinstance(target, str) else ("", "", "")
        if not sep or not rest or kind.lower() not in _TARGET_KINDS:
            shown = without_password(target) if isinstance(target, str) else target
            here(at("target"), f"target {shown!r}: expected maildir:PATH, mbox:PATH or imap[s]://user@host/")
            target = ""
        elif kind.lower() in ("maildir", "mbox"):
            target = f"{kind.lower()}:{local(rest)}"
        secret = row.get("password_file")
        if secret is not None:
            if not isinstance(secret, str):
                here(at("password_file"), "password_file: expected a path")
                secret = None
            elif kind.lower() not in ("imap", "imaps"):
                here(at("password_file"), "password_file is for IMAP targets only")
            else:
                secret = local(secret)
                try:
                    read_password_file(secret)
                except MailRecoverError as e:
                    here(at("password_file"), str(e))
        accounts.append(
            AccountRow(
                address,
                tuple(normalize_address(a) for a in aliases),
                tuple(local(s) for s in sources),
                str(target),
                secret,
                line,
            )
        )
    if problems:
        raise ManifestError(problems)
    return Manifest(os.path.abspath(path), local(workspace), tuple(local(a) for a in mixed), tuple(accounts))


# --- the work ----------------------------------------------------------------------------------


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Atomically: a result file is whole or absent, whenever the run is killed."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sort_fingerprint(manifest: Manifest) -> str:
    data = [manifest.mixed, sorted((a.address, a.aliases) for a in manifest.accounts)]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def _sort_stamp(manifest: Manifest) -> str:
    return os.path.join(manifest.workspace, "sorted.json")


def _last_sort(manifest: Manifest) -> dict[str, Any] | None:
    """What the last sort of the mixed areas wrote (``sort_mixed``), when it sorted this
    manifest's areas for its accounts; None otherwise (never sorted, or for another job)."""
    try:
        with open(_sort_stamp(manifest), encoding="utf-8") as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) and done.get("fingerprint") == _sort_fingerprint(manifest) else None


def sort_mixed(manifest: Manifest) -> dict[str, Any]:
    """Read the mixed areas once into the sorted workspace (skipped when done for the same
    areas and accounts); how many copies went where.  Runs where ``batch`` runs, before any
    account reads the sorted workspace: one reader of the areas, with all of its cores."""
    from .gather import gather  # the gather's plugins load in the process that reads

    done = _last_sort(manifest)
    if done is not None:
        try:
            with Workspace(
                manifest.sorted_folder
            ) as ws:  # its tables brought up to this version: accounts only read it
                if "shares" not in done:  # sorted by a version that kept no shares
                    with store.transaction(ws.db):
                        done["shares"] = store.save_shares(ws.db)
                    _write_json(_sort_stamp(manifest), done)
                return done
        except (OSError, ValueError):
            pass
    with Workspace(manifest.sorted_folder) as ws:
        accounts = job_accounts(ws, {a.address: a.aliases for a in manifest.accounts})
        result = gather(
            ws, list(manifest.mixed), by_owner=accounts, password=password_source(interactive=False)
        )
        unassigned = store.count_unassigned(ws.db)
        with store.transaction(ws.db):
            shared = store.save_shares(ws.db)
    data = {
        "fingerprint": _sort_fingerprint(manifest),
        "shares": shared,
        "copies": result.copies,
        "owners": result.owners,
        "unassigned": unassigned,
        "problems": [f"{p.kind.value}: {p.source}: {p.reason}" for p in result.serious],
    }
    _write_json(_sort_stamp(manifest), data)
    return data


def run_account(manifest: Manifest, row: AccountRow, jobs: int = 1) -> AccountResult:
    """Gather, bring the sorted copies, merge, check and restore one account, in its own
    workspace; never raises (a failure is the result's status, the other accounts go on)."""
    from .gather import SERIOUS, gather
    from .restore import restore

    started = time.monotonic()
    result = AccountResult(row.address, target=without_password(row.target), row=row.fingerprint())
    last = _last(manifest, row)
    # the last run, when it read these very sources: they are not read again
    gathered = last if last is not None and last.gathered == row.gathered_for(manifest) else None
    try:
        with Workspace(manifest.account_folder(row.address)) as ws:
            add_aliases(ws, row.address, row.aliases)
            lines: list[str] = []
            if gathered is not None:
                lines = [line for line in gathered.problem_lines if line.startswith("gather ")]
            elif row.sources:
                found = gather(
                    ws,
                    list(row.sources),
                    account=row.address,
                    jobs=jobs,
                    password=password_source(interactive=False),
                )
                lines += [f"gather {p.kind.value}: {p.source}: {p.reason}" for p in found.serious]
            if manifest.mixed:
                with Workspace(manifest.sorted_folder, read_only=True) as pile:
                    share = store.share_digest(pile.db, row.address)
                    if gathered is None or gathered.share != share:  # it follows the pile as it is now
                        import_sorted(ws, pile, row.address, row.aliases)
                        lines += [  # what the sort could not read in this account's area
                            f"gather {kind}: {source}: {reason}"
                            for kind, source, _position, reason, _account in store.problems(
                                pile.db, row.address
                            )
                            if ProblemKind(kind) in SERIOUS
                        ]
                    result.share = share
            lines += [  # what left for another account after it was restored from here: said every run
                f"gather {kind}: {source}: {reason}"
                for kind, source, _position, reason, _account in store.problems(ws.db, row.address)
                if kind == ProblemKind.MISFILED
            ]
            result.problem_lines = list(dict.fromkeys(lines))  # once each, in order
            result.gathered = row.gathered_for(manifest)
            restored = restore(
                ws, row.address, row.target, password=password_source(row.password_file, interactive=False)
            )
            result.copies, result.messages = (
                store.count_copies(ws.db, row.address),
                store.count_messages(ws.db, row.address),
            )
            result.quarantined = restored.quarantined
            result.restored = restored.planned - restored.unrestorable
            result.problem_lines += restored.problems + [
                f"{p.kind.value}: {p.source}: {p.reason}" for p in restored.damaged
            ]
            if restored.unrestorable:
                result.problem_lines.append(f"{restored.unrestorable} messages had no intact copy left")
        result.problems = len(result.problem_lines)
        result.status = Status.PROBLEMS if result.problems or result.quarantined else Status.DONE
    except MailRecoverError as e:
        result.status, result.error = Status.FAILED, str(e)
    except Exception as e:  # one account's surprise must not stop the others: reported, the job goes on
        result.status, result.error = Status.FAILED, f"{type(e).__name__}: {e}"
    result.problems = len(result.problem_lines) + (result.status == Status.FAILED)
    result.seconds = round(time.monotonic() - started, 3)
    os.makedirs(os.path.join(manifest.workspace, "results"), mode=0o700, exist_ok=True)
    _write_json(os.path.join(manifest.workspace, "results", f"{row.address}.json"), asdict(result))
    return result


def _last(manifest: Manifest, row: AccountRow) -> AccountResult | None:
    """How the account's last run ended, if one did."""
    try:
        with open(os.path.join(manifest.workspace, "results", f"{row.address}.json"), encoding="utf-8") as f:
            last = AccountResult(**json.load(f))
        last.status = Status(last.status)
    except (OSError, ValueError, TypeError):
        return None
    return last


def _finished(manifest: Manifest, row: AccountRow, shares: dict[str, str] | None) -> AccountResult | None:
    """The account's last result when it ended ``done`` for this very row and, sorting mixed
    areas, this very share of the pile (``shares``: each account's, None when not known yet)."""
    last = _last(manifest, row)
    if last is None or last.status != Status.DONE or last.row != row.fingerprint():
        return None
    if manifest.mixed and (shares is None or last.share != shares.get(row.address, store.EMPTY_SHARE)):
        return None
    return last


def _shares(manifest: Manifest) -> dict[str, str] | None:
    """What the sorted pile files under each account, as its last sort left it; None when it
    has not been sorted for this manifest yet (or cannot be read as it is)."""
    done = _last_sort(manifest)
    if done is None or "shares" not in done:
        return None
    try:
        with Workspace(manifest.sorted_folder, read_only=True) as pile:
            return store.shares(pile.db)
    except (OSError, ValueError, MailRecoverError):
        return None


class _Engine:
    """Where accounts run: a local process pool, or a Dask distributed cluster's workers."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        self._client: Any = None
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if scheduler:
            try:
                from distributed import Client
            except ImportError:
                raise MailRecoverError(
                    "--scheduler needs Dask distributed: pip install 'mailrecover[cluster]'"
                ) from None
            try:
                self._client = Client(scheduler, timeout="30s")
            except OSError as e:
                raise MailRecoverError(f"cannot reach the Dask scheduler {scheduler}: {e}") from e
        else:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._client is not None:
            return self._client.submit(fn, *args, pure=False)
        assert self._pool is not None
        return self._pool.submit(fn, *args)

    def done(self, futures: list[Any]) -> Iterator[Any]:
        if self._client is not None:
            from distributed import as_completed

            yield from as_completed(futures)
        else:
            yield from concurrent.futures.as_completed(futures)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def run_batch(
    manifest: Manifest,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int, float | None], None] = lambda done, total, eta: None,
) -> tuple[dict[str, AccountResult], dict[str, Any]]:
    """Run every account of the job; each account's result (in manifest order) and the sort's."""
    total = len(manifest.accounts)
    results: dict[str, AccountResult] = {}
    os.makedirs(manifest.workspace, mode=0o700, exist_ok=True)
    engine = _Engine(scheduler, max(1, min(total, workers or os.cpu_count() or 1)))  # started as needed
    sort: dict[str, Any] = {}
    started = time.monotonic()
    try:
        if manifest.mixed:  # here, with this machine's fingerprinting pool, before any account reads it
            sort = sort_mixed(manifest)
        shares = _shares(manifest) if manifest.mixed else {}
        todo = []
        for row in manifest.accounts:  # after the sort: an account whose share changed runs again
            last = _finished(manifest, row, shares)
            if last is not None:
                results[row.address] = last
            else:
                todo.append(row)
        progress(len(results), total, None)
        # each task carries its own row only: a whole manifest per task made every worker (and
        # the client) hold the job once per account, O(accounts²) (400 MB a Dask worker at 1,000)
        futures = {engine.submit(run_account, replace(manifest, accounts=(row,)), row): row for row in todo}
        ran = 0
        for future in engine.done(list(futures)):
            row = futures[future]
            try:
                results[row.address] = future.result()
            except Exception as e:  # the worker died with it (Dask gave up on it): the others go on
                results[row.address] = AccountResult(
                    row.address,
                    error=f"{type(e).__name__}: {e}",
                    problems=1,
                    target=without_password(row.target),
                    row=row.fingerprint(),
                )
            ran += 1
            left = total - len(results)
            progress(len(results), total, (time.monotonic() - started) / ran * left if left else 0.0)
    finally:
        engine.close()
    return {row.address: results[row.address] for row in manifest.accounts}, sort


# --- what the user sees ------------------------------------------------------------------------

_UNLESS_RESORTED = "done unless re-sorted"  # a plan's state: done, and the sort must run again first
_COLUMNS = "copies messages quarantined restored problems".split()  # the table's counts, in order


def plan_data(manifest: Manifest) -> dict[str, Any]:
    """``batch --dry-run``: what would run, and what a rerun would leave alone (an account
    done before for its row is "done unless re-sorted" while the sort must run again first:
    it runs again if that sort changes its share)."""
    shares = _shares(manifest) if manifest.mixed else {}

    def state(row: AccountRow) -> str:
        if _finished(manifest, row, shares):
            return Status.DONE
        if shares is None and _finished(replace(manifest, mixed=()), row, {}):  # its row alone is done
            return _UNLESS_RESORTED
        return "to do"

    return {
        "manifest": manifest.path,
        "workspace": manifest.workspace,
        "mixed": list(manifest.mixed),
        "accounts": {
            row.address: {
                "line": row.line,
                "aliases": list(row.aliases),
                "sources": list(row.sources),
                "target": without_password(row.target),
                "state": state(row),
            }
            for row in manifest.accounts
        },
    }


def render_plan(plan: dict[str, Any]) -> list[str]:
    lines = [f"job folder {plan['workspace']} (one workspace per account under accounts/)"]
    if plan["mixed"]:
        lines.append(f"sort by owner, once, before the accounts: {', '.join(plan['mixed'])}")
    for address, a in plan["accounts"].items():
        aka = f" (also {', '.join(a['aliases'])})" if a["aliases"] else ""
        lines.append(f"  {address}{aka}: {len(a['sources'])} sources -> {a['target']}  [{a['state']}]")
    todo = sum(a["state"] not in (Status.DONE, _UNLESS_RESORTED) for a in plan["accounts"].values())
    lines.append(f"{todo} of {len(plan['accounts'])} accounts to run; the manifest is valid")
    if unless := sum(a["state"] == _UNLESS_RESORTED for a in plan["accounts"].values()):
        lines.append(f"{unless} more run again if the new sort changes what it files under them")
    return lines


def result_data(
    manifest: Manifest, results: dict[str, AccountResult], sort: dict[str, Any]
) -> dict[str, Any]:
    return {
        "workspace": manifest.workspace,
        "accounts": {
            a: {k: v for k, v in asdict(r).items() if k not in ("address", "row", "share")}
            for a, r in results.items()
        },
        "sorted": {k: v for k, v in sort.items() if k not in ("fingerprint", "shares")},
        "unassigned": sort.get("unassigned", 0),
    }


def render_table(manifest: Manifest, results: dict[str, AccountResult], sort: dict[str, Any]) -> list[str]:
    width = max([len("account"), *(len(a) for a in results)])
    lines = [f"{'account':<{width}}  " + "  ".join(f"{c:>11}" for c in _COLUMNS) + "  status"]
    for address, r in results.items():
        counts = "  ".join(f"{getattr(r, c):>11,}" for c in _COLUMNS)
        lines.append(f"{address:<{width}}  {counts}  {r.status}" + (f": {r.error}" if r.error else ""))
    if sort:
        lines.append(
            f"sorted by owner: {sum(sort.get('owners', {}).values()):,} copies filed; "
            f"{sort.get('unassigned', 0):,} unassigned "
            f"(mailrecover --workspace {manifest.sorted_folder} report lists them)"
        )
    done = sum(r.status == Status.DONE for r in results.values())
    lines.append(f"{done} of {len(results)} accounts done without anything to report")
    return lines
