"""How much the fuzz layer tries: a small, fixed budget in CI, more on demand.

``MAILRECOVER_FUZZ=ci|dev|long`` chooses; without it CI (the ``CI`` variable) runs ``ci``,
the same small inputs every time, and a developer's run ``dev``, as small but new inputs
each run.  ``long`` is the run recorded in the README::

    MAILRECOVER_FUZZ=long python3 -m pytest -q tests/fuzz
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE", "SETTINGS", "Scale"]


@dataclass(frozen=True)
class Scale:
    examples: int  # hypothesis inputs per plugin, and per core function
    truncated_seeds: int  # seeds per plugin cut at every region
    cuts: int  # regions per seed


_SCALES = {
    "ci": Scale(examples=8, truncated_seeds=1, cuts=6),
    "dev": Scale(examples=8, truncated_seeds=1, cuts=6),
    "long": Scale(examples=400, truncated_seeds=1000, cuts=48),
}

_name = os.environ.get("MAILRECOVER_FUZZ") or ("ci" if os.environ.get("CI") else "dev")
if _name not in _SCALES:
    raise SystemExit(f"MAILRECOVER_FUZZ={_name!r}: choose one of {', '.join(_SCALES)}")

PROFILE = _SCALES[_name]
NAME = _name

for _n, _s in _SCALES.items():
    settings.register_profile(
        f"mailrecover-{_n}",
        max_examples=_s.examples,
        deadline=None,  # time is guarded per read, generously; no timed assertions
        derandomize=_n == "ci",
        database=None if _n == "ci" else settings.default.database,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
        print_blob=True,
    )

SETTINGS = settings.get_profile(f"mailrecover-{_name}")
