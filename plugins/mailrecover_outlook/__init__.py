"""Plugins for Microsoft Outlook stores: .pst/.ost files and saved .msg messages."""
