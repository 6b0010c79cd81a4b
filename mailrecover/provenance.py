"""Where an account's copies were found, grouped as a person reads it: what the terminal
report and the HTML report both list (``report``, ``report_html``)."""

from __future__ import annotations

import os

from .workspace.store import group_places  # the temporary table of places, filled by the workspace layer

__all__ = ["group_places", "is_folder_place"]


def is_folder_place(place: str) -> bool:
    """Whether ``place`` (from ``group_places``) stands for a folder's one-copy files."""
    return place.endswith(os.path.join("", "*"))
