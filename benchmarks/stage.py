"""Run one core stage on its own, so the benchmark can time it: ``merge WORKSPACE``.

The command line merges inside ``restore`` and ``report``; timing the merge apart needs
this small entry point.
"""

from __future__ import annotations

import sys

from mailrecover.merged import ensure_merged
from mailrecover.workspace import Workspace

__all__ = ["main"]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "merge":
        print("usage: python3 -m benchmarks.stage merge WORKSPACE", file=sys.stderr)
        return 2
    with Workspace(argv[1]) as ws:
        ensure_merged(ws)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
