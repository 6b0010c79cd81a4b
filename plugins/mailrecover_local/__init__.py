"""Plugins for the plain local formats: mbox, Maildir, MH and .eml files."""
