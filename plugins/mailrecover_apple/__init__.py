"""Apple Mail stores (``apple-mail`` plugin)."""
