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
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

# Characters that split a word visually nothing but break naive matching.
_INVISIBLE = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")

# Links and Telegram/Markdown markup carry no words worth tagging; blank them (same length).
_MD_LINK_RE = re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))+\)")
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"\]\)]+")
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_ASCII_LETTER_RE = re.compile("[a-z]")

# Lower-case Latin/Cyrillic look-alikes, by script. Applied only inside mixed-script words.
_LAT_TO_CYR = str.maketrans("aceopxykmtbhi", "асеорхукмтвні")
_CYR_TO_LAT = str.maketrans("асеорхукмтвнії", "aceopxykmtbhii")
_LATIN = "a-z"
_CYRILLIC = "а-яёіїєґўј"
_CYR_CHAR_RE = re.compile(f"[{_CYRILLIC}]")
_LAT_CHAR_RE = re.compile(f"[{_LATIN}]")

WORD_RE = re.compile(r"\w+")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Per-character folding of lower-case text that never changes length."""
    table: dict[int, str] = {}
    for cp in range(0x00C0, 0x2000):
        ch = chr(cp)
        if ch.lower() != ch:
            continue  # upper case never survives str.lower()
        # Strip diacritics from Latin letters only: Cyrillic й/ї are letters, not accents.
        if cp < 0x0250 or 0x1E00 <= cp < 0x1F00:
            base = unicodedata.normalize("NFD", ch)[0]
            if base.isascii() and base != ch:
                table[cp] = base
    table.update({ord("ł"): "l", ord("ø"): "o", ord("đ"): "d", ord("ı"): "i", ord("İ"): "i"})
    return table


@lru_cache(maxsize=1)
def _table_re() -> re.Pattern[str]:
    keys = "".join(re.escape(chr(cp)) for cp in sorted(_fold_table()))
    return re.compile(f"[{keys}]")


# A mixed-script word has a place where the script switches: finding one is a cheap test.
_SWITCH_LC_RE = re.compile(f"[{_LATIN}][{_CYRILLIC}]")
_SWITCH_CL_RE = re.compile(f"[{_CYRILLIC}][{_LATIN}]")  # two plain patterns beat one alternation
_LETTERS_RE = re.compile(f"[{_LATIN}{_CYRILLIC}]+")
_MARKUP_CHARS = "*_~`|[]"


def _fix_mixed(match: re.Match[str]) -> str:
    word = match.group(0)
    if not _has_switch(word):
        return word
    cyr = len(_CYR_CHAR_RE.findall(word))
    lat = len(_LAT_CHAR_RE.findall(word))
    return word.translate(_LAT_TO_CYR if cyr >= lat else _CYR_TO_LAT)


def _has_switch(text: str) -> bool:
    return bool(_SWITCH_LC_RE.search(text) or _SWITCH_CL_RE.search(text))


def _fold_chars(lowered: str) -> str:
    if "ё" in lowered:
        lowered = lowered.replace("ё", "е")
    if _table_re().search(lowered):
        lowered = lowered.translate(_fold_table())
    return lowered


def _fold_mixed(folded: str) -> str:
    if _ASCII_LETTER_RE.search(folded) and _has_switch(folded):
        folded = _LETTERS_RE.sub(_fix_mixed, folded)
    return folded


def fold_word(text: str) -> str:
    """Fold a short string (an alias, a query word) the way `fold` folds post text."""
    return _fold_mixed(_fold_chars(_lower(text)))


def _lower(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # 'İ' and friends lower to two characters
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered


@dataclass(frozen=True, slots=True)
class Folded:
    """A text and its analysis form, with a way back to original offsets."""

    text: str
    folded: str
    _removed: tuple[int, ...] | None = None  # where invisible characters were taken out

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of `folded` back to the original text."""
        if not self._removed:
            return start, end
        last = end - 1
        return (start + bisect_right(self._removed, start),
                last + bisect_right(self._removed, last) + 1)

    def words(self) -> list[str]:
        return WORD_RE.findall(self.folded)


def nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def sanitize(text: str) -> str:
    """NFC text that any store can hold: lone surrogates and NULs (seen in broken exports and
    hostile posts) become U+FFFD instead of failing the insert and losing the post."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE_RE.sub("\ufffd", text)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return nfc(text)


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def fold(text: str) -> Folded:
    """Return the analysis form of `text` (which should already be NFC).

    Each step first checks cheaply whether it has anything to do: most posts have no
    diacritics, no mixed-script words and little markup."""
    folded = _fold_chars(_lower(text))
    # Plain `in` tests are far cheaper than a regex scan over text that has no links.
    if "](" in folded:
        folded = _MD_LINK_RE.sub(_blank, folded)
    if "http" in folded or "www." in folded:
        folded = _URL_RE.sub(_blank, folded)
    if "<" in folded:
        folded = _TAG_RE.sub(_blank, folded)
    folded = _fold_mixed(folded)  # after links are gone: they are Latin next to anything
    for c in _MARKUP_CHARS:  # one character for one space: plain replace keeps offsets
        if c in folded:
            folded = folded.replace(c, " ")
    if not _INVISIBLE_RE.search(folded):
        return Folded(text, folded)
    # Removed positions, shifted into folded coordinates: span() maps back with a bisect.
    removed = tuple(m.start() - j for j, m in enumerate(_INVISIBLE_RE.finditer(folded)))
    return Folded(text, _INVISIBLE_RE.sub("", folded), removed)


_STRIP_FOR_LANG_RE = re.compile(
    r"(?:https?://|www\.)\S+|[@#]\w+|\]\([^()\s]*\)|</?[a-zA-Z][^<>]{0,200}>|[*_~`|\[\]]+"
)


def clean_for_language(text: str) -> str:
    """Drop links, @mentions, #hashtags and markup: they carry no evidence of the language."""
    return _STRIP_FOR_LANG_RE.sub(" ", _INVISIBLE_RE.sub("", text))
