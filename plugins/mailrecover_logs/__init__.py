"""Plugins for mail server logs: Postfix, Exim and Sendmail delivery records.

A log holds no mail, only facts about it: which message went to whom, when, and how it
ended.  Each plugin turns one delivery outcome per recipient into ``Evidence`` of kind
``delivery`` with the fields ``message_id``, ``sender``, ``recipient``, ``orig_to``,
``status``, ``size``, ``relay``, ``queue_id`` and ``dsn`` (all strings, empty when the
log did not say).  A directory of rotated logs is read as one stream, oldest first, so a
message whose lines span two files is still joined.
"""
