"""mailrecover: gather every surviving copy of lost mail, merge it per account, restore it."""

from .errors import MailRecoverError
from .model import Copy, Evidence, Flag, Problem, ProblemKind
from .plugin import Plugin, ReadContext, Store

__all__ = [
    "Copy",
    "Evidence",
    "Flag",
    "MailRecoverError",
    "Plugin",
    "Problem",
    "ProblemKind",
    "ReadContext",
    "Store",
    "__version__",
]

__version__ = "0.1.0"
