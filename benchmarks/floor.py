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
    pending = iter(enumerate(sizes))
    read = files = written = 0
    data = b""
    for top in argv[2:]:
        for dirpath, _dirs, names in os.walk(top):
            for name in sorted(names):
                with open(os.path.join(dirpath, name), "rb") as f:
                    data = f.read()
                read, files = read + len(data), files + 1
                if not data:
                    continue
                # Write the restored files this file's bytes cover, cut from them: nothing is
                # generated, and only one source file is held at a time.
                at = 0
                for n, size in pending:
                    _write(tmp, cur, n, data[at : at + size])
                    written, at = written + 1, at + size
                    if at >= len(data):
                        break
    for n, size in pending:  # sources smaller than the restore (never with copies of mail)
        _write(tmp, cur, n, data[:size])
        written += 1
    print(f"read {read:,} bytes from {files:,} files; wrote {written:,} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
