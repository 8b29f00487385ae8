"""This module contains terminal-safe text: what every command of ours prints passes here.

Stored posts, source names, URLs, config values and error messages all come from outside.
Printed raw, their control characters would drive the terminal (ESC/CSI/OSC sequences clear
the screen, retitle the window, fake OSC-8 links; C1 U+009B is a CSI by itself) and bidi
overrides (U+202E...) would show text in another order than it is stored. `safe` removes them
one character for one (entity offsets into the text stay valid); `json_line` keeps them,
escaped, so JSON output loses no data and still cannot drive a terminal.

Rich markup is a separate hazard: text printed through rich must be a `Text` (or escaped),
never a markup string, or a stored "[/x]" crashes the print and "[link=...]" fakes a link.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from rich.text import Text

# C0 but tab and newline, DEL, C1, the bidi embeddings/overrides/isolates and marks, and lone
# surrogates (which no terminal encoding can write).
_UNSAFE = (r"\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
           r"\ud800-\udfff")
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")
# On one line (a source id, a URL, an author) line breaks of every kind are unsafe too.
_UNSAFE_LINE_RE = re.compile(f"[{_UNSAFE}\\t\\n\\u2028\\u2029]")
# What json.dumps(ensure_ascii=False) leaves raw: C0 and DEL/C1 and the rest above.
_JSON_RAW_RE = re.compile("[\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
                          "\\u2028\\u2029\\ud800-\\udfff]")


def safe(text: object) -> str:
    """`text` with terminal controls and bidi overrides replaced by spaces (one for one)."""
    return _UNSAFE_RE.sub(" ", str(text))


def safe_line(text: object) -> str:
    """Like `safe`, and line breaks and tabs become spaces too: for one-line fields."""
    return _UNSAFE_LINE_RE.sub(" ", str(text))


def plain(text: object, style: str = "") -> Text:
    """`text` made safe, as rich text that rich shows literally (no markup, no emoji codes)."""
    return Text(safe(text), style=style)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def json_line(data: Any) -> str:
    """One JSON object on one line; every control or bidi character is a \\u escape."""
    return _JSON_RAW_RE.sub(_escape, json.dumps(data, ensure_ascii=False))


class SafeFormatter(logging.Formatter):
    """A log formatter whose lines cannot drive the terminal (log records quote input too)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = super().format(record).split("\n")
        return "\n".join(safe_line(line) for line in lines)
