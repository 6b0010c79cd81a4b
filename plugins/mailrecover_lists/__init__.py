"""Plugins for mailing-list managers' files: what survives of who was subscribed.

Every plugin here yields ``Evidence`` (and ``Problem`` lines), never copies.  Files that name
a list only by its short name are bound to its address with ``gather --list ADDR``
(``ReadContext.list_address``); without it the short name is kept, and ``members`` joins it
to a list whose address has that local part.

Evidence kinds and fields: ``mailrecover.model.LIST_EVIDENCE_KINDS`` and ``ListFields``.
"""
