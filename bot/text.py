"""This module contains text normalisation shared by tagging, matching and search.

`fold` maps a text to a same-length analysis form: lower case, Latin diacritics stripped,
markup and links blanked, lookalike letters folded to their word's script. Keeping the length
lets every stage report offsets into the original text for free; the rare texts with
invisible characters (zero-width joiners, soft hyphens, word joiners) or combining accents
(the stress mark of «Ку́рск») go through a slower path that removes them and keeps an offset
map.

Lookalikes, all folded one character for one character:
- fullwidth and mathematical letters and digits (ＫＵＲＳＫ, 𝐊𝐮𝐫𝐬𝐤) become their NFKC letter;
- Greek letters inside a Latin or Cyrillic word, and words written only in Greek letters that
  look Latin (ΝΑΤΟ), become the Latin (or Cyrillic: Π, Γ, Λ, Φ) letter they imitate, by case;
- a word mixing Latin and Cyrillic takes one script: the one whose letters the other script
  cannot imitate (и, я, ш in "poccия"; r, s, n in "Pеntagon"), else the majority. A word
  written wholly in letters both scripts share ("Kypck") is left alone here: the tagger knows
  which such spellings are watchlist forms (`bot.pipeline.entities`).
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
# Combining diacritics left over after NFC (no precomposed form: у́, stress marks) and the
# invisible characters: removed for analysis, with an offset map back to the text.
# (Not the enclosing marks from U+20DD: the keycap of 1️⃣ is no accent.)
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20dc\ufe20-\ufe2f"
_REMOVED_RE = re.compile(f"[{_INVISIBLE}{_COMBINING}]")
_COMBINING_RE = re.compile(f"[{_COMBINING}]")

# Links and Telegram/Markdown markup carry no words worth tagging; blank them (same length).
_MD_LINK_RE = re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))+\)")
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"\]\)]+")
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_ASCII_LETTER_RE = re.compile("[a-z]")

# Lower-case Latin/Cyrillic look-alikes, by script (upper-case look-alikes too, once lowered:
# K/К, M/М, T/Т, B/В, H/Н). Applied only inside mixed-script words.
LAT_LOOKALIKES = "aceopxykmtbhi"
CYR_LOOKALIKES = "асеорхукмтвнії"
_LAT_TO_CYR = str.maketrans(LAT_LOOKALIKES, "асеорхукмтвні")
_CYR_TO_LAT = str.maketrans(CYR_LOOKALIKES, "aceopxykmtbhii")
_LATIN = "a-z"
_CYRILLIC = "а-яёіїєґўј"
_CYR_CHAR_RE = re.compile(f"[{_CYRILLIC}]")
_LAT_CHAR_RE = re.compile(f"[{_LATIN}]")
# Letters the other script has no look-alike for: a word holding one belongs to that script.
_ONLY_CYR_RE = re.compile("[бгджзийлпфцчшщъыьэюяєґўёї]")  # ї: Latin ï is folded to i before
_ONLY_LAT_RE = re.compile("[dfgjlnqrsuvwz]")

# Greek look-alikes by case (Η is H, η is n); Π Γ Λ Φ have only Cyrillic twins. Applied to
# Greek letters inside Latin/Cyrillic words, and to all-look-alike Greek words.
_GREEK_LOOKALIKES = {
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Π": "П", "Γ": "Г", "Λ": "Л", "Φ": "Ф",
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "π": "п", "ϲ": "c", "Ϲ": "C", "ϳ": "j",
}
_GREEK_TABLE = str.maketrans(_GREEK_LOOKALIKES)
# Inside a Cyrillic word a Greek letter imitates the Cyrillic twin (ο is о there, not o):
# Greek letters are intruders and must not outvote the word's own letters.
_GREEK_TO_CYR = {**_GREEK_LOOKALIKES, **dict(zip(
    "ΑΒΕΗΙΚΜΟΡΤΥΧΠΓΛΦαβγεικοπρτχϲϹ", "АВЕНІКМОРТУХПГЛФавуеікопртхсС", strict=True))}
_GREEK_TO_CYR_TABLE = str.maketrans(_GREEK_TO_CYR)
_ANY_CYR_RE = re.compile("[\u0400-\u04ff]")
_ANY_LAT_RE = re.compile("[A-Za-z]")
_GREEK_RE = re.compile("[\u0370-\u03ff]")
# From a word's start only, lazily: a long word without Greek is scanned once, not per letter.
_GREEK_WORD_RE = re.compile("(?<![^\\W\\d_])[^\\W\\d_]*?[\u0370-\u03ff][^\\W\\d_]*")
_GREEK_ONLY_RE = re.compile(f"[{''.join(_GREEK_LOOKALIKES)}]+")
# Fullwidth forms and mathematical letters/digits, and the rarer letterlike ones: those
# whose NFKC form is one character (ℌ, not №), so folding keeps the length.
def _build_styled_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for lo, hi in ((0xFF01, 0xFF5E), (0x1D400, 0x1D7FF), (0x2100, 0x214F), (0x24B6, 0x24E9)):
        for cp in range(lo, hi + 1):
            plain = unicodedata.normalize("NFKC", chr(cp))
            if len(plain) == 1 and plain != chr(cp):
                table[cp] = plain
    return table


_STYLED_TABLE = _build_styled_table()

# Rare spaces and hyphens read as a plain space ("North\u3000Korea", "North\u2011Korean"); the
# frequent ones (no-break space, en and em dash, "-") are left to the tagger's plain replaces.
_RARE_SPACES = ("\u2010\u2011\u2012\u2015\u2212\ufe58\ufe63\x0b\x0c\x85\u1680\u2000-\u200a"
                "\u2028\u2029\u205f\u3000")
_RARE_SPACE_RE = re.compile(f"[{_RARE_SPACES}]")
# One search tells whether a text needs any of the slow steps (most posts need none). Few
# items make a fast class: sre tests them one by one for every character of the text.
_UNUSUAL_RE = re.compile(
    "[\u00ad\u180e\u2000-\u2012\u2015\u2028\u2029\u205f-\u2064\ufeff\u0300-\u036f\u1ab0-\u1aff"
    "\u1dc0-\u1dff\u20d0-\u20dc\ufe20-\ufe2f\uff01-\uff5e\u2100-\u214f\u24b6-\u24e9\u0370-\u03ff"
    "\u2212\ufe58\ufe63\x0b\x0c\x85\u1680\u3000\U0001d400-\U0001d7ff]")

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
    only_cyr = _ONLY_CYR_RE.search(word) is not None
    if only_cyr != (_ONLY_LAT_RE.search(word) is not None):
        to_cyr = only_cyr  # letters only one script has decide: "poccия" is Cyrillic
    else:
        to_cyr = len(_CYR_CHAR_RE.findall(word)) >= len(_LAT_CHAR_RE.findall(word))
    return word.translate(_LAT_TO_CYR if to_cyr else _CYR_TO_LAT)


def _fix_greek(match: re.Match[str]) -> str:
    word = match.group(0)
    rest = _GREEK_RE.sub("", word)
    if rest:  # Greek letters inside a Latin or Cyrillic word take that word's script
        cyrillic = _ANY_CYR_RE.search(rest) is not None and _ANY_LAT_RE.search(rest) is None
        return word.translate(_GREEK_TO_CYR_TABLE if cyrillic else _GREEK_TABLE)
    if _GREEK_ONLY_RE.fullmatch(word):
        return word.translate(_GREEK_TABLE)  # all look-alikes: Latin (ΝΑΤΟ)
    return word  # a Greek word


def _unstyle(text: str, found: set[str]) -> str:
    """Styled and Greek look-alike letters as the plain letters they imitate, rare spaces
    and hyphens as plain spaces (same length). `found`: the text's unusual characters."""
    if any(ord(c) in _STYLED_TABLE for c in found):
        text = text.translate(_STYLED_TABLE)
    if any("\u0370" <= c <= "\u03ff" for c in found):
        text = _GREEK_WORD_RE.sub(_fix_greek, text)
    if any(_RARE_SPACE_RE.match(c) for c in found):
        text = _RARE_SPACE_RE.sub(" ", text)
    return text


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
    found = set(_UNUSUAL_RE.findall(text))
    if found:
        text = _unstyle(text, found)
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
        a = start + bisect_right(self._removed, start)
        b = last + bisect_right(self._removed, last) + 1
        text = self.text
        while b < len(text) and _COMBINING_RE.match(text, b):  # an accent belongs to its letter
            b += 1
        return a, b

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
    found = set(_UNUSUAL_RE.findall(text))  # as cheap as a search when there is none
    folded = _fold_chars(_lower(_unstyle(text, found) if found else text))
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
    if not found or not any(_REMOVED_RE.match(c) for c in found):
        return Folded(text, folded)  # (no step above adds characters to remove)
    # Removed positions, shifted into folded coordinates: span() maps back with a bisect.
    removed = tuple(m.start() - j for j, m in enumerate(_REMOVED_RE.finditer(folded)))
    joined = _REMOVED_RE.sub("", folded)
    # Taking a character out may join two halves of a mixed-script word: fold those again.
    if any(_SWITCH_LC_RE.match(joined, i - 1) or _SWITCH_CL_RE.match(joined, i - 1)
           for i in removed if i):
        joined = _fold_mixed(joined)
    return Folded(text, joined, removed)


_STRIP_FOR_LANG_RE = re.compile(
    r"(?:https?://|www\.)\S+|[@#]\w+|\]\([^()\s]*\)|</?[a-zA-Z][^<>]{0,200}>|[*_~`|\[\]]+"
)


def clean_for_language(text: str) -> str:
    """Drop links, @mentions, #hashtags and markup: they carry no evidence of the language."""
    return _STRIP_FOR_LANG_RE.sub(" ", _INVISIBLE_RE.sub("", text))
