"""Where an account's copies were found, grouped as a person reads it: what the terminal
report and the HTML report both list (``report``, ``report_html``)."""

from __future__ import annotations

import os
import sqlite3

__all__ = ["group_places", "is_folder_place"]


def group_places(db: sqlite3.Connection, account: str) -> None:
    """Fill the connection's temporary table ``places`` (location_id, place, copies): where the
    account's copies were found, as a person reads it.  A store is its own place; places
    that gave one copy each (a folder of 50,000 saved ``.eml`` files) share one, ``FOLDER/*``,
    once a folder has several: what the report lists grows with the folders, not the files.
    The workspace itself is not written."""
    db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS places "
        "(location_id INTEGER PRIMARY KEY, place TEXT NOT NULL, copies INTEGER NOT NULL)"
    )
    db.execute("SAVEPOINT places")  # one transaction for the rows, inside a caller's if there is one
    try:
        db.execute("DELETE FROM temp.places")
        found = db.execute(  # read as the rows go in: memory does not grow with the files
            "SELECT l.id, l.location, n FROM (SELECT location_id, count(*) AS n FROM copies "
            "WHERE account = ? GROUP BY location_id) JOIN locations l ON l.id = location_id",
            (account,),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO temp.places VALUES (?, ?, ?)",
            ((i, os.path.join(os.path.dirname(loc), "*") if n == 1 and "://" not in loc else loc, n)
             for i, loc, n in found),
        )  # fmt: skip
        db.execute(
            "UPDATE temp.places SET place = (SELECT location FROM locations WHERE id = location_id) "
            "WHERE place IN (SELECT place FROM temp.places GROUP BY place HAVING count(*) = 1)"
        )
    except BaseException:
        db.execute("ROLLBACK TO places")
        raise
    finally:
        db.execute("RELEASE places")


def is_folder_place(place: str) -> bool:
    """Whether ``place`` (from ``group_places``) stands for a folder's one-copy files."""
    return place.endswith(os.path.join("", "*"))
