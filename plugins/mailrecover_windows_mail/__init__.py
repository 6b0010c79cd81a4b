"""Windows Live Mail and Windows Mail stores (``windows-live-mail`` plugin)."""
