"""This module contains language detection tuned for short, noisy chat posts.

How a text is judged:

1. Read its opening (up to 64 words of one script, see `FIRST_CHARS`) and clean it: links,
   bare domains, e-mail addresses, @mentions, #hashtags and markup go (they say nothing about
   the language); digits and emoji are never letters, so they do not count.
2. Pick the script: letters are counted per script, capitalised words (names, brands) weigh less,
   so "Apple представила новый iPhone" is Cyrillic and "삼성 Galaxy 공개" is Hangul. Only the
   candidates written in that script compete; a script no candidate uses gives `und`.
3. Add up evidence per candidate in log-odds:
   - spelling: letters outside a language's alphabet, spelling patterns, and a hand-written word
     list for Belarusian (bot.pipeline.orthography);
   - word frequency: how often each word occurs in each candidate language, from wordfreq's
     lists without their rarest words, floored for words a list lacks; a language without a
     list (Belarusian) is scored just under the best listed one, so it is not punished for the
     missing list. Lists are opened lazily, once per process, and only for scripts where several
     candidates compete: compact tables (bot.pipeline.wordtable) built at first use into a
     cache folder and memory-mapped, a few MB in all instead of wordfreq's ~214 MB of dicts;
   - langdetect's probabilities from a detector built from the candidates' profiles only, with
     a fixed seed. It is skipped when the other evidence is already beyond its reach (Hangul,
     ў, a word frequent in one language and absent from the others, ...).
4. The posterior of the winner is the confidence; below `min_confidence` the answer is `und`.

Answers are cached per text in a bounded LRU.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.languages import LANGUAGES_DEFAULT
from bot.pipeline import wordtable
from bot.pipeline.orthography import (
    SCRIPT_LANGUAGES,
    Word,
    known_languages,
    split_words,
    sum_evidence,
)
from bot.pipeline.wordtable import WordTable
from bot.text import clean_for_language

if TYPE_CHECKING:
    from langdetect.detector_factory import DetectorFactory

DEFAULT_CANDIDATES: tuple[str, ...] = tuple(LANGUAGES_DEFAULT)
UND = "und"

SEED = 20240601  # any fixed value: langdetect samples n-grams at random
N_TRIAL = 7  # langdetect's default; fewer trials make short-text votes coarser
# Weight of log P(langdetect) against the spelling and word-frequency log-odds. langdetect
# votes all-or-nothing on one or two words, and often wrongly (benchmark-tuned).
LD_WEIGHT = 0.5
LD_FLOOR = 0.1  # langdetect's probabilities are vote shares, often all-or-nothing and wrong on short texts
MAX_WORDS = 64  # a long post has long since made up its mind
LD_MAX_CHARS = 400
MIN_LETTERS = 3  # letters below which there is nothing to judge ("ok", "да", "no")
SCRIPT_SHARE = 0.5  # a watched script must have this share of the strongest script's letters
# Log-priors. Languages without a langdetect profile (be, sr, kk) get the best profile score
# of their script and pay for that benefit of the doubt here. The rest leans towards the
# languages the default deployment mostly reads (ru, uk, en) when a short text is ambiguous:
# Bulgarian and Russian, or French and English, often share every letter of a short post.
PRIORS = {"be": -1.0, "sr": -1.0, "kk": -1.0, "bg": -0.7, "fr": -0.5, "de": -0.3, "pl": -0.3}
ALIASES = {"zh": ("zh-cn", "zh-tw")}


def _profiles_directory() -> str:
    """langdetect's profile folder, found without importing it (its import and ftfy's are put
    off until a text needs them: `wirewatch search` and the like start faster)."""
    spec = importlib.util.find_spec("langdetect")
    assert spec is not None and spec.submodule_search_locations
    return str(Path(next(iter(spec.submodule_search_locations))) / "profiles")


PROFILES_DIRECTORY = _profiles_directory()
_PROFILE_LANGS = frozenset(
    name for name in os.listdir(PROFILES_DIRECTORY) if not name.startswith(".")
)
_LANG_SCRIPT = {lang: script for script, langs in SCRIPT_LANGUAGES.items() for lang in langs}


@dataclass(frozen=True, slots=True)
class Detection:
    """A language code (ISO 639-1, or 'und' when unknown) and a confidence in [0, 1].

    For 'und' the confidence is that of the rejected best guess, 0.0 when there was no text.
    """

    lang: str
    confidence: float


_NOTHING = Detection(UND, 0.0)

# --- langdetect factories, shared by every detector with the same profile set -------------

_factories: dict[tuple[str, ...], DetectorFactory] = {}
_factories_lock = threading.Lock()


def _factory(langs: tuple[str, ...]) -> DetectorFactory:
    """A langdetect factory holding only `langs` (sorted) profiles, seeded; built once."""
    with _factories_lock:
        factory = _factories.get(langs)
        if factory is None:
            from langdetect.detector_factory import DetectorFactory

            factory = DetectorFactory()
            profiles = []
            for lang in langs:
                path = os.path.join(PROFILES_DIRECTORY, lang)
                with open(path, encoding="utf-8") as fh:
                    profiles.append(fh.read())
            factory.load_json_profile(profiles)
            factory.set_seed(SEED)  # an instance attribute: the class-wide seed cannot touch it
            _factories[langs] = factory
        return factory


def _langdetect(langs: tuple[str, ...], text: str) -> dict[str, float] | None:
    """langdetect's probabilities over `langs`, or None when it finds no usable n-gram."""
    detector = _factory(langs).create()
    detector.seed = SEED
    detector.n_trial = N_TRIAL
    detector.set_max_text_length(LD_MAX_CHARS)
    detector.append(text)
    from langdetect.lang_detect_exception import LangDetectException

    try:
        detector.get_probabilities()
    except LangDetectException:
        return None
    # langprob holds every language; get_probabilities() drops those under 0.1.
    return dict(zip(detector.langlist, detector.langprob, strict=True))


# --- word frequencies (wordfreq) ----------------------------------------------------------
# One or two words rarely show a spelling rule, but nearly always say which language uses them
# most: "речей" is frequent Ukrainian and rare Russian. Each word adds FREQ_WEIGHT x log10 of
# its frequency per language (wordfreq's Zipf scale), measured from the best language's, so
# only differences count; one word can cost a language at most FREQ_CAP Zipf units.

FREQ_WEIGHT = 3.0  # nats per Zipf unit; ln 10 = 2.3 would be naive Bayes (benchmark-tuned)
FREQ_CAP = 4.0
# A word missing from a list gets a floor rather than zero frequency. wordfreq's large lists
# reach Zipf 1.0 (one in 10^8 words), its small ones (bg) only 3.0, so a word missing from a
# small list says much less against the language.
FREQ_FLOOR = {"large": 0.25, "small": 1.5}
# Words rarer than this are not kept and score the floor like a missing word. Most of a large
# list's 0.3-0.7 million words are that rare (benchmark-tuned when the lists were dicts:
# 1.25, 1.5, 1.75 and 2.0 tried; the loss grows quickly above 1.5). The compact tables keep
# the same words, so the accuracy figures are unchanged.
FREQ_MIN_ZIPF = 1.5
# Languages without a list (wordfreq has none for be, sr, kk, and would silently answer with
# Russian's for be) score a word at the best listed language minus this, but never below the
# listed languages' floors: shared words cost them a little, words no list knows nothing.
NO_LIST_GAP = 1.0
FREQ_SCRIPTS = frozenset({"cyrl", "latn"})  # where neighbours share letters and need words


@dataclass(frozen=True, slots=True)
class FreqTable:
    """One wordfreq list (compact, see bot.pipeline.wordtable) and the floor for words not in it."""

    lang: str
    table: WordTable
    floor: float

    def zipf(self, word: str) -> float:
        """The Zipf frequency of a lower-case word, the floor when the list lacks it."""
        found = self.table.centizipf(word)
        if found is not None:
            return found / 100.0
        if "'" in word:  # wordfreq splits French l'eau and English o'clock at the apostrophe
            parts = [part for part in word.split("'") if part]
            known = [self.table.centizipf(part) for part in parts]
            if parts and all(value is not None for value in known):
                return min(known) / 100.0  # type: ignore[type-var]
        if "ß" in word:
            return self.zipf(word.replace("ß", "ss"))  # wordfreq case-folds ß to ss
        return self.floor

    def __contains__(self, word: object) -> bool:
        return word in self.table


_freq_tables: dict[str, FreqTable | None] = {}
_freq_lock = threading.Lock()


def freq_table(lang: str) -> FreqTable | None:
    """`lang`'s wordfreq list, opened once per process (memory-mapped from the cache, built
    there at first use: about 1 s for a large list); None if wordfreq has none."""
    if lang in _freq_tables:  # no lock once loaded: a reader must not wait for another's load
        return _freq_tables[lang]
    with _freq_lock:  # one reader per list, even when threads start at once
        if lang in _freq_tables:
            return _freq_tables[lang]
        table = None
        compact = wordtable.load(lang, round(100 * FREQ_MIN_ZIPF))
        if compact is not None:
            table = FreqTable(lang, compact, FREQ_FLOOR[compact.kind])
        _freq_tables[lang] = table
        return table


def freq_evidence(words: Sequence[Word], tables: dict[str, FreqTable | None]) -> dict[str, float]:
    """Summed log-frequency evidence for each language of `tables` (None: it has no list)."""
    totals = dict.fromkeys(tables, 0.0)
    listed = [(lang, table) for lang, table in tables.items() if table is not None]
    if not listed:
        return totals
    floor = max(table.floor for _, table in listed)
    for word in words:
        zipfs = {lang: table.zipf(word.text) for lang, table in listed}
        top = max(zipfs.values())
        for lang in totals:
            zipf = zipfs.get(lang)
            if zipf is None:
                zipf = max(floor, top - NO_LIST_GAP)
            totals[lang] += FREQ_WEIGHT * max(zipf - top, -FREQ_CAP)
    return totals


# --- cleaning ------------------------------------------------------------------------------

# Beyond bot.text.clean_for_language: bare domains (t.me/x, rt.com), e-mail, HTML entities.
# Every pattern is linear in the text, whatever it holds: a match may only start where a token
# (or a run of domain characters) starts, and the domain labels are possessive, so no start
# position rescans the rest of a long token (a 100,000-letter word once took 70 s here).
_TLDS = "com|net|org|info|io|me|ru|ua|by|bg|de|fr|pl|kr|uk|eu|gov|edu|tv|co|su|news|app|рф|укр"
_EXTRA_NOISE_RE = re.compile(
    rf"(?<!\S)[^\s@]++@\S+\.\w+|(?<![\w.-])(?:[\w-]++\.)+(?:{_TLDS})\b(?:/\S*)?|&#?\w+;",
    re.IGNORECASE,
)
_HASHTAG_RE = re.compile(r"#(\w+)")
_CAMEL_RE = re.compile(r"(?<=[^\W\d_])(?=[A-ZА-ЯЁІЇЄҐЎ][^\W\d_])")

# Mojibake that ftfy could not undo: an accented capital right after a small letter
# ("CzÄ™Å›Ä‡" half repaired) is never spelling, and a word holding one is dropped.
_MOJIBAKE_WORD_RE = re.compile("(?<!\\S)\\S*?[a-zà-ÿ][ÃÂÄÅÐÑĂĹ]\\S*")
# A run of 64 or more alphabetic letters is no word of any watched language (keyboard mash,
# base64, a hostile filler); left in, it would outvote the real words' script.
_LETTERS = "a-zA-Z\u00c0-\u024f\u0370-\u03ff\u0400-\u052f"
_NOT_A_WORD_RE = re.compile(f"(?<![{_LETTERS}])[{_LETTERS}]{{64,}}")
# Detection reads a post's opening: FIRST_CHARS, then four times as much while no script has
# MAX_WORDS words yet (a post opening with links or emoji), never more than MAX_CHARS. Cleaning
# and splitting so cost what the scored words need, not what the post holds (a 5 MB post
# whole would take seconds); a post's opening words have long since made up its mind.
FIRST_CHARS = 1_000
MAX_CHARS = 20_000
_LAST_SPACE_RE = re.compile(r"\s\S*\Z")


def opening(text: str, size: int) -> str:
    """The first `size` characters of `text`, cut back to a whitespace so no word (or link)
    is cut in two."""
    if len(text) <= size:
        return text
    head = text[:size]
    cut = _LAST_SPACE_RE.search(head, max(0, size - 200))
    return head[:cut.start()] if cut else head


def _mojibake_hint() -> re.Pattern[str]:
    """UTF-8 read with a Windows code page shows a lead byte's character followed by a
    continuation byte's; a text with no such pair has nothing for ftfy to repair, and most
    posts are spared its ~100 µs."""
    pairs = []
    for codepage in ("cp1252", "cp1250", "cp1251"):
        lead = bytes(range(0xC2, 0xF5)).decode(codepage, errors="ignore")
        cont = bytes(range(0x80, 0xC0)).decode(codepage, errors="ignore")
        pair = f"[{re.escape(lead)}][{re.escape(cont)}]"
        # cp1251 shows Cyrillic as Cyrillic ("Сі" is plain Ukrainian): ask for two letters.
        pairs.append(pair * 2 if codepage == "cp1251" else pair)
    return re.compile("|".join(pairs))


_MOJIBAKE_HINT_RE = _mojibake_hint()


def repair_mojibake(text: str) -> str:
    """Undo text decoded with the wrong code page (UTF-8 read as cp1252, cp1250 or cp1251:
    "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "РџСЂРёРІРµС‚" -> "Привет"), using ftfy."""
    if _MOJIBAKE_HINT_RE.search(text) is None:
        return text
    import ftfy  # only here: its import costs ~80 ms that most processes never need

    return ftfy.fix_encoding(text)


def clean(text: str) -> str:
    """The text with everything that is not running prose removed (NFKC: styled letters too)."""
    text = unicodedata.normalize("NFKC", repair_mojibake(text))  # NFKC would garble the bytes
    text = _MOJIBAKE_WORD_RE.sub(" ", text)
    text = _EXTRA_NOISE_RE.sub(" ", clean_for_language(text))
    return _NOT_A_WORD_RE.sub(" ", text)


def _hashtag_words(text: str) -> str:
    """#КурскаяОбласть #north_korea -> 'Курская Область north korea' (a last resort)."""
    bodies = _HASHTAG_RE.findall(unicodedata.normalize("NFKC", text))
    return " ".join(_CAMEL_RE.sub(" ", body.replace("_", " ")) for body in bodies)


def _mostly_caps(text: str) -> bool:
    upper = sum(1 for c in text if c.isupper())
    lower = sum(1 for c in text if c.islower())
    return upper > lower


# --- the detector --------------------------------------------------------------------------


def supported_languages() -> frozenset[str]:
    """Codes a detector accepts as candidates."""
    langs = (_PROFILE_LANGS | known_languages()) & set(_LANG_SCRIPT)
    return frozenset(langs | set(ALIASES))


class UnsupportedLanguage(ConfigError, ValueError):
    """A candidate language code the detector does not know (or no candidate at all).

    A ConfigError, so a bad `languages.candidates` setting is reported like any other config
    problem; also a ValueError, as LanguageDetector always raised for bad arguments.
    """


def _expand(candidates: Sequence[str] | str) -> tuple[tuple[str, ...], dict[str, str]]:
    """Internal language codes and how to report them; UnsupportedLanguage for unknown codes."""
    if isinstance(candidates, str):
        candidates = candidates.replace(",", " ").split()
    supported = supported_languages()
    langs: list[str] = []
    report: dict[str, str] = {}
    unknown = []
    for item in candidates:
        code = str(item).strip().lower()  # YAML may hand over numbers or null
        if code not in supported:
            unknown.append(code)
            continue
        for lang in ALIASES.get(code, (code,)):
            if lang not in langs:
                langs.append(lang)
                report[lang] = code
    if unknown:
        raise UnsupportedLanguage(
            f"unsupported language code(s) {', '.join(map(repr, unknown))} in the detector's "
            f"candidates; supported: {' '.join(sorted(supported))}"
        )
    if not langs:
        raise UnsupportedLanguage("at least one candidate language is needed")
    return tuple(langs), report


def check_candidates(candidates: Sequence[str] | str) -> tuple[str, ...]:
    """The candidate codes, normalised (lower case, no duplicates), as a detector would use them.

    Raises UnsupportedLanguage (a ConfigError) naming the unknown codes and listing the
    supported ones; meant for settings validation, before any detector is built.
    """
    langs, report = _expand(candidates)
    return tuple(dict.fromkeys(report[lang] for lang in langs))


class LanguageDetector:
    """Detects the language of a post among the candidate languages.

    Deterministic (fixed seeds, no global state), bounded-cache, and safe to share between
    threads: each call builds its own langdetect Detector from shared, read-only profiles.
    """

    def __init__(
        self,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        min_confidence: float = 0.5,
        cache_size: int = 4096,
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError("min_confidence must be within [0, 1]")
        langs, self._report = _expand(candidates)
        self.candidates: tuple[str, ...] = tuple(dict.fromkeys(self._report[lang] for lang in langs))
        self.min_confidence = min_confidence
        self._groups: dict[str, tuple[str, ...]] = {}
        for lang in langs:
            script = _LANG_SCRIPT[lang]
            self._groups[script] = (*self._groups.get(script, ()), lang)
        self._profiles = {
            script: tuple(sorted(lang for lang in group if lang in _PROFILE_LANGS))
            for script, group in self._groups.items()
        }
        # functools' LRU is thread-safe and counts hits and misses; maxsize 0 caches nothing.
        self._cached = lru_cache(maxsize=max(0, cache_size))(self._detect)

    def detect(self, text: str) -> Detection:
        """The language of `text`; Detection('und', ...) when the evidence is too weak."""
        return self._cached(text[:MAX_CHARS])  # nothing past it is read: nor kept as a key

    def cache_info(self) -> tuple[int, int, int]:
        """(hits, misses, current size) of the result cache."""
        info = self._cached.cache_info()
        return info.hits, info.misses, info.currsize

    # -- internals --

    def _read(self, text: str) -> tuple[str, list[Word]]:
        """The opening of `text` and its words, up to the word that gives one script MAX_WORDS
        (all of them when none has that many within MAX_CHARS): the script is picked, and the
        words scored, from the same opening, whatever follows it."""
        size = FIRST_CHARS
        while True:
            part = opening(text, min(size, MAX_CHARS))
            cleaned = clean(part)
            words = split_words(cleaned, lower_caps=_mostly_caps(cleaned))
            counts: dict[str, int] = {}
            for index, word in enumerate(words):
                counts[word.script] = counts.get(word.script, 0) + 1
                if counts[word.script] >= MAX_WORDS:
                    return part, words[: index + 1]
            if len(part) == len(text) or size >= MAX_CHARS:
                return part, words
            size *= 4

    def _detect(self, text: str) -> Detection:
        text, words = self._read(text)
        if not words:  # a post of hashtags only still says something
            tags = _hashtag_words(text)
            words = split_words(tags, lower_caps=_mostly_caps(tags))
        script = self._pick_script(words)
        if script is None:
            return _NOTHING
        group_words = [w for w in words if w.script == script][:MAX_WORDS]
        if script == "cjk" and any(w.kana for w in group_words):
            langs = tuple(lang for lang in self._groups[script] if lang == "ja")
            if not langs:  # Kana is Japanese, and Japanese is not watched
                return _NOTHING
        else:
            langs = self._groups[script]
        if sum(len(w.text) for w in group_words) < MIN_LETTERS and script not in ("hang", "cjk"):
            return _NOTHING
        scores = self._scores(script, langs, group_words)
        return self._decide(scores)

    def _pick_script(self, words: list[Word]) -> str | None:
        weights: dict[str, float] = {}
        for word in words:
            weights[word.script] = weights.get(word.script, 0.0) + word.weight
        if not weights:
            return None
        strongest = max(weights.values())
        watched = [(w, s) for s, w in weights.items() if s in self._groups and w >= SCRIPT_SHARE * strongest]
        return max(watched)[1] if watched else None

    def _scores(self, script: str, langs: tuple[str, ...], words: list[Word]) -> dict[str, float]:
        scores = sum_evidence(words, langs)
        if len(langs) > 1 and script in FREQ_SCRIPTS:
            tables = {lang: freq_table(lang) for lang in langs}
            for lang, score in freq_evidence(words, tables).items():
                scores[lang] += score
        for lang in langs:
            scores[lang] += PRIORS.get(lang, 0.0)
        profiles = tuple(lang for lang in self._profiles[script] if lang in langs)
        if len(langs) < 2 or len(profiles) < 2:
            return scores
        ranked = sorted(scores.values(), reverse=True)
        if ranked[0] - ranked[1] > LD_WEIGHT * -math.log(LD_FLOOR):
            return scores  # langdetect could not overturn this: save its time
        probs = _langdetect(profiles, self._ld_text(words))
        if probs is None:
            return scores
        best = max(probs.values())
        for lang in langs:
            p = probs.get(lang, best)  # no profile: the benefit of the doubt (see PRIORS)
            scores[lang] += LD_WEIGHT * math.log(max(p, LD_FLOOR))
        return scores

    @staticmethod
    def _ld_text(words: list[Word]) -> str:
        return " ".join(w.text for w in words)[:LD_MAX_CHARS]

    def _decide(self, scores: dict[str, float]) -> Detection:
        top = max(scores.values())
        total = sum(math.exp(s - top) for s in scores.values())
        lang = max(scores, key=scores.__getitem__)  # ties: the first candidate
        confidence = round(1.0 / total, 4)
        if confidence < self.min_confidence:
            return Detection(UND, confidence)
        return Detection(self._report[lang], confidence)
