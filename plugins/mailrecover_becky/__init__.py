"""Becky! Internet Mail stores (``becky`` plugin)."""
