"""This module contains the cheap features story grouping compares: stems, names, numbers, digests.

Everything here is computed from the folded text in one pass and costs microseconds; the
expensive signal (a sentence embedding) is left to `bot.stories.embedding` and computed only
when these leave a candidate story.

- *stems*: the first 5 characters of each folded word of 3+ letters. Russian and Ukrainian
  inflect the ending, so «Курской»/«Курская» share «курск»; a set of stems is what MinHash sees.
- *names*: capitalised words inside a sentence, transliterated to Latin and cut to 4 letters, so
  «Умеров», «Умєров» and "Umerov" all give ``umer``: a language-neutral hint for places and
  people the watchlist does not know.
- *numbers*: digit groups with thousands separators joined ("8,000" and "8 000" → ``8000``);
  language-neutral, and a strong sign when two reports disagree ("30 killed" vs "8000 arrived").
- *digest*: a post that is mostly a list of items ("Главное к вечеру", "Evening briefing").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text import WORD_RE, fold

STEM_LEN = 5
NAME_LEN = 4
_LETTER_RE = re.compile(r"[^\W\d_]")
_NUMBER_RE = re.compile(r"(?<![\w.,])\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})+(?![\d])|\d+")
_SEPARATORS_RE = re.compile(r"[ ,.\u00a0\u202f]")
# A capitalised word (Latin or Cyrillic) that does not open a sentence or a line.
_NAME_RE = re.compile(r"(?<=[\w,;:»\"')] )[A-ZА-ЯЁІЇЄҐ][a-zа-яёіїєґ'’]{2,}")
_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "є": "e", "ё": "e",
    "ж": "z", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h",
    "ц": "c", "ч": "c", "ш": "s", "щ": "s", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "u",
    "я": "a", "'": "", "’": "", "w": "v", "y": "i", "j": "i", "x": "ks",
})
# Lines that open with a bullet, a dash, an emoji or "1." / "2)": the items of a list.
_ITEM_RE = re.compile(r"^\s*(?:[^\w\s«\"(\[*]|\*\*[^\w\s]|\d{1,2}[.)]\s)")
_DIGEST_HEAD_RE = re.compile(
    r"главное|головне|briefing|digest|дайджест|итоги дня|подсумк|коротко|к этому часу|"
    r"другие заявления|ещё несколько|news of the day|das wichtigste|l'essentiel|najważniejsze",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Features:
    """What grouping knows of one post's text."""

    stems: frozenset[str]
    names: frozenset[str]
    numbers: frozenset[str]
    digest: bool


def stems_of(words: list[str]) -> frozenset[str]:
    return frozenset(w[:STEM_LEN] for w in words if len(w) >= 3 and _LETTER_RE.match(w))


def numbers_of(folded: str) -> frozenset[str]:
    out = set()
    for raw in _NUMBER_RE.findall(folded):
        digits = _SEPARATORS_RE.sub("", raw).lstrip("0")
        if digits:
            out.add(digits)
    return frozenset(out)


def names_of(text: str) -> frozenset[str]:
    out = set()
    for word in _NAME_RE.findall(text):
        latin = word.lower().translate(_TRANSLIT)
        if len(latin) >= NAME_LEN:
            out.add(latin[:NAME_LEN])
    return frozenset(out)


def is_digest(text: str, min_items: int = 4) -> bool:
    """A post whose non-empty lines are mostly list items, at least `min_items` of them (three
    under a digest heading such as «Главное к вечеру»)."""
    if text.count("\n") < min_items - 1:
        return False  # most posts: too few lines to be a list
    lines = [ln for ln in text.splitlines() if ln.strip()]
    items = sum(1 for ln in lines if _ITEM_RE.match(ln))
    if items < min_items - 1 or items * 2 < len(lines) - 1:
        return False
    return items >= min_items or bool(_DIGEST_HEAD_RE.search(lines[0]))


def features(text: str, words: list[str] | None = None, *, digest_items: int = 4) -> Features:
    """Features of a post; pass `words` when the caller already folded the text."""
    folded = ""
    if words is None or any(c.isdigit() for c in text):  # numbers need the folded text
        folded = fold(text).folded
    if words is None:
        words = WORD_RE.findall(folded)
    return Features(stems_of(words), names_of(text), numbers_of(folded),
                    is_digest(text, digest_items))
