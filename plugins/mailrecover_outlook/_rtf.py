"""Text (or the HTML it wraps) out of the RTF bodies Outlook keeps; forgiving, never raises.

Outlook stores many bodies only as compressed RTF.  When the RTF wraps an HTML body
(``\\fromhtml1``) the HTML comes back out; otherwise a plain-text rendering does.
"""

from __future__ import annotations

import re

__all__ = ["decompress", "rtf_to_html", "rtf_to_text"]

_TOKEN = re.compile(
    rb"\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z])|([{}])|([\r\n]+)|([^\\{}\r\n]+)"
)
# Groups whose text is never shown.
_HIDDEN = {
    b"fonttbl",
    b"colortbl",
    b"stylesheet",
    b"info",
    b"pict",
    b"object",
    b"header",
    b"footer",
    b"headerl",
    b"headerr",
    b"footerl",
    b"footerr",
    b"listtable",
    b"listoverridetable",
    b"rsidtbl",
    b"generator",
    b"xmlnstbl",
    b"themedata",
    b"colorschememapping",
    b"latentstyles",
    b"datastore",
    b"fldinst",
    b"filetbl",
    b"revtbl",
    b"pgdsctbl",
    b"mmathPr",
    b"operator",
}
_BREAKS = {
    b"par": "\n",
    b"line": "\n",
    b"tab": "\t",
    b"emdash": "\u2014",
    b"endash": "\u2013",
    b"lquote": "\u2018",
    b"rquote": "\u2019",
    b"ldblquote": "\u201c",
    b"rdblquote": "\u201d",
    b"bullet": "\u2022",
    b"emspace": " ",
    b"enspace": " ",
}


def decompress(data: bytes) -> bytes | None:
    """The RTF inside Outlook's compressed-RTF property, or None when it is not valid."""
    import compressed_rtf

    try:
        return bytes(compressed_rtf.decompress(data))
    except Exception:  # the library raises bare exceptions on bad input
        return None


def _codec(rtf: bytes) -> str:
    m = re.search(rb"\\ansicpg(\d+)", rtf[:4096])
    name = f"cp{int(m.group(1))}" if m else "cp1252"
    try:
        "".encode(name)
    except LookupError:
        return "cp1252"
    return name


def _render(rtf: bytes, html: bool) -> str:
    """Walk the RTF once; in ``html`` mode keep only what an HTML-wrapping RTF carries as HTML."""
    codec = _codec(rtf)
    out: list[str] = []
    pending = bytearray()  # \'hh bytes of one multi-byte character
    stack: list[tuple[bool, bool, int]] = []
    hidden = False  # inside a destination that is not shown
    htmltag = False  # inside {\*\htmltag …}: its text is HTML
    htmlrtf = False  # between \htmlrtf and \htmlrtf0: RTF-only rendering
    uc = 1
    skip = 0  # characters still to skip after a \u
    star = False

    def flush() -> None:
        if pending:
            out.append(pending.decode(codec, "replace"))
            pending.clear()

    def emit(text: str) -> None:
        if hidden:
            return
        if html and not (htmltag or not htmlrtf):
            return
        out.append(text)

    for m in _TOKEN.finditer(rtf):
        word, arg, hexbyte, symbol, brace, _newline, text = m.groups()
        if hexbyte is not None:
            if skip:
                skip -= 1
                continue
            if not hidden and (not html or htmltag or not htmlrtf):
                pending.append(int(hexbyte, 16))
            continue
        flush()
        if brace == b"{":
            stack.append((hidden, htmltag, uc))
            star = False
        elif brace == b"}":
            if stack:
                hidden, htmltag, uc = stack.pop()
            star = False
        elif word is not None:
            if skip and word != b"u":
                skip = 0
            if word == b"htmltag" and star and html:
                htmltag, hidden = True, False
            elif star or word in _HIDDEN:
                hidden = True
            elif word == b"htmlrtf":
                htmlrtf = arg != b"0"
            elif word == b"uc" and arg:
                uc = int(arg)
            elif word == b"u" and arg:
                code = int(arg)
                emit(chr(code + 65536 if code < 0 else code))
                skip = uc
            elif word in _BREAKS:
                emit(
                    _BREAKS[word] if not html or not htmltag else "\r\n" if word == b"par" else _BREAKS[word]
                )
            star = False
        elif symbol is not None:
            if symbol == b"*":
                star = True
            elif symbol in (b"\\", b"{", b"}"):
                emit(symbol.decode("latin-1"))
            elif symbol == b"~":
                emit("\u00a0")
            elif symbol in (b"\n", b"\r"):
                emit("\n")
        elif text is not None:
            if skip:
                n = min(skip, len(text))
                text, skip = text[n:], skip - n
            if text:
                emit(text.decode(codec, "replace"))
    flush()
    return "".join(out)


def rtf_to_text(rtf: bytes) -> str:
    """The visible text of an RTF document, lines ending in LF."""
    text = _render(rtf, html=False).replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def rtf_to_html(rtf: bytes) -> str | None:
    """The HTML an HTML-wrapping RTF body (``\\fromhtml1``) carries, or None for other RTF."""
    if b"\\fromhtml1" not in rtf[:1024]:
        return None
    html = _render(rtf, html=True)
    return html if "<" in html else None
