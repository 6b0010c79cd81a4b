"""The roles of Microsoft mail clients' special folders, by the names they give them."""

from __future__ import annotations

__all__ = ["DELETED_ROLE", "folder_role"]

#: The role whose mail was deleted by its owner (restored under ``Recovered Deleted/``).
DELETED_ROLE = "Trash"

_ROLES = {
    "INBOX": {"inbox", "受信トレイ", "posteingang", "boîte de réception"},
    "Sent": {"sent items", "sent", "送信済みアイテム", "gesendete elemente", "éléments envoyés"},
    DELETED_ROLE: {"deleted items", "削除済みアイテム", "gelöschte elemente", "éléments supprimés"},
    "Drafts": {"drafts", "下書き", "entwürfe", "brouillons"},
    "Outbox": {"outbox", "送信トレイ", "postausgang", "boîte d'envoi"},
    "Junk": {"junk e-mail", "junk email", "迷惑メール", "junk-e-mail"},
}


def folder_role(name: str) -> str | None:
    """The role of a special folder by its name (``受信トレイ`` → ``INBOX``), if it has one."""
    key = " ".join(name.split()).casefold()
    for role, names in _ROLES.items():
        if key in names:
            return role
    return None
