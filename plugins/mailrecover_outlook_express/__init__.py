"""Plugin for Outlook Express 5/6 mail stores (.dbx files)."""
