"""This module contains the splitter that cuts a long text into pieces a translator accepts.

`split_text` keeps every separator it cuts at, so `Split.join` over the translated pieces
gives back the original layout. It cuts at the coarsest boundary that makes the pieces fit:
paragraphs, then lines, then sentences, then words; only a single word longer than the
limit is cut inside, and never inside a link. Sizes come from a `measure` function, which
must be additive (the size of a concatenation is the sum of the sizes), like `len` or
`url_encoded_size`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

Measure = Callable[[str], int]

URL_RE = re.compile(r"(?:https?|ftp|tg)://\S+|www\.\S+", re.IGNORECASE)

# Coarsest first. Each matches the whole whitespace run it cuts at, so pieces never start
# or end with whitespace and the run is kept verbatim as the separator.
_PARAGRAPH_RE = re.compile(r"\s*\n\s*\n\s*")
_LINE_RE = re.compile(r"\s*\n\s*")
# After . ! ? … (optionally a closing quote or bracket) and whitespace; after CJK full stops
# even without whitespace, since those scripts do not put spaces between sentences.
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'»”’)\]])\s+|(?<=[。！？])\s*")
_WORD_RE = re.compile(r"\s+")
_LEVELS = (_PARAGRAPH_RE, _LINE_RE, _SENTENCE_RE, _WORD_RE)

# Joiners and variation selectors belong to the character before them (emoji sequences).
_ATTACHED = frozenset("\u200c\u200d\ufe0e\ufe0f")


def url_encoded_size(text: str) -> int:
    """Bytes `text` takes in a query string or form body (UTF-8, percent-encoded)."""
    return len(quote_plus(text))


@dataclass(frozen=True)
class Split:
    """A text cut into chunks; `separators` has one more item than `chunks`.

    text == separators[0] + chunks[0] + separators[1] + ... + chunks[-1] + separators[-1]
    """

    chunks: tuple[str, ...]
    separators: tuple[str, ...]

    def join(self, parts: Sequence[str]) -> str:
        """Rebuild the text with `parts` (e.g. the translated chunks) in place of the chunks."""
        if len(parts) != len(self.chunks):
            raise ValueError(f"expected {len(self.chunks)} parts, got {len(parts)}")
        out = [self.separators[0]]
        for part, sep in zip(parts, self.separators[1:], strict=True):
            out.append(part)
            out.append(sep)
        return "".join(out)


def split_text(text: str, limit: int, measure: Measure = len) -> Split:
    """Cut `text` into chunks of at most `limit` (by `measure`) at the coarsest boundaries.

    A link longer than the limit stays whole, as its own chunk.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    core = text.strip()
    if not core:
        return Split((), (text,))
    start = len(text) - len(text.lstrip())
    lead, trail = text[:start], text[start + len(core) :]
    pieces, joins = _split_core(core, limit, measure, 0)
    return Split(tuple(pieces), (lead, *joins, trail))


def _cut(core: str, pattern: re.Pattern[str]) -> tuple[list[str], list[str]]:
    """Segments of `core` between the matches of `pattern`, and the matches themselves."""
    segments: list[str] = []
    seps: list[str] = []
    last = 0
    for m in pattern.finditer(core):
        if m.start() == 0 or m.end() == len(core) or m.start() == last:
            continue  # would leave an empty segment
        segments.append(core[last : m.start()])
        seps.append(m.group())
        last = m.end()
    segments.append(core[last:])
    return segments, seps


def _split_core(core: str, limit: int, measure: Measure, level: int) -> tuple[list[str], list[str]]:
    """Pieces of `core` (no outer whitespace) and the separators between them."""
    if measure(core) <= limit:
        return [core], []
    if level == len(_LEVELS):
        return _hard_split(core, limit, measure)
    segments, seps = _cut(core, _LEVELS[level])
    if len(segments) == 1:
        return _split_core(core, limit, measure, level + 1)

    pieces: list[str] = []
    joins: list[str] = []
    current: list[str] = []
    current_size = 0
    for i, segment in enumerate(segments):
        sep = seps[i - 1] if i else ""
        size = measure(segment)
        if current and current_size + measure(sep) + size <= limit:
            current += (sep, segment)
            current_size += measure(sep) + size
            continue
        if current:
            pieces.append("".join(current))
            current = []
        if i:
            joins.append(sep)
        if size <= limit:
            current, current_size = [segment], size
        else:
            sub_pieces, sub_joins = _split_core(segment, limit, measure, level + 1)
            pieces += sub_pieces
            joins += sub_joins
    if current:
        pieces.append("".join(current))
    return pieces, joins


def _atoms(token: str) -> list[str]:
    """A whitespace-free token as uncuttable units: links whole, else characters with marks."""
    atoms: list[str] = []
    last = 0
    for m in URL_RE.finditer(token):
        atoms += _characters(token[last : m.start()])
        atoms.append(m.group())
        last = m.end()
    atoms += _characters(token[last:])
    return atoms


def _characters(text: str) -> list[str]:
    out: list[str] = []
    for ch in text:
        if out and (unicodedata.combining(ch) or ch in _ATTACHED):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _hard_split(token: str, limit: int, measure: Measure) -> tuple[list[str], list[str]]:
    """Cut a token with no usable boundary; the separators are empty strings."""
    pieces: list[str] = []
    current = ""
    current_size = 0
    for atom in _atoms(token):
        size = measure(atom)
        if current and current_size + size > limit:
            pieces.append(current)
            current, current_size = "", 0
        current += atom
        current_size += size
    if current:
        pieces.append(current)
    return pieces, [""] * (len(pieces) - 1)
