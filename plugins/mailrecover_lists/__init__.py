"""Plugins for mailing-list managers' files: what survives of who was subscribed.

Every plugin here yields ``Evidence`` (and ``Problem`` lines), never copies.  Files that name
a list only by its short name are bound to its address with ``gather --list ADDR``
(``ReadContext.list_address``); without it the short name is kept, and ``members`` joins it
to a list whose address has that local part.

Evidence kinds:

``subscribe``       the address joined the list (a log line, a notice).
``unsubscribe``     the address left (a log line, ``##BYE`` in an fml member file, a notice).
``member``          the address is in a member file, roster dump or list of addresses; the
                    evidence time is the file's (or snapshot's) time.
``address-change``  a member's address changed: ``address`` is the new one, ``old_address``
                    the old one.
``role``            the address is the list's ``owner`` or ``moderator`` (``role``): no member.
``roster``          a member file that lists *every* member at its time (``snapshot`` names
                    it, ``count`` says how many): whoever an earlier snapshot of the same file
                    (its ``.bak`` / ``.last`` copy) listed and it leaves out had left by then.

Fields (all strings; empty ones are left out):

``list``         the list's address (lower-case), or its short name when no address is known.
``address``      the member's address key (``mailrecover.rfc822.normalize_address``).
``as_written``   the address exactly as the file wrote it, when that differs from the key.
``name``         the display name, kept as data.
``how``          how it happened or where it was read (``admin mass sub``, ``fml log: Added``,
                 ``auto-unsubscribed BYBOUNCE``, ``config.pck`` …).
``digest``       ``yes`` / ``no`` when the source says.
``nomail``       why delivery is off (``by user``, ``by bounce``, ``off``, ``skip``) while the
                 address stays a member.
``nomail_since`` when delivery was switched off (ISO 8601), where the source says.
``moderated``    ``yes`` when the member's posts are held for the moderator.
``bouncing``     ``yes`` when the list manager was counting bounces for it (or stopped
                 delivery for bounces); ``bounce_score`` its score.
``snapshot``     which member-file snapshot a ``member`` line belongs to.
``manager``      the plugin that read it (``mailman2``, ``fml`` …).
``old_address``  for ``address-change``.
``post_id``, ``last_post_time``  on a Mailman 2 ``roster``: they grow with every save, and order
                 two snapshots whose file times a copy made equal.
"""
