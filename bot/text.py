"""This module contains text normalisation shared by tagging, matching and search.

`fold` maps a text to a same-length analysis form: lower case, Latin diacritics stripped,
markup and links blanked, homoglyphs inside mixed-script words folded to the word's script.
Keeping the length lets every stage report offsets into the original text for free; the rare
texts with invisible characters (zero-width joiners, soft hyphens) go through a slower path
that removes them and keeps an offset map.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Characters that split a word visually nothing but break naive matching.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")

# Links and Telegram/Markdown markup carry no words worth tagging; blank them (same length).
_LINK_RE = re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))+\)|(?:https?://|www\.)[^\s<>\"\]\)]+|</?[a-zA-Z][^<>]{0,200}>")
_MARKUP_RE = re.compile(r"[*_~`|\[\]]+")

# Lower-case Latin/Cyrillic look-alikes, by script. Applied only inside mixed-script words.
_LAT_TO_CYR = str.maketrans("aceopxykmtbhi", "асеорхукмтвні")
_CYR_TO_LAT = str.maketrans("асеорхукмтвнії", "aceopxykmtbhii")
_LATIN = "a-z"
_CYRILLIC = "а-яёіїєґўј"
_MIXED_RE = re.compile(
    rf"[{_LATIN}{_CYRILLIC}]*(?:[{_LATIN}][{_LATIN}{_CYRILLIC}]*[{_CYRILLIC}]|"
    rf"[{_CYRILLIC}][{_LATIN}{_CYRILLIC}]*[{_LATIN}])[{_LATIN}{_CYRILLIC}]*"
)
_CYR_CHAR_RE = re.compile(f"[{_CYRILLIC}]")
_LAT_CHAR_RE = re.compile(f"[{_LATIN}]")

WORD_RE = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Per-character folding that never changes length."""
    table: dict[int, str] = {}
    for cp in range(0x00C0, 0x2000):
        ch = chr(cp)
        low = ch.lower()
        if len(low) != 1:
            low = ch
        out = low
        # Strip diacritics from Latin letters only: Cyrillic й/ї are letters, not accents.
        if cp < 0x0250 or 0x1E00 <= cp < 0x1F00:
            base = unicodedata.normalize("NFD", low)[0]
            if base.isascii():
                out = base
        if out != ch:
            table[cp] = out
    table.update({ord("ł"): "l", ord("Ł"): "l", ord("ø"): "o", ord("Ø"): "o", ord("ё"): "е",
                  ord("Ё"): "е", ord("đ"): "d", ord("Đ"): "d", ord("İ"): "i", ord("ı"): "i"})
    return table


def _fix_mixed(match: re.Match[str]) -> str:
    word = match.group(0)
    cyr = len(_CYR_CHAR_RE.findall(word))
    lat = len(_LAT_CHAR_RE.findall(word))
    return word.translate(_LAT_TO_CYR if cyr >= lat else _CYR_TO_LAT)


def fold_word(text: str) -> str:
    """Fold a short string (an alias, a query word) the way `fold` folds post text."""
    folded = text.lower().translate(_fold_table())
    return _MIXED_RE.sub(_fix_mixed, folded)


@dataclass(frozen=True, slots=True)
class Folded:
    """A text and its analysis form, with a way back to original offsets."""

    text: str
    folded: str
    _offsets: tuple[int, ...] | None = None  # folded index -> original index, slow path only

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of `folded` back to the original text."""
        if self._offsets is None:
            return start, end
        return self._offsets[start], self._offsets[end - 1] + 1

    def words(self) -> list[str]:
        return WORD_RE.findall(self.folded)


def nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def fold(text: str) -> Folded:
    """Return the analysis form of `text` (which should already be NFC)."""
    folded = text.lower()
    if len(folded) != len(text):  # 'İ' and friends lower to two characters
        folded = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    folded = folded.translate(_fold_table())
    folded = _LINK_RE.sub(_blank, folded)
    folded = _MARKUP_RE.sub(_blank, folded)
    folded = _MIXED_RE.sub(_fix_mixed, folded)
    if not _INVISIBLE_RE.search(folded):
        return Folded(text, folded)
    offsets = tuple(i for i, ch in enumerate(folded) if ch not in _INVISIBLE)
    return Folded(text, _INVISIBLE_RE.sub("", folded), offsets)


_STRIP_FOR_LANG_RE = re.compile(
    r"(?:https?://|www\.)\S+|[@#]\w+|\]\([^)]*\)|</?[a-zA-Z][^<>]{0,200}>|[*_~`|\[\]]+"
)


def clean_for_language(text: str) -> str:
    """Drop links, @mentions, #hashtags and markup: they carry no evidence of the language."""
    return _STRIP_FOR_LANG_RE.sub(" ", _INVISIBLE_RE.sub("", text))
