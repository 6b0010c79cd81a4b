"""The floor: what reading every source byte and writing the restored files costs in plain Python.

``python3 -m benchmarks.floor SIZES OUT SOURCE...`` reads every file under the sources once
(``open().read()``, no parsing), then writes one file per line of SIZES (the byte sizes of the
files a restore wrote), each cut from the bytes read, into ``OUT/tmp`` and renames it into
``OUT/cur`` as a Maildir writer does.  No tool that reads those sources and writes those files
can take less; the benchmark prints our time as a multiple of it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def _write(tmp: str, cur: str, n: int, data: bytes) -> None:
    name = f"{n}.floor"
    with open(os.path.join(tmp, name), "wb") as f:
        f.write(data)
    os.rename(os.path.join(tmp, name), os.path.join(cur, name + ":2,"))


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python3 -m benchmarks.floor SIZES OUT SOURCE...", file=sys.stderr)
        return 2
    with open(argv[0], encoding="ascii") as f:
        sizes = [int(line) for line in f if line.strip()]
    out = argv[1]
    tmp, cur = os.path.join(out, "tmp"), os.path.join(out, "cur")
    os.makedirs(tmp)
    os.makedirs(cur)
    todo = list(reversed(sizes))  # popped from the end: the first size first
    read = files = written = 0
    data = b""
    parts: list[bytes] = []  # the file being cut, when one source file did not hold it all
    need = todo[-1] if todo else 0
    for top in argv[2:]:
        for dirpath, _dirs, names in os.walk(top):
            for name in sorted(names):
                with open(os.path.join(dirpath, name), "rb") as f:
                    data = f.read()
                read, files = read + len(data), files + 1
                # Cut the restored files from this file's bytes, going on into the next file
                # where it ends: nothing is generated, and one source file is held at a time.
                at = 0
                while todo and at < len(data):
                    take = min(need, len(data) - at)
                    parts.append(data[at : at + take])
                    at, need = at + take, need - take
                    if need == 0:
                        _write(tmp, cur, written, b"".join(parts))
                        written, parts = written + 1, []
                        todo.pop()
                        need = todo[-1] if todo else 0
    while todo:  # sources smaller than the restore (never with copies of mail): repeat the last
        _write(tmp, cur, written, (b"".join(parts) + data * (todo[-1] // max(1, len(data)) + 1))[: todo[-1]])
        written, parts = written + 1, []
        todo.pop()
    print(f"read {read:,} bytes from {files:,} files; wrote {written:,} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
