"""Foxmail mailboxes (``foxmail`` plugin)."""
