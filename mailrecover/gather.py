"""The gather stage: walk what the user names, hand each store to its plugin, keep the findings.

A directory is offered to every plugin first; one that claims it (``CLAIM`` or more)
reads it whole.  Otherwise the walk goes into it, and each file is read by the plugin
most sure of it.  Files no plugin reads are listed as skipped, never read as mail.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from multiprocessing.pool import AsyncResult, Pool
from typing import TYPE_CHECKING

from .byowner import BY_OWNER, JobAccounts, area_account, assign, evidence_account
from .fingerprint import Summary, summarize
from .limits import Limits
from .limits import current as current_limits
from .memory import give_back
from .model import Copy, Evidence, Finding, Item, Problem, ProblemKind
from .ownership import JobIndex
from .passwords import without_password
from .places import tree_size
from .plugin import CLAIM, Plugin, ReadContext, get_plugin, load_plugins
from .readonly import confined, describe_link, one_look, read_head, sorted_names
from .tnef import holds_tnef, unpack
from .workspace import Workspace, now_text, store
from .workspace.coverage import Coverage
from .workspace.store import folder_text, storable

if TYPE_CHECKING:
    from .imapconn import ConnectionSettings

__all__ = ["Coverage", "GatherResult", "Skipped", "Task", "gather", "plan", "source_root", "work_size"]

#: Problems of these kinds are news for the administrator and make ``gather`` exit 3.
SERIOUS = {
    ProblemKind.UNREADABLE,
    ProblemKind.NOT_MAIL,
    ProblemKind.TRUNCATED,
    ProblemKind.DAMAGED,
    ProblemKind.LIMIT,
    ProblemKind.NEEDS_INPUT,
    ProblemKind.MISFILED,
}

_BATCH = 500  # rows per transaction
_BATCH_BYTES = 16 << 20  # a batch for the fingerprinting pool holds at most this many bytes


@dataclass(frozen=True)
class Task:
    plugin: Plugin
    location: str
    folder: str  # the folder implied by the store's place in the tree ('' at the top)
    #: Filled by the reader of a claimed directory's task; the walk then takes what it left.
    coverage: Coverage | None = field(default=None, compare=False, repr=False)
    unknown_folder: bool = False  # a folder its forced plugin does not recognise (it may still read it)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str = "no plugin reads it"


@dataclass
class GatherResult:
    copies: int = 0  # copies found
    new_copies: int = 0  # of which not already in the workspace
    evidence: int = 0
    items: dict[str, int] = field(default_factory=dict)  # contacts, lists, calendar items found, by kind
    new_items: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    why_skipped: dict[str, str] = field(default_factory=dict)  # path -> reason, for -v
    stores: int = 0
    folders: dict[str, int] = field(default_factory=dict)  # copies found per folder, as stored
    owners: dict[str, int] = field(default_factory=dict)  # by owner: copies filed under each account
    unassigned: int = 0  # by owner: copies no account of the job claims (kept in the pile)

    @property
    def serious(self) -> list[Problem]:
        return [p for p in self.problems if p.kind in SERIOUS]


def _best(plugins: dict[str, Plugin], location: str) -> tuple[int, Plugin | None]:
    best: tuple[int, Plugin | None] = (0, None)
    with one_look():  # what every plugin reads of the path to judge it is read once
        for plugin in plugins.values():
            try:
                score = int(plugin.detect(location))
            except Exception:  # a plugin that cannot even look must not stop the walk
                score = 0
            if score > best[0]:
                best = (score, plugin)
    return best


def _dir_folder(parts: list[str]) -> str:
    """Folder path of a directory below the root; ``Name.sbd`` directories hold subfolders."""
    return "/".join(p[:-4] if p.lower().endswith(".sbd") else p for p in parts)


def source_root(location: str) -> str:
    """The absolute path a location is read from; a link the user named is followed, once."""
    path = os.path.abspath(location)
    return os.path.realpath(path) if os.path.islink(path) else path


def plan(
    location: str, forced: str | None = None, coverage: Coverage | None = None
) -> Iterator[Task | Problem | Skipped]:
    """What to read under ``location``, store by store, in a stable order.

    With ``coverage`` (filled by whoever reads each task before taking the next item), the
    files a claimed directory's plugin left are walked too, so every file is accounted for.
    """
    plugins = load_plugins()
    if "://" in location:
        if forced:
            yield Task(get_plugin(forced), location, "")
            return
        score, plugin = _best(plugins, location)
        if plugin is None:
            yield Problem(
                ProblemKind.UNREADABLE, without_password(location), "", "no plugin reads this kind of URL"
            )
        else:
            yield Task(plugin, location, "")
        return
    path = source_root(location)
    if forced:
        chosen = get_plugin(forced)
        unknown = os.path.isdir(path) and _best({forced: chosen}, path)[0] == 0
        yield Task(chosen, path, "", coverage, unknown_folder=unknown)
        if coverage is not None and os.path.isdir(path):
            yield from _rest(plugins, path, [], coverage, forced, forced=True)
        return
    try:
        st = os.stat(path)
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot open: {e.strerror or e}")
        return
    if not stat.S_ISDIR(st.st_mode):
        yield from _file(plugins, path, [], coverage)
        return
    yield from _walk(plugins, path, [], coverage)


def _expected(task: Task, p: Problem) -> Problem:
    """A forced plugin that cannot read the folder it was given (``--plugin mbox DIR``) says what
    it reads instead of the system's words for the failure (``No such device``)."""
    if not task.unknown_folder or p.kind is not ProblemKind.UNREADABLE or p.source != task.location:
        return p
    name, what = task.plugin.name, task.plugin.description.rstrip(".")
    return Problem(
        p.kind,
        p.source,
        p.position,
        f"plugin {name} reads {what}, not a folder like this one: name its files, "
        "or leave out --plugin to have each file read by the plugin that recognises it",
    )


def _inside(path: str, folder: str) -> bool:
    return bool(folder) and path.startswith(folder + os.sep)


def _size(location: str) -> int:
    """Bytes under a local location (0 for a URL or what cannot be looked at)."""
    if "://" in location:
        return 0
    try:
        st = os.lstat(location)
    except OSError:
        return 0
    return tree_size(location) if stat.S_ISDIR(st.st_mode) else st.st_size


def work_size(locations: list[str]) -> int:
    """Bytes under ``locations``: the total a gather's progress counts towards (a walk of
    stats, cheap beside reading every byte)."""
    return sum(_size(location) for location in locations)


def _walk(
    plugins: dict[str, Plugin], path: str, parts: list[str], coverage: Coverage | None
) -> Iterator[Task | Problem | Skipped]:
    score, plugin = _best(plugins, path)
    if plugin is not None and score >= CLAIM:
        yield Task(plugin, path, _dir_folder(parts), coverage)
        if coverage is not None:
            yield from _rest(plugins, path, parts, coverage, plugin.name)
        return
    try:
        names = sorted_names(path)  # a folder of a million exports is listed in bounded memory
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot list: {e.strerror or e}")
        return
    for name in names:
        entry = os.path.join(path, name)
        kind = _kind(entry)
        if isinstance(kind, Problem):
            yield kind
        elif kind == "dir":
            yield from _walk(plugins, entry, [*parts, name], coverage)
        else:
            yield from _file(plugins, entry, parts, coverage)


def _rest(
    plugins: dict[str, Plugin],
    path: str,
    parts: list[str],
    coverage: Coverage,
    by: str,
    forced: bool = False,
    reason: str | None = None,
) -> Iterator[Task | Problem | Skipped]:
    """What the plugin that read directory ``path`` whole left: each file no finding of it
    names goes to the walk, as if the directory had not been claimed (a ``saved.eml``
    beside a Thunderbird ``Inbox.sbd``); under ``--plugin`` it is listed as skipped, and so
    is what the plugin left out on purpose (``reason``: a feed account, a backup copy)."""
    try:
        names = sorted_names(path)
    except OSError as e:
        if path not in coverage:  # the plugin said so already
            yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot list: {e.strerror or e}")
        return
    for name in names:
        entry = os.path.join(path, name)
        kind = _kind(entry)
        left = reason or coverage.left(entry)
        if isinstance(kind, Problem):
            if entry not in coverage:
                yield kind
        elif left is not None and kind == "dir":
            yield from _rest(plugins, entry, [*parts, name], coverage, by, forced, left)
        elif left is not None:
            if entry not in coverage:
                yield Skipped(entry, left)
        elif kind == "dir":
            if forced or coverage.under(entry):
                yield from _rest(plugins, entry, [*parts, name], coverage, by, forced)
            else:
                yield from _walk(plugins, entry, [*parts, name], coverage)
        elif entry in coverage:
            continue
        elif forced:
            yield Skipped(entry, f"not read by --plugin {by}")
        else:  # a store's own bookkeeping (dovecot-uidlist) is no plugin's guess to read as mail
            yield from _file(plugins, entry, parts, coverage, least=CLAIM, left_by=by)


def _file(
    plugins: dict[str, Plugin],
    path: str,
    parts: list[str],
    coverage: Coverage | None,
    least: int = 1,
    left_by: str = "",
) -> Iterator[Task | Problem | Skipped]:
    """A file for the plugin most sure of it (at least ``least`` sure); else skipped, or a
    problem when it cannot be read at all (permission denied, I/O error)."""
    score, plugin = _best(plugins, path)
    if plugin is not None and score >= least:
        yield Task(plugin, path, _dir_folder(parts), coverage)
        return
    try:
        read_head(path, 1)
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot read: {e.strerror or e}")
        return
    if left_by:
        yield Skipped(path, f"beside or in the {left_by} store: no mail in it for any plugin")
    else:
        yield Skipped(path)


_SPECIAL = (
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(path: str) -> str | Problem:
    """'dir' or 'file' for what the walk goes into; a problem for what it will not open:
    a symbolic link (never followed, whatever it points to) or a fifo, socket, device."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as e:
        return Problem(ProblemKind.UNREADABLE, path, "", f"cannot open: {e.strerror or e}")
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        inside, reason = describe_link(path)
        return Problem(ProblemKind.SKIPPED if inside else ProblemKind.UNREADABLE, path, "", reason)
    what = next((name for test, name in _SPECIAL if test(mode)), "not a file")
    return Problem(ProblemKind.SKIPPED, path, "", f"{what}, not a file: not read")


def _scrubbed(text: str, secrets: dict[str, str]) -> str:
    """``text`` with every URL in ``secrets`` (as given, with a password) as it may be shown."""
    for given, shown in secrets.items():
        text = text.replace(given, shown)
    return text


def _unpacked(copy: Copy) -> Iterator[Copy | Problem]:
    """A copy holding TNEF (winmail.dat), as found and marked wrapped, then its rebuild with
    what the TNEF carries as plain MIME; any other copy as it is.  Here, once for every
    plugin, because any store may hold mail that passed through Exchange."""
    if not holds_tnef(copy.raw):
        yield copy
        return
    try:
        rebuilt = unpack(copy.raw)
    except ValueError as e:
        yield copy
        yield Problem(
            ProblemKind.DAMAGED,
            copy.source,
            copy.position,
            f"its winmail.dat (TNEF) part cannot be unpacked: {e}; kept as found",
        )
        return
    except Exception as e:  # a malformed MIME tree the email package chokes on: the copy still counts
        yield copy
        yield Problem(
            ProblemKind.DAMAGED,
            copy.source,
            copy.position,
            f"its winmail.dat (TNEF) part cannot be reached: {type(e).__name__}: {e}; kept as found",
        )
        return
    if rebuilt is None:
        yield copy
        return
    raw, notes = rebuilt
    yield replace(copy, wrapped=True)
    yield replace(
        copy,
        raw=raw,
        position=f"{copy.position}#tnef",
        reconstructed=True,
        wrapped=False,
        partial=copy.partial or any(lost for _, lost in notes),
    )
    for note, _ in notes:
        yield Problem(
            ProblemKind.DAMAGED,
            copy.source,
            copy.position,
            f"its winmail.dat (TNEF) {note}; what it holds before that is unpacked",
        )


def _read(task: Task, context: ReadContext) -> Iterator[Finding]:
    """The plugin's findings; a plugin that breaks its promise costs one problem, not the run."""
    try:
        for finding in task.plugin.read(task.location, context):
            if isinstance(finding, Copy):
                yield from _unpacked(finding)
            else:
                yield finding
    except Exception as e:
        yield Problem(
            ProblemKind.UNREADABLE,
            task.location,
            "",
            f"plugin {task.plugin.name} stopped: {type(e).__name__}: {e}",
        )


def _as_walked(p: Problem) -> Problem:
    """A plugin's problem about a symbolic link, said by the walk's one rule (kind and target):
    the link was not read, so no position inside it means anything."""
    if not os.path.islink(p.source):
        return p
    found = _kind(p.source)
    return found if isinstance(found, Problem) else p


def _unnamed(task: Task, coverage: Coverage) -> list[str]:
    """The file a task read when no finding names it (an empty mbox): listed as skipped.
    Files a plugin only looked into inside a claimed directory are left to the walk."""
    if task.coverage is None or task.location in coverage or not os.path.isfile(task.location):
        return []
    coverage.add(task.location)
    return [task.location]


#: Where a copy was read: its location's id, and (sorting by owner) the root below which the
#: areas are named.  It travels with the copy through the pool, so nothing kept per location
#: grows with the number of stores (53,196 ``.eml`` files held 10 MB of such roots).
_Place = tuple[int, str]


class _Fingerprints:
    """Summaries of copies, computed on every core, handed back in the order copies came.

    Fingerprinting is pure CPU, so batches of copies go to a pool of worker processes
    while the main one reads on and stores; results are taken strictly in order, so the
    workspace is the same whatever the pool size.  At most two batches per worker are in
    flight, so memory is bounded by the batch size, not by the store.  The pool starts
    only once a first batch fills: a small gather never pays for it.
    """

    def __init__(self, jobs: int, batch: int, limits: Limits) -> None:
        self.limits = limits
        self.jobs = max(1, jobs)
        self.batch = max(1, batch)
        self._waiting: list[tuple[_Place, Copy, str]] = []
        self._waiting_bytes = 0
        self._inflight: deque[tuple[list[tuple[_Place, Copy, str]], AsyncResult[list[Summary]]]] = deque()
        self._pool: Pool | None = None

    def add(self, place: _Place, copy: Copy, blob: str) -> Iterator[tuple[_Place, Copy, str, Summary]]:
        if len(copy.raw) >= _BATCH_BYTES:  # pickled to a worker, a giant copy would exist twice more
            yield from self.drain()
            yield place, copy, blob, summarize(copy.raw, self.limits)
            return
        self._waiting.append((place, copy, blob))
        self._waiting_bytes += len(copy.raw)
        if len(self._waiting) >= self.batch or self._waiting_bytes >= _BATCH_BYTES:
            yield from self._submit()

    def drain(self) -> Iterator[tuple[_Place, Copy, str, Summary]]:
        yield from self._submit(last=True)
        while self._inflight:
            yield from self._take()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _submit(self, last: bool = False) -> Iterator[tuple[_Place, Copy, str, Summary]]:
        items, self._waiting, self._waiting_bytes = self._waiting, [], 0
        if not items:
            return
        if self.jobs == 1 or (last and self._pool is None):
            yield from _joined(items, _summaries([c.raw for _, c, _ in items], self.limits))
            return
        if self._pool is None:
            self._pool = _start_pool(self.jobs)
        self._inflight.append(
            (items, self._pool.apply_async(_summaries, ([c.raw for _, c, _ in items], self.limits)))
        )
        while len(self._inflight) > 2 * self.jobs:
            yield from self._take()

    def _take(self) -> Iterator[tuple[_Place, Copy, str, Summary]]:
        items, pending = self._inflight.popleft()
        yield from _joined(items, pending.get())


def _joined(
    items: list[tuple[_Place, Copy, str]], summaries: list[Summary]
) -> Iterator[tuple[_Place, Copy, str, Summary]]:
    for (place, copy, blob), summary in zip(items, summaries, strict=True):
        yield place, copy, blob, summary


def _summaries(raws: list[bytes], limits: Limits) -> list[Summary]:
    return [summarize(raw, limits) for raw in raws]


def _start_pool(jobs: int) -> Pool:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(jobs)


def gather(
    ws: Workspace,
    locations: list[str],
    *,
    account: str = "",
    list_address: str = "",
    plugin: str | None = None,
    password: Callable[[str], str] | None = None,
    progress: Callable[[str, int, int], None] = lambda what, copies, nbytes: None,
    on_problem: Callable[[Problem], None] = lambda p: None,
    jobs: int | None = None,
    batch: int = 200,
    log_timezone: tzinfo | None = None,
    connection: ConnectionSettings | None = None,
    by_owner: JobAccounts | None = None,
) -> GatherResult:
    """Read every store under ``locations`` into the workspace for ``account``.

    ``jobs`` processes fingerprint copies (default: one per core), ``batch`` copies at a time.
    ``log_timezone`` is the server's zone for log times that carry none (None: this machine's).
    ``connection`` is how careful network sources' connections are (None: from the environment).
    ``by_owner``: the accounts of a job; each copy is filed under those its evidence names
    instead of under ``account`` (``byowner``).
    """
    result = GatherResult()
    finished = 0  # bytes of the stores read to their end, and of files passed over
    task_bytes = read_bytes = 0  # the size of the store being read, and what its plugin read of it
    claimed = ""  # the last folder read whole as one store

    def done() -> int:  # a plugin that never says what it read still counts when its store ends
        return finished + min(read_bytes, task_bytes)

    def advance(n: int) -> None:
        nonlocal read_bytes
        read_bytes += max(0, n)
        progress(shown, result.copies, done())

    # a password given inside a URL (refused by its plugin) is cut out of everything kept or shown
    secrets = {given: shown for given in locations if (shown := without_password(given)) != given}
    shown = ""  # the location being read, as it may be shown

    def problem(p: Problem, loc: int | None, owners: list[str] | None = None) -> None:
        """Keep a problem under ``owners``: by default ``account``, or sorting by owner, the
        account whose area holds what could not be read ("" for the job when none)."""
        p = Problem(p.kind, *(storable(_scrubbed(t, secrets)) for t in (p.source, p.position, p.reason)))
        result.problems.append(p)
        if owners is None:
            owners = [account if job is None else area_account(p.source, reading, job)]
        for owner in owners:
            store.save_problem(ws.db, loc, owner, p)
        on_problem(p)

    limits = current_limits()
    fingerprints = _Fingerprints(os.cpu_count() or 1 if jobs is None else jobs, batch, limits)
    pending = 0
    gathered = now_text()  # one time for each batch of rows

    job = JobIndex(by_owner) if by_owner is not None else None  # built once: each copy looks up its domains
    filled: set[str] = set()  # by owner: accounts given new copies
    piled = job is not None and store.count_unassigned(ws.db) > 0  # else nothing can leave the pile
    reading = ""  # the location being read: the root below which areas are named
    withdrawn: list[tuple[int, str]] = []  # by owner: (copy id, account) to take back

    def withdraw() -> None:
        """Take each misfiled copy out of its account, saying where it was restored from there
        (unless another copy keeps its message in the account: then it is rightly there)."""
        for owner in sorted({w[1] for w in withdrawn}):
            ids = [there for there, whose in withdrawn if whose == owner]
            for loc, source, position, message_id, targets in store.restored_only_by(ws.db, ids):
                for target in targets:
                    reason = (
                        f"<{message_id or 'no Message-ID'}> was filed under {owner} by a weak hint (or an "
                        f"older sort) and restored to {target}; a later sort files it elsewhere: take it "
                        f"out of {target} by hand"
                    )
                    problem(Problem(ProblemKind.MISFILED, source, position, reason), loc, [owner])
            store.withdraw_copies(ws.db, owner, ids)

    def file_copy(loc: int, root: str, copy: Copy, blob: str, summary: Summary) -> list[str]:
        """Store a copy; the accounts it was filed under ("" : the unassigned pile)."""
        if job is None:
            result.new_copies += store.save_copy(ws, loc, account, copy, summary, blob, gathered)
            return [account]
        found = assign(copy, summary.clues, summary.from_addr, root, job)
        earlier = store.weakly_filed(ws.db, loc, copy.source, copy.position, blob)
        for there, owner in earlier:
            if owner in job and owner not in found.accounts:  # a job without ``owner`` knows no better
                withdrawn.append((there, owner))
        if found.by in ("writer", "area"):  # a copy with no evidence: weak hints only, as before
            known = sorted({owner for _, owner in earlier if owner not in job})
            if known:  # a job that had that account weighed the same hints: this one cannot judge
                return known
        for owner in found.accounts:
            new = store.save_copy(ws, loc, owner, copy, summary, blob, gathered, found.by)
            result.new_copies += new
            result.owners[owner] = result.owners.get(owner, 0) + 1
            if new:
                filled.add(owner)
        if found.accounts:
            if piled:  # an earlier sort (a shorter job) put it on the pile
                store.remove_unassigned(ws.db, copy.source, copy.position, blob)
            return found.accounts
        result.unassigned += 1
        evidence = [{"field": c.field, "address": c.address} for c in found.clues]
        result.new_copies += store.save_unassigned(
            ws, loc, copy, summary, blob, evidence, found.reason, gathered
        )
        return [""]

    def keep(stored: Iterator[tuple[_Place, Copy, str, Summary]]) -> None:
        nonlocal pending, gathered
        for (loc, root), copy, blob, summary in stored:
            owners = file_copy(loc, root, copy, blob, summary)
            for reason in summary.limits:
                problem(Problem(ProblemKind.LIMIT, copy.source, copy.position, reason), loc, owners)
            pending += 1
            if pending >= _BATCH:
                ws.commit()  # one durable commit per batch: the bytes first, then the rows
                give_back()  # what the batch freed, so a long gather stays the size of one batch
                store.begin(ws.db)
                pending, gathered = 0, now_text()

    def skip(path: str, reason: str) -> None:
        path = storable(path)
        result.skipped.append(path)
        result.why_skipped[path] = reason
        store.save_skipped(ws.db, path, account)

    coverage = Coverage()
    with ws.loading_copies():
        store.begin(ws.db)
        try:
            for location in locations:
                reading = location
                local = "://" not in location
                with confined(source_root(location)) if local else contextlib.nullcontext() as scope:
                    for item in plan(location, plugin, coverage):
                        if isinstance(item, Problem):
                            problem(item, None)
                            coverage.add(item.source)
                            continue
                        if isinstance(item, Skipped):
                            finished += 0 if _inside(item.path, claimed) else _size(item.path)
                            skip(item.path, item.reason)
                            continue
                        task = item
                        shown = without_password(task.location)
                        task_bytes, read_bytes = (
                            0 if _inside(task.location, claimed) else _size(task.location),
                            0,
                        )
                        if task_bytes and os.path.isdir(task.location):
                            claimed = task.location  # what the walk finds left in it was counted with it
                        result.stores += 1
                        where = account if by_owner is None else BY_OWNER  # its own reading state
                        loc = ws.location(storable(shown), task.plugin.name, where, list_address)
                        # sorting by owner: the given location (a network one's folder) names the areas
                        root = "" if job is None else task.location if "://" in location else location
                        state = ws.plugin_state(loc)
                        fresh = by_owner is None and not store.location_has_copies(
                            ws.db, account, loc
                        )  # nothing to look up
                        context = ReadContext(
                            account=account or None,
                            list_address=list_address or None,
                            folder=task.folder,
                            state=state,
                            advance=advance,
                            timezone=log_timezone,
                            connection=connection,
                        )
                        if password is not None:
                            context.password = password
                        context.leave = coverage.leave
                        for finding in _read(task, context):
                            coverage.add(finding.source)
                            if isinstance(finding, Copy):
                                result.copies += 1
                                folder = folder_text(finding.folder)
                                result.folders[folder] = result.folders.get(folder, 0) + 1
                                blob = hashlib.sha256(finding.raw).hexdigest()
                                if (
                                    fresh
                                    or by_owner is not None
                                    or not store.copy_known(
                                        ws.db, account, finding.source, finding.position, blob
                                    )
                                ):
                                    keep(fingerprints.add((loc, root), finding, blob))
                            elif isinstance(finding, Evidence):
                                result.evidence += 1
                                owner = account if job is None else evidence_account(finding, job)
                                store.save_evidence(ws.db, loc, owner, list_address, finding)
                            elif isinstance(finding, Item):
                                result.items[finding.kind] = result.items.get(finding.kind, 0) + 1
                                result.new_items += store.save_item(ws.db, loc, account, finding, gathered)
                            elif isinstance(finding, Problem):
                                problem(
                                    _expected(task, _as_walked(finding) if scope is not None else finding),
                                    loc,
                                )
                            progress(shown, result.copies, done())
                        finished, task_bytes = finished + task_bytes, 0
                        progress(shown, result.copies, done())
                        for path in _unnamed(task, coverage):
                            skip(path, f"read by {task.plugin.name}: no mail in it")
                        if state.changed:
                            keep(fingerprints.drain())  # what the state says was read must be stored first
                            ws.save_plugin_state(loc, state)
            keep(fingerprints.drain())
            withdraw()  # at the end: the merges they undo are read first for what was restored
        finally:
            fingerprints.close()
            coverage.close()
            ws.commit()  # what was read before an interrupt is kept
    for name in filled if by_owner is not None else [account] if result.new_copies else []:
        store.mark_unmerged(ws.db, name)
    return result
