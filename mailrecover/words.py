"""How counts and sizes read in every line mailrecover prints: one rule, one home."""

from __future__ import annotations

__all__ = ["counted", "size_text"]

#: Plurals that do not just add an ``s``.
_PLURALS = {
    "copy": "copies",
    "evidence record": "evidence records",
    "was": "were",
    "is": "are",
    "delivery": "deliveries",
    "folder's": "folders'",
    "address": "addresses",
    "this": "these",
}


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 message``, ``2 messages``, ``20,001 copies``: the number with thousands separators
    and the noun in the form it takes."""
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} {plural or _PLURALS.get(noun) or noun + 's'}"


def size_text(nbytes: int) -> str:
    """A size a person reads at a glance: ``512 bytes``, ``12.3 kB``, ``4.7 MB``, ``1.2 GB`` (SI)."""
    if nbytes < 1000:
        return counted(nbytes, "byte")
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if nbytes < scale * 999.95:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes / 1e12:,.1f} TB"
