"""This module contains word forms: which post words count as a form of a plain query word.

A plain query word (not quoted, not typed in capitals, not `word*`) of four or more letters
matches its inflected forms. Post words and query words are both folded (`bot.text.fold`), and
two words are forms of one another when a Snowball stemmer (PyStemmer, C, no data files) gives
them the same stem: Russian for Cyrillic words (Ukrainian keeps the ending rule of
`bot.pipeline.query`, as Snowball has no Ukrainian stemmer), English, German, French and Polish
for Latin words. A post's language is not known when queries run (detection is lazy), so a Latin
query word is stemmed in the languages it is a common word of, by wordfreq's frequency lists
(within one Zipf point of its most frequent language): `soldier` only in English, `krieg` only
in German, `combat` in English and French. That keeps German "-en" endings from making
`warden` a form of an English `ward` unless `ward` is also a German word (it is).

Matching stays a substring search: every form of a word starts with `WordForms.prefix` (the
common prefix of the word and its stems; Snowball only strips or rewrites endings), so a query
looks for " " + prefix in the joined post text with C `str.find` or its automaton and stems only
the few post words found there. Stems of post words are cached.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

# wordfreq's frequencies, from compact memory-mapped tables (wordfreq's dicts cost ~30 MB a list)
from bot.pipeline.wordtable import zipf_frequency

log = logging.getLogger(__name__)

MIN_LETTERS = 4  # shorter words (war, bój, ist) stay exact: their stems are too ambiguous
MIN_STEM = 3
_LATIN_RE = re.compile(r"[a-z]+")
_CYRILLIC_RE = re.compile(r"[\u0430-\u045f\u0491]+")
_LATIN_LANGS = ("english", "german", "french", "polish")
_CODES = {"english": "en", "german": "de", "french": "fr", "polish": "pl"}
_COMMON = 2.5  # Zipf frequency of a common word (about 1 in 300,000 words)
_MARGIN = 1.0
_CYRILLIC_LANGS = ("russian",)
_STEMMERS = {name: Stemmer.Stemmer(name) for name in _LATIN_LANGS + _CYRILLIC_LANGS}


@lru_cache(maxsize=1 << 16)
def stem(lang: str, word: str) -> str:
    """The Snowball stem of a folded word in one of the stemmer languages (cached)."""
    return _STEMMERS[lang].stemWord(word)


def _common_prefix(words: list[str]) -> str:
    return os.path.commonprefix(words)


def _languages(word: str) -> tuple[str, ...]:
    """The stemmer languages a Latin word is a common word of (the most likely first)."""
    freq = {lang: zipf_frequency(word, _CODES[lang]) for lang in _LATIN_LANGS}
    best = max(freq.values())
    if best <= 0:
        return _LATIN_LANGS  # unknown everywhere (a name, a folded rare form): try them all
    langs = [lang for lang in _LATIN_LANGS
             if freq[lang] >= min(_COMMON, best) and freq[lang] >= best - _MARGIN]
    return tuple(sorted(langs, key=lambda lang: -freq[lang]))


@dataclass(frozen=True, slots=True)
class WordForms:
    """The forms of one folded query word."""

    word: str
    prefix: str  # every form starts with it
    stems: tuple[tuple[str, str], ...]  # (stemmer language, stem of `word`)

    def matches(self, candidate: str) -> bool:
        """Whether the folded post word `candidate` is a form of `word`."""
        if candidate == self.word:
            return True
        if not candidate.startswith(self.prefix):
            return False
        return any(stem(lang, candidate) == s for lang, s in self.stems)

    def found_in(self, joined: str) -> bool:
        """Whether some word of a joined post text (`Doc.joined`) is a form of `word`."""
        needle = " " + self.prefix
        i = joined.find(needle)
        while i >= 0:
            start = i + 1
            end = joined.find(" ", start)
            if self.matches(joined[start:end]):
                return True
            i = joined.find(needle, end)
        return False


def _rewritten(stems: tuple[tuple[str, str], ...]) -> list[str]:
    """Starts of forms a stem does not begin: English Snowball writes a final y as i
    (army -> armi), so `army` must still be found by the forms of `armies`."""
    return [s[:-1] for lang, s in stems if lang == "english" and s.endswith("i")]


def word_forms(word: str) -> WordForms | None:
    """The forms of a folded query word, or None when it only matches itself (too short,
    not Latin or Cyrillic, or no stemmer reduces it to a stem of at least three letters)."""
    if len(word) < MIN_LETTERS:
        return None
    if _LATIN_RE.fullmatch(word):
        langs = _languages(word)
    elif _CYRILLIC_RE.fullmatch(word):
        langs = _CYRILLIC_LANGS
    else:
        return None
    stems = tuple((lang, s) for lang in langs if len(s := stem(lang, word)) >= MIN_STEM)
    if not stems:
        return None
    prefix = _common_prefix([word, *(s for _, s in stems), *_rewritten(stems)])
    if len(prefix) < MIN_STEM:
        # A stemmer rewrote the word's start (it never should): only that stem's own forms.
        stems = tuple((lang, s) for lang, s in stems if s.startswith(word[:MIN_STEM]))
        if not stems:
            return None
        prefix = _common_prefix([word, *(s for _, s in stems), *_rewritten(stems)])
    return WordForms(word, prefix, stems)
