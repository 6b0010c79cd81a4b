"""Plugin for mail that survives on IMAP servers: ``imap://`` and ``imaps://`` locations."""
