"""Evolution 3's local mail: a Maildir++ tree with the flags Evolution keeps in ``folders.db``."""
