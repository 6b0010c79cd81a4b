"""KMail's local folders (Akonadi's maildir resource), with the flags Akonadi keeps."""
