"""Feed one plugin one (damaged) input and check what a recovery relies on.

For every input: the plugin's ``read`` raises nothing; it yields only copies, evidence and
problems; each problem names a file under the input and gives a one-line reason; the input
is left exactly as it was; the read stays within a time guard and a memory budget (Python
allocations, traced); the core's ``summarize`` takes every copy without raising; and every
message the plugin found in the undamaged input wholly before the damage is found again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from mailrecover.fingerprint import summarize
from mailrecover.items import icalendar, vcards
from mailrecover.model import Copy, Evidence, Item, ItemKind, Problem
from mailrecover.plugin import CLAIM, Plugin, ReadContext, load_plugins

from .mutate import Mutated

__all__ = ["Outcome", "STATS", "Seed", "fixture_root", "read_checked", "seeds", "tried"]

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
ACCOUNT = "fuzz@example.com"

#: A read running longer than this is a hang (generous: CI machines are shared and slow).
TIME_GUARD = float(os.environ.get("MAILRECOVER_FUZZ_TIME_GUARD", "60"))

#: Traced Python memory a read may use: a fixed allowance plus a multiple of the input size.
MEMORY_BASE = 48 << 20
MEMORY_FACTOR = 40
_BIGGEST_SEED = 4 << 20


class Hang(BaseException):
    """Raised inside a read that outlived the time guard (not an Exception: plugins
    catching ``Exception`` must not swallow it)."""


@dataclass(frozen=True)
class Seed:
    """A real sample a plugin is fed: a file, or a store directory the plugin claims."""

    plugin: str
    path: Path
    own: bool  # of the plugin's own kind (it detects it) or another's

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.is_file() and not p.is_symlink())

    def __str__(self) -> str:
        for base in (CORPUS, fixture_root()):
            if self.path.is_relative_to(base):
                return f"{base.name}/{self.path.relative_to(base)}"
        return str(self.path)


@dataclass
class Outcome:
    """What one read of one input showed."""

    plugin: str
    input: str
    copies: list[Copy] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)  # contacts and calendar items (Outlook)
    crash: str | None = None  # the plugin raised
    core_crash: str | None = None  # summarize raised on a copy
    hang: bool = False
    peak: int = 0
    budget: int = 0
    touched: bool = False
    faults: list[str] = field(default_factory=list)  # broken promises other than the above

    def failures(self) -> list[str]:
        out = list(self.faults)
        if self.crash:
            out.append(f"crash: {self.crash}")
        if self.core_crash:
            out.append(f"summarize crashed: {self.core_crash}")
        if self.hang:
            out.append(f"hang: still reading after {TIME_GUARD:.0f} s")
        if self.peak > self.budget:
            out.append(f"memory: {self.peak >> 20} MiB traced, budget {self.budget >> 20} MiB")
        if self.touched:
            out.append("the input was changed by reading it")
        return out


class Stats:
    """Counts over the whole run, printed at its end."""

    def __init__(self) -> None:
        self.inputs: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()
        self.copies = 0
        self.failures: dict[str, None] = {}  # in order, once each (shrinking repeats them)
        self.peak = 0
        self.most_problems: dict[str, tuple[int, str]] = {}  # plugin -> (count, input)

    def add(self, outcome: Outcome, label: str) -> None:
        self.inputs[outcome.plugin] += 1
        self.copies += len(outcome.copies)
        self.problems.update(p.kind.value for p in outcome.problems)
        self.peak = max(self.peak, outcome.peak)
        self.failures.update((f"{outcome.plugin} on {label}: {f}", None) for f in outcome.failures())
        if len(outcome.problems) > self.most_problems.get(outcome.plugin, (0, ""))[0]:
            self.most_problems[outcome.plugin] = (len(outcome.problems), label)

    def lines(self) -> list[str]:
        total = sum(self.inputs.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.problems.items())) or "none"
        out = [
            f"fuzz: {total} inputs through {len(self.inputs)} plugins, {self.copies} copies read, "
            f"{sum(self.problems.values())} problems reported ({kinds}), "
            f"{len(self.failures)} failures (crashes, hangs, memory, lost or touched input), "
            f"largest traced peak {self.peak / (1 << 20):.1f} MiB",
            "fuzz: per plugin: " + ", ".join(f"{p} {n}" for p, n in sorted(self.inputs.items())),
        ]
        noisy = sorted(
            ((n, p, where) for p, (n, where) in self.most_problems.items() if n > 100), reverse=True
        )
        out += [f"fuzz: {p} reported {n} problems for one input ({where})" for n, p, where in noisy]
        out += [f"fuzz FAILURE: {f}" for f in list(self.failures)[:50]]
        return out


STATS = Stats()


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    found: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            found[str(path.relative_to(root))] = (digest, st.st_mtime_ns, st.st_mode)
    return found


@contextlib.contextmanager
def _time_guard(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Hang()

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _under(root: Path, source: str) -> bool:
    path = source.split("://", 1)[-1] if "://" in source else source
    try:
        return Path(os.path.abspath(path)).is_relative_to(root) or path.startswith(str(root))
    except (ValueError, OSError):
        return False


def _short(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(e).__name__}: {str(e)[:200]}{where}"


def read_checked(plugin: Plugin, name: str, location: Path, root: Path) -> Outcome:
    """Read ``location`` (inside ``root``) with ``plugin`` and check every promise but loss."""
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    out = Outcome(name, str(location.relative_to(root)), budget=MEMORY_BASE + MEMORY_FACTOR * size)
    before = _snapshot(root)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        with _time_guard(TIME_GUARD):
            for finding in plugin.read(str(location), ReadContext(account=ACCOUNT)):
                if isinstance(finding, Copy):
                    out.copies.append(finding)
                elif isinstance(finding, Evidence):
                    out.evidence.append(finding)
                elif isinstance(finding, Problem):
                    out.problems.append(finding)
                elif isinstance(finding, Item):
                    out.items.append(finding)
                else:
                    out.faults.append(f"yielded a {type(finding).__name__}, not a finding")
    except Hang:
        out.hang = True
    except Exception as e:
        out.crash = _short(e)
    finally:
        out.peak = tracemalloc.get_traced_memory()[1] - base
        if not tracing:
            tracemalloc.stop()
    out.touched = _snapshot(root) != before
    for p in out.problems:
        if not p.source or not _under(root, p.source):
            out.faults.append(f"problem names no file of the input: {p.source!r} ({p.reason[:80]})")
        if not p.reason.strip() or "\n" in p.reason:
            out.faults.append(f"problem reason is not one line: {p.reason[:80]!r}")
    for i in out.items:
        if not _under(root, i.source):
            out.faults.append(f"item names no file of the input: {i.source!r}")
        try:  # whatever a damaged file made of it, export-items can write it
            if i.kind is not ItemKind.EVENT:
                vcards([i])
            elif i.start is not None:  # (one without a start is left out, with a problem line)
                icalendar([i])
        except Exception as e:
            out.core_crash = _short(e)
    for c in out.copies:
        if not isinstance(c.raw, bytes) or not _under(root, c.source):
            out.faults.append(f"copy with bad raw or source {c.source!r}")
            continue
        try:
            summarize(c.raw)
        except Exception as e:
            out.core_crash = _short(e)
    return out


def _rel(root: Path, source: str) -> str:
    try:
        return str(Path(os.path.abspath(source)).relative_to(root))
    except ValueError:
        return source


def lost_before_damage(
    base: Outcome, base_root: Path, got: Outcome, root: Path, target: str, original: bytes, damage: int
) -> list[str]:
    """Messages of the undamaged read that the damaged read no longer has.

    A copy from an untouched file must come back from the same file and position.  A copy
    from the damaged file whose bytes lie wholly before the damage must come back whole:
    some copy from that file must start with its bytes (the damage may glue what follows
    onto it, but must not take it away).  Copies a plugin rebuilds (not found verbatim in
    the file) are not checked against the damaged file.
    """
    have = {(_rel(root, c.source), c.position) for c in got.copies}
    from_target = [c.raw for c in got.copies if _rel(root, c.source) == target]
    lost = []
    for c in base.copies:
        where = _rel(base_root, c.source)
        if where != target:
            if (where, c.position) not in have:
                lost.append(f"copy from untouched {where} @{c.position} lost")
            continue
        raw = c.raw.rstrip(b"\r\n")
        at = original.find(raw) if raw else -1
        if at < 0 or at + len(c.raw) + 1 >= damage:
            continue
        if not any(r.startswith(raw) for r in from_target):
            lost.append(f"intact copy at byte {at} (of {len(raw)} bytes) before the damage at {damage} lost")
    return lost


# --- seeds --------------------------------------------------------------------------


@cache
def fixture_root() -> Path:
    """Stores the test builders write (see ``fixtures``), once per run, in a temporary folder."""
    from .fixtures import build_all

    root = Path(tempfile.mkdtemp(prefix="mailrecover-fuzz-fixtures-")) / "fixtures"
    build_all(root)
    return root


def _paths() -> list[Path]:
    roots = [fixture_root()] + ([CORPUS] if CORPUS.is_dir() else [])
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            here = Path(dirpath)
            if here != root:
                found.append(here)
            found += [here / f for f in sorted(filenames) if f != "SOURCES.md"]
    return found


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _score(plugin: Plugin, path: Path) -> int:
    try:
        return int(plugin.detect(str(path)))
    except Exception:
        return 0


@cache
def seeds() -> dict[str, list[Seed]]:
    """Each plugin's own samples (files it reads best, directories it claims), then a few
    samples of other kinds to prove it turns them away cleanly."""
    plugins = load_plugins()
    own: dict[str, list[Seed]] = {name: [] for name in plugins}
    for path in _paths():
        if _size(path) > _BIGGEST_SEED:
            continue
        scores = {name: _score(p, path) for name, p in plugins.items()}
        best = max(scores.values(), default=0)
        if best <= 0 or (path.is_dir() and best < CLAIM):
            continue
        for name, score in scores.items():
            if score == best:
                own[name].append(Seed(name, path, True))
    result: dict[str, list[Seed]] = {}
    for name in plugins:
        foreign = [s for other, ss in own.items() if other != name for s in ss[:1] if s.path.is_file()]
        result[name] = own[name] + [Seed(name, s.path, False) for s in foreign]
    return result


def tried(outcome: Outcome, label: str) -> Outcome:
    STATS.add(outcome, label)
    return outcome


@dataclass
class Prepared:
    """A private copy of a seed with one file damaged."""

    root: Path
    location: Path
    target: str  # the damaged file, relative to root
    original: bytes
    mutated: Mutated | None


def prepare(
    seed: Seed, into: Path, file_index: int, mutation: Mutated | None, gzip_name: bool = False
) -> Prepared:
    """Copy the seed into ``into`` and apply ``mutation`` to one of its files."""
    location = into / seed.path.name
    if seed.path.is_dir():
        shutil.copytree(seed.path, location, symlinks=True)
    else:
        shutil.copy2(seed.path, location)
    files = seed.files()
    chosen = files[file_index % len(files)] if files else seed.path
    rel = chosen.relative_to(seed.path.parent)
    target = into / rel
    original = chosen.read_bytes() if chosen.is_file() else b""
    if mutation is not None and chosen.is_file():
        if gzip_name and not target.name.endswith(".gz"):
            target.unlink()
            target = target.with_name(target.name + ".gz")
            if location == into / rel:
                location = target
        target.write_bytes(mutation.data)
    return Prepared(into, location, str(target.relative_to(into)), original, mutation)


@cache
def baseline(plugin_name: str, seed: Seed) -> tuple[Outcome, Path]:
    """The plugin's read of the undamaged seed (and the folder it was read in, now gone)."""
    plugin = load_plugins()[plugin_name]
    root = Path(tempfile.mkdtemp(prefix="mailrecover-fuzz-"))
    try:
        prepared = prepare(seed, root, 0, None)
        return read_checked(plugin, plugin_name, prepared.location, root), root
    finally:
        shutil.rmtree(root, ignore_errors=True)
