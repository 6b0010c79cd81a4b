"""The restore stage: merged, checked messages of one account written to a target."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from .errors import BlobError, MailRecoverError, UsageError
from .memory import give_back
from .merged import DELETED_FOLDER, ensure_merged, placement
from .model import Flag, JournalState, MessageStatus, Problem, ProblemKind
from .spill import spilled
from .targets import Journal, Outgoing, Target, Verification, open_target
from .workspace import Workspace, now_text, store

if TYPE_CHECKING:
    from .imapconn import ConnectionSettings

__all__ = [
    "FolderMap",
    "RestoreResult",
    "Selection",
    "outgoing",
    "record_verification",
    "restore",
    "DELETED_FOLDER",
]


_GIVE_BACK_EVERY = 1000  # messages read from the workspace between returns of freed memory


@dataclass(frozen=True)
class Selection:
    """Which messages a restore takes: by folder (shell-style patterns on the folder path as it
    is restored, a pattern naming a folder names its subfolders too) and by arrival date
    (``messages.date``: since is inclusive, before exclusive). Nothing given: everything."""

    folders: tuple[str, ...] = ()  # include only these (none: every folder)
    excluded: tuple[str, ...] = ()
    since: datetime | None = None
    before: datetime | None = None

    @classmethod
    def parse(
        cls,
        folders: Sequence[str] = (),
        excluded: Sequence[str] = (),
        since: str | None = None,
        before: str | None = None,
    ) -> Selection:
        return cls(tuple(folders), tuple(excluded), _bound("--since", since), _bound("--before", before))

    def __bool__(self) -> bool:
        return bool(self.folders or self.excluded or self.dated)

    @property
    def dated(self) -> bool:
        return self.since is not None or self.before is not None

    def wants_folder(self, folder: str) -> bool:
        return (not self.folders or _matches(self.folders, folder)) and not _matches(self.excluded, folder)

    def wants(self, folder: str, date: str | None) -> bool:
        """Whether a message in ``folder`` that arrived at ``date`` (ISO text; None: unknown) is taken."""
        if not self.wants_folder(folder):
            return False
        if not self.dated:
            return True
        if not date:
            return False  # no arrival known: left to a restore without dates, never guessed in
        when = _date(date)
        return (self.since is None or when >= self.since) and (self.before is None or when < self.before)


def _matches(patterns: Sequence[str], folder: str) -> bool:
    parts = folder.split("/")
    paths = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatchcase(path, pattern.strip("/")) for pattern in patterns for path in paths)


def _bound(option: str, text: str | None) -> datetime | None:
    """``2012-06-01`` (midnight UTC) or an ISO time with its zone (``2012-06-01T09:00+09:00``)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected a date such as 2012-06-01 or 2012-06-01T09:00+09:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FolderMap:
    """Where a folder goes: ``FROM=TO`` rules (a regular expression on the folder path and its
    replacement, ``\\1`` for a group), each applied in turn to what the one before made, then
    everything put under ``under``. The result is a path as any folder is: the target cleans
    its names (`targets.safe_parts`) as it does every other folder's."""

    rules: tuple[tuple[re.Pattern[str], str], ...] = ()
    under: str = ""

    @classmethod
    def parse(cls, maps: Sequence[str] = (), under: str | None = None) -> FolderMap:
        rules = []
        for rule in maps:
            pattern, sep, replacement = rule.partition("=")
            if not sep or not pattern:
                raise UsageError(
                    f"--folder-map {rule!r}: expected FROM=TO (a regular expression, its replacement)"
                )
            try:
                compiled = re.compile(pattern)
                compiled.sub(replacement, "")  # a bad group reference fails here, not mid-restore
            except (re.error, IndexError) as e:
                raise UsageError(f"--folder-map {rule!r}: {e}") from None
            rules.append((compiled, replacement))
        return cls(tuple(rules), "/".join(p for p in (under or "").split("/") if p))

    def __bool__(self) -> bool:
        return bool(self.rules or self.under)

    def __call__(self, folder: str) -> str:
        for pattern, replacement in self.rules:
            try:
                folder = pattern.sub(replacement, folder)
            except (re.error, IndexError) as e:
                raise UsageError(f"--folder-map {pattern.pattern}={replacement}: {e}") from None
        folder = "/".join(p for p in folder.split("/") if p) or "INBOX"
        return f"{self.under}/{folder}" if self.under else folder


@dataclass
class RestoreResult:
    target: str
    planned: int = 0  # every message the account has to go there
    written: int = 0
    labelled: int = 0  # labels added to messages written before (Gmail: a COPY, no second upload)
    to_write: int = 0  # of the planned, those the journal does not hold as there already
    already: int = 0  # planned and already there (after a run: planned - written)
    quarantined: int = 0  # held back by the ownership check
    included: int = 0  # quarantined, restored anyway because the user asked
    bytes: int = 0  # of the messages to write
    folders: dict[str, int] = field(default_factory=dict)  # planned messages per folder (dry run: to write)
    mapped: dict[str, str] = field(default_factory=dict)  # folder -> where --folder-map/--under put it
    # dry run to a server: folder -> (the server's folder, why there); ``unplaced`` when it could not be asked
    placed: dict[str, tuple[str, str]] = field(default_factory=dict)
    unplaced: str = ""
    held_back: list[tuple[str, str, str]] = field(default_factory=list)  # (message-id, subject, why)
    included_list: list[tuple[str, str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the target could not restore (a refused folder)
    damaged: list[Problem] = field(default_factory=list)  # damaged bytes in the workspace, and what was done
    unrestorable: int = 0  # planned, but no intact copy was left in the workspace
    undated: int = 0  # left out of a restore by date because no arrival date is known
    verification: Verification | None = None  # what the target was found to hold (None: it cannot say)


def _date(text: str | None) -> datetime:
    if text:
        try:
            dt = datetime.fromisoformat(text)
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def outgoing(
    ws: Workspace,
    account: str,
    include_quarantined: bool = False,
    damaged: Callable[[Problem, bool], None] = lambda problem, replaced: None,
    selection: Selection = Selection(),
    mapping: FolderMap = FolderMap(),
    *,
    journal: _PlannedJournal | None = None,
) -> Iterator[Outgoing]:
    """The messages to restore, folder by folder, oldest first; raw bytes loaded one at a time.
    ``journal`` (the target's) is told what it holds of each message before it goes out.

    Every message's bytes are checked against their hash as they are read: a message whose
    canonical copy is damaged or lost in the workspace goes out as its next whole copy (see
    ``_another_copy``), or not at all; ``damaged`` hears of each (its problem, whether replaced).

    The ordered list is read once into an unlinked file in the workspace and the query
    closed before any message goes out: a query left open while the journal commits after
    each batch keeps SQLite from ever starting its write-ahead log over (measured: 88 MB of
    log for 200,000 journal entries, growing without end), which a long restore would pay
    for in disk and in every look-up.
    """
    statuses = (
        (MessageStatus.OK, MessageStatus.QUARANTINED) if include_quarantined else (MessageStatus.OK,)
    )  # never UNCHECKED
    route = _Routes(selection, mapping)
    rows = store.journalled_plan(ws.db, account, statuses, journal.target if journal else "")
    plan = spilled(
        rows, None if ws.read_only else ws.path
    )  # read to its end; in the workspace, private as it is
    dated = selection.dated
    for n, row in enumerate(plan, 1):
        (
            key,
            stored,
            flags,
            date,
            message_id,
            blob,
            pack,
            offset,
            length,
            message,
            arrived,
            places,
            state,
            ref,
        ) = row
        placed, folder, flagset = route(stored, flags)
        if folder is None or (dated and not selection.wants(placed, arrived)):
            continue
        labels = _labels(stored, places, selection, mapping) if placed == stored else ()
        try:
            raw = ws.blobs.read(blob, None if length is None else (pack, offset, length))
        except BlobError as e:
            found, problem = _another_copy(ws, message, message_id or key, e)
            damaged(problem, found is not None)
            if found is None:
                continue
            raw, also, digest = found, frozenset({blob}), ""
        else:
            also, digest = frozenset(), blob  # the read checked the bytes against this name
        if journal is not None:
            journal.know(key, state, ref)
        yield Outgoing(
            key=key,
            folder=folder,
            flags=flagset,
            date=_date(date),
            raw=raw,
            message_id=message_id,
            also=also,
            labels=labels,
            digest=digest,
        )
        if n % _GIVE_BACK_EVERY == 0:
            give_back()  # the messages sent so far were freed: a long restore stays one batch big


def _labels(folder: str, places: str | None, selection: Selection, mapping: FolderMap) -> tuple[str, ...]:
    """The other folders a message filed in ``folder`` is in, as restored: those of its copies
    not marked deleted and their labels (``restore_plan``'s places), within the selection."""
    if not places or places == "[]":
        return ()
    found: list[str] = []
    for where, flags, labels in json.loads(places):
        if Flag.DELETED not in flags.split(","):
            found += [where, *labels]
    mapped = {mapping(f) for f in found if f != folder and selection.wants_folder(f)} - {mapping(folder)}
    return tuple(sorted(mapped))


class _Routes:
    """Where a stored (folder, flags) goes: its placed folder, that folder as the selection and
    mapping leave it (``None``: not selected), its flags; worked out once per pair, since an
    account has few pairs and many messages."""

    def __init__(self, selection: Selection, mapping: FolderMap) -> None:
        self._selection = selection
        self._mapping = mapping
        self._known: dict[tuple[str, str], tuple[str, str | None, frozenset[Flag]]] = {}

    def __call__(self, folder: str, flags: str) -> tuple[str, str | None, frozenset[Flag]]:
        known = self._known.get((folder, flags))
        if known is None:
            placed, flagset = placement(folder, flags)
            mapped = self._mapping(placed) if self._selection.wants_folder(placed) else None
            known = self._known[(folder, flags)] = (placed, mapped, flagset)
        return known


class _PlannedJournal:
    """A target's journal that answers for planned messages from the plan's own join.

    ``state``/``ref`` of a key the plan just handed out come from what the plan read with it
    (one query for the run instead of two look-ups per message); anything else, and every
    write, goes to the workspace's journal. What the plan read stays true until the target
    marks that key, since only this process writes the workspace: a mark forgets it.
    """

    _WINDOW = 8192  # keys remembered: more than any target holds between receiving and looking

    def __init__(self, journal: Journal, target: str) -> None:
        self._journal = journal
        self.target = target
        self._known: dict[str, tuple[JournalState | None, str | None]] = {}

    def know(self, key: str, state: str | None, ref: str | None) -> None:
        self._known[key] = (None if state is None else JournalState(state), ref)
        if len(self._known) > self._WINDOW:
            del self._known[next(iter(self._known))]  # the oldest

    def state(self, key: str) -> JournalState | None:
        known = self._known.get(key)
        return self._journal.state(key) if known is None else known[0]

    def ref(self, key: str) -> str | None:
        known = self._known.get(key)
        return self._journal.ref(key) if known is None else known[1]

    def mark(self, key: str, state: JournalState, ref: str = "") -> None:
        self._known.pop(key, None)
        self._journal.mark(key, state, ref)

    def mark_many(self, entries: Iterable[tuple[str, JournalState, str]]) -> None:
        entries = list(entries)
        for key, _state, _ref in entries:
            self._known.pop(key, None)
        self._journal.mark_many(entries)


def _another_copy(ws: Workspace, message: int, name: str, damage: BlobError) -> tuple[bytes | None, Problem]:
    """The bytes of ``message``'s best whole copy whose own bytes are intact (by the merge's
    ranking), or ``None``; and the problem line that says which blob failed and what was done."""
    from .merge import ranked_copies  # the merge's rules load only when a blob is damaged

    bad = {damage.digest}
    for copy_id, blob, source, position in ranked_copies(ws.db, message):
        if blob in bad:
            continue
        try:
            raw = ws.blobs.get(blob)
        except BlobError as e:
            bad.add(e.digest)
            continue
        where = source + (f" @{position}" if position else "")
        reason = (
            f"message <{name}>: stored copy {damage.reason}; restored from copy {copy_id} ({where}) instead"
        )
        return raw, _blob_problem(damage.digest, reason)
    reason = f"message <{name}>: stored copy {damage.reason} and no other whole copy is intact: not restored"
    return None, _blob_problem(damage.digest, reason)


def _blob_problem(digest: str, reason: str) -> Problem:
    return Problem(ProblemKind.DAMAGED, f"workspace blob {digest}", "", reason)


def restore(
    ws: Workspace,
    account: str,
    spec: str | Target,
    *,
    dry_run: bool = False,
    include_quarantined: bool = False,
    progress: Callable[[int], None] = lambda n: None,
    password: Callable[[str], str] | None = None,
    connection: ConnectionSettings | None = None,
    planned: Callable[[int], None] = lambda n: None,
    connections: int | None = None,
    selection: Selection = Selection(),
    mapping: FolderMap = FolderMap(),
    max_rate: int | None = None,
) -> RestoreResult:
    """Write ``account``'s messages to ``spec``; ``progress`` is told of each message done
    (written or found there), ``planned`` of how many there are before the first."""
    ensure_merged(ws, account)  # every message checked against the current copies and rules
    target = (
        open_target(
            spec, password=password, connection=connection, connections=connections, max_rate=max_rate
        )
        if isinstance(spec, str)
        else spec
    )
    result = RestoreResult(target=target.description)
    for message_id, subject, reason, folder, flags, arrived in store.quarantined_messages(ws.db, account):
        if not selection.wants(placement(folder, flags)[0], arrived):
            continue  # outside what was asked for: neither restored nor held back now
        result.quarantined += 1
        result.held_back.append((message_id or "", subject or "", reason))
    dated = selection.dated
    route = _Routes(selection, mapping)
    sources: set[str] = set()
    groups = store.planned_groups(ws.db, account, target.description, include_quarantined, dated)
    for folder, flags, there, arrived, count, size in groups:  # per message only when dated
        placed, mapped, _ = route(folder, flags)
        if mapped is None or (dated and not selection.wants(placed, arrived)):
            result.undated += count if dated and not arrived and mapped is not None else 0
            continue
        sources.add(placed)
        if mapping:
            result.mapped[placed] = mapped
        result.planned += count
        if there:
            result.already += count
        else:
            result.to_write += count
            result.bytes += size
        if there and dry_run:
            continue
        result.folders[mapped] = result.folders.get(mapped, 0) + count
    if include_quarantined:  # the user said so: restored knowingly, listed as such
        result.included, result.quarantined = result.quarantined, 0
        result.included_list, result.held_back = result.held_back, []
    if dry_run:
        _preview(target, sources, mapping, result)
        return result

    def damaged(problem: Problem, replaced: bool) -> None:
        result.damaged.append(problem)
        result.unrestorable += not replaced

    planned(result.planned)
    with ws.restoring():
        try:
            journal = _PlannedJournal(ws.journal(target.description), target.description)
            result.written = target.write(
                outgoing(ws, account, include_quarantined, damaged, selection, mapping, journal=journal),
                journal,
                progress,
            )
        finally:  # kept also when the target raised after its last look (mail it could not put back)
            check = result.verification = getattr(
                target, "verification", None
            )  # one from elsewhere may not look
            if check is not None and check.planned and check.present + check.missing == check.planned:
                note = "a selective restore: only part of the account was planned" if selection else ""
                record_verification(ws, target.description, account, check, "restore", note)
    result.already = min(
        result.already, result.planned - result.written - result.unrestorable
    )  # never a refused one
    if result.verification is not None and result.verification.planned == result.planned:
        result.already = max(
            0, result.verification.present - result.written
        )  # what the target was seen to hold
    result.problems = list(getattr(target, "problems", ()))  # a stand-in target may have none
    result.labelled = getattr(target, "labelled", 0)
    return result


def _preview(target: Target, sources: set[str], mapping: FolderMap, result: RestoreResult) -> None:
    """Where each source folder would go on a target that can say so without writing (IMAP)."""
    preview = getattr(target, "preview", None)
    if preview is None or not sources:
        return
    to = {source: mapping(source) for source in sources}
    try:
        placed = preview(sorted(set(to.values())))
    except MailRecoverError as e:
        result.unplaced = str(e)
        return
    for source in sorted(sources):
        name, why = placed[to[source]]
        renamed = f"--folder-map/--under made it {to[source]}; " if to[source] != source else ""
        result.placed[source] = (name, renamed + why)


def record_verification(
    ws: Workspace, target: str, account: str, check: Verification, by: str, note: str = ""
) -> None:
    """Keep what ``target`` held of ``account``'s plan, as found now (``report`` shows the last)."""
    store.save_verification(
        ws.db,
        target,
        account,
        now_text(),
        by,
        check.planned,
        check.present,
        check.missing,
        check.repaired,
        note,
    )
