"""Peak memory of gathering one giant message: ``python3 -m benchmarks.giant_message --mb 200``.

Writes a message of ``--mb`` MB whose body is one line without a final newline (the shape
that also tripped the cut-off verdict), as an ``.eml`` file and inside an mbox, and one whose
body is short words, and gathers each in a fresh ``mailrecover gather`` process.  Prints the peak resident size of that process
and its children (the fingerprinting pool) against the message's size; the target is a peak
under twice the largest message.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .run import Stage, _run  # one way of measuring a stage for every benchmark

__all__ = ["main"]

_HEAD = (
    b"From: Jiro <jiro@example.org>\nTo: taro@example.co.jp\nSubject: giant\n"
    b"Date: Mon, 11 Jun 2012 09:00:00 +0900\nMessage-ID: <giant@example.org>\n\n"
)


def _write(path: Path, prefix: bytes, size: int, words: bool = False) -> None:
    line = b"word " * (1 << 18) if words else b"x" * (1 << 20)
    with path.open("wb") as f:
        f.write(prefix + _HEAD)
        left = size - len(_HEAD)
        while left > 0:
            f.write(line[: min(left, len(line))])
            left -= len(line)


def _gather(location: Path, workspace: Path) -> Stage:
    """The gather as one measured stage: peak RSS and PSS of its whole process tree."""
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{repo / 'plugins'}"}
    argv = [
        sys.executable,
        "-m",
        "mailrecover",
        "--workspace",
        str(workspace),
        "gather",
        "--account",
        "taro@example.co.jp",
        str(location),
    ]
    size = location.stat().st_size
    return _run("gather", argv, env, 1, size / 1e6, workspace.parent / "gather.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="message size in MB (default 200)")
    parser.add_argument("--only", choices=("eml", "mbox", "words"), help="measure one shape only")
    args = parser.parse_args(argv)
    size = args.mb << 20
    shapes = [
        ("eml", "giant.eml", b""),
        ("mbox", "giant.mbox", b"From jiro@example.org Mon Jun 11 09:00:00 2012\n"),
        ("words", "words.eml", b""),
    ]  # the last: a text body of short words, not one line
    print(f"{'shape':<6} {'message':>9} {'peak RSS':>9} {'peak PSS':>9} {'PSS/size':>8} {'seconds':>8} exit")
    for shape, name, prefix in shapes:
        if args.only and shape != args.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "src" / name
            source.parent.mkdir()
            _write(source, prefix, size, words=shape == "words")
            stage = _gather(source, Path(tmp) / "ws")
            pss = float(stage.extra["peak_pss_mb"])
            print(
                f"{shape:<6} {size / 1e6:>7.0f}MB {stage.peak_rss_mb:>7.0f}MB {pss:>7.0f}MB "
                f"{pss * 1e6 / size:>8.2f} {stage.seconds:>8.1f} {stage.status:>4}"
            )
            if stage.status:
                print((Path(tmp) / "gather.log").read_text().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
