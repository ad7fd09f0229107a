"""The one exception type for input gradsim refuses: a bad file, argument or setting.

Messages often quote what the user gave (a key, a file name, a value). Those come from files that
anyone can write, so the message is made safe once, here: control characters, ANSI escape
sequences and line separators are shown escaped (``\\n``, ``\\x1b``), never acted on, and a very long
message is cut. A refusal is therefore always one printable line, whatever the file held.
"""

from __future__ import annotations

import unicodedata

MAX_MESSAGE_CHARS = 600

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one printable line: control and format characters escaped, cut to ``limit``."""
    text = str(text)
    if text.isprintable() and len(text) <= limit:
        return text  # the common case costs one C call
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif unicodedata.category(ch) in ("Zs",):
            out.append(ch)  # other spaces print as spaces
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    line = "".join(out)
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


class InputError(ValueError):
    """Raised with a one-line message that says what is wrong (and, for files, which file).

    Whatever the message quotes, it is stored as one printable line (see :func:`one_line`).
    """

    def __init__(self, message: object = "") -> None:
        super().__init__(one_line(message))
