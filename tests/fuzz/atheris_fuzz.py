"""Coverage-guided fuzzing of one plugin's reader with atheris (libFuzzer), for long runs.

    python3 -m pip install atheris        # a binary wheel for CPython 3.11 on x86-64 Linux
    python3 -m tests.fuzz.atheris_fuzz mbox -runs=20000
    python3 -m tests.fuzz.atheris_fuzz outlook-pst -max_total_time=600

The plugin's own file samples (corpus and test builders) seed libFuzzer; each input is written
under the name of a sample of the plugin's kind and read with every check of ``harness``.  A
broken promise raises, and libFuzzer stops and saves the input as ``crash-…``.  Not part of
the pytest run: libFuzzer takes over the process.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__)
        return 2
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: python3 -m pip install atheris", file=sys.stderr)
        return 2
    with atheris.instrument_imports():
        import tests.conftest  # noqa: F401  (registers this checkout's plugins)
        from mailrecover.plugin import load_plugins
        from tests.fuzz.harness import read_checked, seeds

    name = argv[1]
    plugin = load_plugins()[name]
    samples = [s.path for s in seeds()[name] if s.own and s.path.is_file()]
    if not samples:
        print(f"no file sample of the {name} plugin's kind to start from", file=sys.stderr)
        return 2
    start = Path(tempfile.mkdtemp(prefix=f"mailrecover-atheris-{name}-"))
    for i, path in enumerate(samples):
        (start / f"{i:04d}").write_bytes(path.read_bytes())
    work = Path(tempfile.mkdtemp(prefix="mailrecover-atheris-input-"))
    target = work / samples[0].name

    def one_input(data: bytes) -> None:
        target.write_bytes(data)
        outcome = read_checked(plugin, name, target, work)
        failures = outcome.failures()
        if failures:
            raise AssertionError(f"{name}: " + "; ".join(failures))

    atheris.Setup([argv[0], *argv[2:], str(start)], one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
