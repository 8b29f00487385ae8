"""This module contains the script, spelling and word evidence behind language detection.

Everything here is knowledge about writing systems, not statistics learnt from data: which
script a letter belongs to, which letters each language's alphabet has, spelling patterns that
one language uses and a neighbour does not (Ukrainian -ння and ськ, Russian -тся and ь+vowel,
Bulgarian vowel ъ, Belarusian ў, цц and -ага, German sch, Polish sz/cz/rz ...), and a hand-written
list of frequent words for the languages wordfreq has no list for (bot/data/langid_lexicon.yaml;
Belarusian). Word frequencies of the other languages are weighed in bot.pipeline.language.

`word_evidence` turns one lower-cased word into additive log-odds per language; the detector in
bot.pipeline.language sums them over a text and combines them with langdetect's probabilities.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "langid_lexicon.yaml"

# Weights, in nats of log-odds. A word outside a language's alphabet is near-proof against it;
# Latin diacritics are dropped often enough in chat that the penalty there is milder.
LEXICON_WEIGHT = 2.5
ALPHABET_PENALTY = {"cyrl": 6.0, "latn": 4.0}

# --- scripts -------------------------------------------------------------------------------

# (first, last, script) code point ranges; anything not listed is not a letter we weigh.
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "latn"), (0x0061, 0x007A, "latn"), (0x00C0, 0x024F, "latn"),
    (0x1E00, 0x1EFF, "latn"),
    (0x0370, 0x03FF, "grek"), (0x1F00, 0x1FFF, "grek"),
    (0x0400, 0x052F, "cyrl"),
    (0x0590, 0x05FF, "hebr"),
    (0x0600, 0x06FF, "arab"), (0x0750, 0x077F, "arab"), (0xFB50, 0xFDFF, "arab"),
    (0xFE70, 0xFEFF, "arab"),
    (0x0900, 0x097F, "deva"), (0x0980, 0x09FF, "beng"), (0x0A00, 0x0A7F, "guru"),
    (0x0A80, 0x0AFF, "gujr"), (0x0B80, 0x0BFF, "taml"), (0x0C00, 0x0C7F, "telu"),
    (0x0C80, 0x0CFF, "knda"), (0x0D00, 0x0D7F, "mlym"), (0x0E00, 0x0E7F, "thai"),
    (0x1100, 0x11FF, "hang"), (0x3130, 0x318F, "hang"), (0xAC00, 0xD7AF, "hang"),
    (0x3040, 0x30FF, "kana"), (0x31F0, 0x31FF, "kana"), (0xFF66, 0xFF9F, "kana"),
    (0x3400, 0x4DBF, "hani"), (0x4E00, 0x9FFF, "hani"), (0xF900, 0xFAFF, "hani"),
)

# Which languages write in which script (langdetect's codes, plus be/sr/kk which it lacks).
# Kana and Han share one group: a Japanese text mixes them, a Chinese text has no Kana.
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "latn": ("en", "de", "fr", "pl", "af", "ca", "cs", "cy", "da", "es", "et", "fi", "hr", "hu",
             "id", "it", "lt", "lv", "nl", "no", "pt", "ro", "sk", "sl", "so", "sq", "sv", "sw",
             "tl", "tr", "vi"),
    "cyrl": ("ru", "uk", "be", "bg", "mk", "sr", "kk"),
    "grek": ("el",), "hebr": ("he",), "arab": ("ar", "fa", "ur"),
    "deva": ("hi", "mr", "ne"), "beng": ("bn",), "guru": ("pa",), "gujr": ("gu",),
    "taml": ("ta",), "telu": ("te",), "knda": ("kn",), "mlym": ("ml",), "thai": ("th",),
    "hang": ("ko",), "cjk": ("ja", "zh-cn", "zh-tw"),
}
SCRIPT_GROUP = {"kana": "cjk", "hani": "cjk"}  # scripts that share one language group
# A Hangul syllable or a Han character carries about as much as two or three alphabet letters.
SCRIPT_WEIGHT = {"hang": 2.5, "kana": 1.5, "hani": 2.5}


@lru_cache(maxsize=4096)
def script_of(ch: str) -> str | None:
    """The script of one character, or None for digits, punctuation, emoji and the rest."""
    cp = ord(ch)
    for first, last, script in _SCRIPT_RANGES:
        if first <= cp <= last:
            return script if ch.isalpha() else None
    return None


# --- words ---------------------------------------------------------------------------------

# A word: letters, optionally joined by apostrophes (Ukrainian п'ять, French l'eau, English don't).
_APOSTROPHES = "'’ʼ`´ʹ"
WORD_RE = re.compile(rf"[^\W\d_]+(?:[{_APOSTROPHES}][^\W\d_]+)*")
_APOSTROPHE_TABLE = str.maketrans({a: "'" for a in _APOSTROPHES})

# Latin look-alikes typed inside Cyrillic words (Ukrainian 'i' for 'і' is common) and back.
_LAT_TO_CYR = str.maketrans("aceopxyiABCEHKMOPTXI", "асеорхуіАВСЕНКМОРТХІ")
_CYR_TO_LAT = str.maketrans("асеорхуіјАВСЕНКМОРТХІЈ", "aceopxyijABCEHKMOPTXIJ")


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # lower case, apostrophes unified to "'"
    script: str  # "latn", "cyrl", "hang", "cjk", ...
    weight: float  # how much it says about the text's script
    kana: bool = False  # has Kana: Japanese, not Chinese


def _word_script(word: str) -> tuple[str, dict[str, int]]:
    counts: dict[str, int] = {}
    for ch in word:
        script = script_of(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "", counts
    return max(counts, key=lambda s: (counts[s], s)), counts


def split_words(text: str, *, lower_caps: bool) -> list[Word]:
    """Words of `text` with their script; homoglyphs inside mixed words folded to the majority.

    Capitalised words (names, brands, acronyms) count less towards the script of the text, so
    "Apple представила новый iPhone" is a Cyrillic text; `lower_caps` turns that off for texts
    written all in capitals.
    """
    words: list[Word] = []
    for match in WORD_RE.finditer(text):
        raw = match.group(0)
        script, counts = _word_script(raw)
        if not script:
            continue
        if len(counts) > 1 and "cyrl" in counts and "latn" in counts:
            raw = raw.translate(_LAT_TO_CYR if script == "cyrl" else _CYR_TO_LAT)
        group = SCRIPT_GROUP.get(script, script)
        kana = "kana" in counts
        weight = sum(n * SCRIPT_WEIGHT.get(s, 1.0) for s, n in counts.items())
        if not lower_caps and not raw.islower() and any(c.isupper() for c in raw):
            weight *= 0.4
        words.append(Word(raw.lower().translate(_APOSTROPHE_TABLE), group, weight, kana))
    return words


# --- alphabets -----------------------------------------------------------------------------

_RU = set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
ALPHABETS: dict[str, frozenset[str]] = {
    "ru": frozenset(_RU),
    "uk": frozenset((_RU - set("ёъыэ")) | set("ґєії")),
    "be": frozenset((_RU - set("ищъ")) | set("іў")),
    "bg": frozenset((_RU - set("ёыэ")) | set("ѝ")),
    "mk": frozenset("абвгдѓежзѕијклљмнњопрстќуфхцчџшѐѝ"),
    "sr": frozenset("абвгдђежзијклљмнњопрстћуфхцчџш"),
    "kk": frozenset(_RU | set("әғқңөұүһі")),
    "en": frozenset("abcdefghijklmnopqrstuvwxyz"),
    "de": frozenset("abcdefghijklmnopqrstuvwxyzäöüß"),
    "fr": frozenset("abcdefghijklmnopqrstuvwxyzàâæçéèêëîïôœùûüÿ"),
    "pl": frozenset("abcdefghijklmnopqrstuvwxyząćęłńóśźż"),
}

# --- spelling patterns ---------------------------------------------------------------------
# (pattern, {language: log-odds}), matched on one lower-case word. Each encodes a rule of
# standard orthography or morphology; comments give the reason when it is not obvious.
_CONS = "бвгджзклмнпрстфхцчшщ"
_PATTERNS_SRC: tuple[tuple[str, dict[str, float]], ...] = (
    # --- Cyrillic: what sets Russian, Ukrainian, Belarusian and Bulgarian apart ---
    # Apostrophe inside a word: Ukrainian/Belarusian п'ять, сям'я (Russian writes ь/ъ).
    (r"[а-яіїєґў]'[а-яіїєґў]", {"uk": 2.5, "be": 2.5, "ru": -2.5, "bg": -2.5}),
    # Soft sign before an iotated vowel: Russian статья, семьи; Ukrainian uses the apostrophe
    # or doubling, Bulgarian writes ь only before о.
    (r"ь[еёиюя]", {"ru": 1.5, "uk": -2.0, "be": -2.0, "bg": -2.0}),
    (r"ьо", {"uk": 2.0, "bg": 1.0, "ru": -1.5, "be": -2.0}),
    (r"ь(?!о)", {"bg": -3.0}),
    # Bulgarian ъ is a vowel (път, във, българ-); Russian ъ stands only before е ё ю я.
    (r"ъ(?![еёюя])", {"bg": 3.0, "ru": -3.0}),
    (r"ъ[еёюя]", {"ru": 1.5, "bg": -1.0}),
    # и before a vowel (России, -ние, -ия) is Russian/Bulgarian; Ukrainian has і there, and
    # writes є, not е, after a vowel (знає, своє).
    (r"и[еяюи]", {"ru": 1.0, "bg": 0.5, "uk": -2.0}),
    (r"^и", {"ru": 1.0, "bg": 0.5, "uk": -2.0}),
    (r"^е", {"ru": 0.5, "bg": 0.3, "uk": -0.7}),
    (r"[аоуы]е", {"ru": 0.7, "uk": -1.2}),
    (r"(?:ськ|цьк|зьк)", {"uk": 3.0, "ru": -2.0, "bg": -2.0, "be": -2.0}),
    (r"цк", {"ru": 2.0, "uk": -1.5}),
    (r"ск(?:ий|ая|ое|ие|их|им|ими|ого|ому|ой|ую)$", {"ru": 2.0, "uk": -1.5, "bg": -1.0, "be": -1.0}),
    # Russian -ость (Ukrainian -ість, Bulgarian -ост).
    (r"ость$", {"ru": 2.0, "uk": -2.0, "bg": -1.5}),
    (r"ост$", {"bg": 1.5, "ru": -0.5, "uk": -0.5}),
    # Ukrainian lengthened consonant before я/ю/і: питання, життя, знанням.
    (rf"([{_CONS}])\1(?:я|ю|ям|ями|ях|і)$", {"uk": 2.0, "be": 1.5, "ru": -2.0, "bg": -2.0}),
    (r"(?:нне|лле|ссе|цце|ддзе)$", {"be": 3.0, "uk": -1.0, "ru": -2.0, "bg": -2.0}),
    (r"цц", {"be": 2.5, "ru": -1.0, "uk": -1.0, "bg": -1.0}),
    (r"енн(?:о|ой|ым|ых)$", {"ru": 1.2}),
    # Verbs. Russian 3rd person ends in a bare т (делает, говорит, идут); Ukrainian has -ть
    # or -є (робить, знає, йдуть), Bulgarian a vowel. Russian reflexive -тся, -лся.
    (r"тся$", {"ru": 2.0, "uk": -2.0, "be": -2.0, "bg": -1.0}),
    (r"лся$", {"ru": 1.5, "uk": -1.5}),
    (r"[аеиоуя]вся$", {"uk": 2.0, "ru": -1.0}),
    (r"л[аои]сь$", {"ru": 1.0, "uk": -0.5}),
    (r"л[аои]ся$", {"uk": 1.5, "ru": -1.0}),
    (r"[^л]ось$", {"uk": 1.5, "ru": -0.5}),
    (r"[^л]ись$", {"uk": 1.0}),
    (r"[аяуюе]ет$", {"ru": 2.0, "uk": -1.5, "bg": -1.0, "be": -1.0}),
    (r"[аеоуя]ют$", {"ru": 1.5, "uk": -1.0, "be": -1.0}),
    (r"(?:ют|ут)$", {"ru": 0.8, "uk": -0.8, "be": -0.8}),
    (r"ит$", {"ru": 1.0, "uk": -0.5, "be": -0.5}),
    (r"ет$", {"ru": 0.7, "uk": -0.5}),
    (r"еть$", {"ru": 1.5, "uk": -1.5}),
    (r"[^жчшщ]ать$", {"ru": 1.2, "uk": -0.8}),
    (r"[бджзкмрвл]уть$", {"uk": 1.0, "ru": -0.5}),
    (r"(?:шь|чь)$", {"ru": 2.0, "uk": -2.0, "bg": -2.0, "be": -1.0}),
    # Ukrainian infinitives -ити/-ати/-ути, genitive -оти (роботи); Russian -ости is the
    # genitive of -ость. Ukrainian 1st plural -емо.
    (r"ити$", {"uk": 2.0, "ru": -1.5}),
    (r"ати$", {"uk": 1.2, "ru": -0.8}),
    (r"ути$", {"uk": 0.8}),
    (r"оти$", {"uk": 1.5, "ru": -0.5}),
    (r"ости$", {"ru": 1.5, "bg": 0.5, "uk": -1.5}),
    (r"емо$", {"uk": 2.0, "ru": -1.0}),
    # Ukrainian и after a hard consonant where Russian has ы: новий, новим, нових, роботи.
    (r"[бвзмпфц]ий$", {"uk": 2.0, "ru": -1.5}),
    (r"[дл]ий$", {"uk": 1.2, "ru": -0.5}),
    (r"ний$", {"uk": 1.0, "ru": -0.3}),
    # Hard -н- adjectives (державний, основних, головним): Russian has -ный, -ных, -ным;
    # its soft -ний/-них clusters after д, т, нн, шн (последний, летних, внешний).
    (r"(?:в|ль|ч|р|с|з|к|п|б)н(?:ий|им|их|ими)$", {"uk": 2.0, "ru": -1.5}),
    (r"вна$", {"uk": 1.0}),
    (r"[ая]нь$", {"uk": 1.0, "ru": -0.3}),
    (r"ув$", {"uk": 1.0}),
    (r"цтв", {"uk": 2.0, "ru": -1.5}),
    (r"^най[бвгжзклмпрсфхцчшщ]", {"uk": 2.0, "ru": -0.5}),
    (r"^з[бгж]|^зр[оа]|^змо", {"uk": 1.5, "ru": -0.5}),
    (r"[жч]о", {"uk": 1.0, "ru": -0.5}),
    # Russian о/е in a closed final syllable where Ukrainian has і (выход/вихід, договор/
    # договір, вопрос), superlative -ейший/-айший (Ukrainian -іший).
    (r"ход$", {"ru": 2.0, "uk": -1.0}),
    (r"(?:вор|бор|рос)$", {"ru": 1.5, "uk": -1.0}),
    (r"[еа]йш", {"ru": 2.0, "uk": -1.5}),
    (r"[бвзлпсф]им$", {"uk": 1.2, "ru": -0.5}),
    (r"[бвдзлмнпрстф]ими$", {"uk": 1.5, "ru": -0.7}),
    (r"[бвдзлмпрстф]их$", {"uk": 1.5, "ru": -0.7}),
    (r"них$", {"uk": 0.5}),
    # ... and plurals in -и after a hard consonant, shared with Bulgarian (Russian has -ы).
    (r"[бвзмпсф]и$", {"uk": 1.5, "bg": 1.5, "ru": -1.0}),
    (r"[дн]и$", {"uk": 0.7, "bg": 0.7, "ru": -0.3}),
    (r"[лрст]и$", {"uk": 0.4, "bg": 0.6, "ru": -0.2}),
    # Ukrainian gerunds -ючи/-ачи, verbs -увати; Russian -овать, -ческий, participles -ющий.
    (r"(?:ючи|ачи|ячи)$", {"uk": 2.0, "ru": -1.0}),
    (r"(?:увати|ювати|увала|ували|ував)$", {"uk": 2.0, "ru": -1.0}),
    (r"(?:овать|евать|ировать|ирова)", {"ru": 2.0, "uk": -1.5}),
    (r"ческ", {"ru": 2.5, "uk": -2.0, "bg": -0.5}),
    (r"(?:ющий|ящий|ащий|вший|ющая|ющие|ющих)$", {"ru": 2.0, "uk": -1.0, "bg": -1.0}),
    (r"аться$", {"ru": 1.5, "uk": -1.0}),
    # 2nd person singular: Russian -ешь/-ишь, Ukrainian and Bulgarian -еш/-иш.
    (r"[еия]ш$", {"uk": 1.2, "bg": 1.2, "ru": -1.5}),
    # Ukrainian -ця (вулиця, столиця) for Russian/Belarusian -ца; Ukrainian prefixes ви-, роз-
    # where Russian has вы-, раз-/рас-.
    (r"ця$", {"uk": 1.5, "ru": -1.5, "bg": -1.0, "be": -1.0}),
    (r"^ви[кпхчшщ]", {"uk": 1.2, "ru": -0.5}),
    (r"^роз", {"uk": 1.5, "ru": -0.5}),
    (r"^ра[сз]", {"ru": 1.0, "uk": -0.5}),
    (r"^под", {"ru": 0.8, "uk": -0.5}),
    (r"дж", {"uk": 0.6}),
    # Russian long adjectives: новая/новое/новую/синее/его/ему; Ukrainian нова/нове/нову.
    (r"ая$", {"ru": 1.0, "be": 0.5, "uk": -1.5, "bg": -1.0}),
    (r"яя$", {"ru": 1.5, "be": 0.5, "uk": -2.0, "bg": -1.5}),
    (r"[ое]е$", {"ru": 1.2, "uk": -1.5, "bg": -1.0, "be": -1.0}),
    (r"ую$", {"ru": 1.0, "uk": -0.3}),
    (r"[^ь]е(?:го|му)$", {"ru": 1.5, "uk": -1.0, "bg": -1.0}),
    (r"ой$", {"ru": 0.8, "uk": -1.0}),
    # Past tense: Russian сказал, Ukrainian сказав, Belarusian сказаў.
    (r"[аы]л$", {"ru": 1.0, "uk": -0.7, "be": -1.0}),
    (r"[иеу]л$", {"ru": 1.8, "uk": -1.2, "bg": 0.5, "be": -1.0}),
    (r"(?:ав|ив)$", {"uk": 0.7, "be": -0.5}),
    (r"ов$", {"ru": 0.6}),
    (r"ев$", {"ru": 0.8, "uk": -0.5}),
    (r"ів$", {"be": -1.0}),
    (r"ою$", {"uk": 1.2, "be": 0.3, "ru": -0.5, "bg": -1.5}),
    # Belarusian: akanne writes о only under stress (at most one per word); р, ч, ж, ш are
    # always hard (рэч, чалавек, жыццё), soft т/д become ц/дз (цяпер, дзень); э after a
    # consonant (гэта), шч for щ, -ае, -ага, -ыя, infinitive -ць.
    (r"о.*о", {"be": -2.0}),
    (r"[ршчж][еяюёіь]", {"be": -3.0}),
    (r"[тд]ь", {"be": -2.0}),
    (r"[тд][яеёюі]", {"be": -1.5}),
    (r"(?:дз|ц)[еёюяі]", {"be": 0.7}),
    (r"ць$", {"be": 1.5, "uk": 0.5, "ru": -2.5, "bg": -2.5}),
    (rf"[{_CONS}]э", {"be": 2.0, "ru": -1.5}),
    (r"шч", {"be": 1.5, "uk": -0.5, "ru": -1.0}),
    (r"ё", {"be": 0.5, "ru": 0.5}),
    (r"ае$", {"be": 1.0}),
    (r"ага$", {"be": 1.5}),
    (r"ыя$", {"be": 2.0, "ru": -1.0}),
    (r"ого$", {"be": -0.5}),
    # Bulgarian: definite articles (-ът, -та, -то, -те, -ията), imperfect -еше/-аше, aorist
    # -аха, verbal nouns -ване/-ене, adjectives -ски/-ско/-ен/-ни, plurals -ове/-ци.
    (r"ия(?:та|т|то)$", {"bg": 2.5, "ru": -1.0}),
    (r"(?:ата|ята|ото|ето)$", {"bg": 0.8}),
    (r"ите$", {"bg": 0.7}),
    (r"ят$", {"bg": 0.5}),
    (r"еше$", {"bg": 2.0}),
    (r"аше$", {"bg": 0.7}),
    (r"(?:аха|иха|яха)$", {"bg": 1.2}),
    (r"(?:ване|ене)$", {"bg": 0.8}),
    (r"(?:ски|ско)$", {"bg": 1.5, "ru": -0.5, "uk": -1.0}),
    (r"ска$", {"bg": 0.8}),
    (r"[^аеиоуяю]ен$", {"bg": 0.8}),
    (r"нни$", {"bg": 2.0, "ru": -1.0}),
    (r"[^аеиоуяюн]ни$", {"bg": 0.7}),
    (r"ове$", {"bg": 1.0}),
    (r"ци$", {"bg": 1.5, "ru": -1.0}),
    (r"(?:хме|хте)$", {"bg": 3.0}),
    (r"аме$", {"bg": 1.2}),
    (r"ният$", {"bg": 2.5}),
    (r"(?:ната|ното|ните)$", {"bg": 1.0}),
    (r"овете$", {"bg": 2.5}),
    (r"ват$", {"bg": 1.5}),
    (r"ейки$", {"bg": 1.5}),
    (r"тел$", {"bg": 1.0}),
    (r"щ$", {"bg": 2.0, "ru": -0.5}),
    (r"(?:ща|що)$", {"bg": 1.2, "ru": -0.5}),
    # Bulgarian has lost the noun cases: no -ого, -ому, -ами, -ом, -ую of Russian/Ukrainian.
    (r"(?:ого|ому)$", {"bg": -1.0}),
    (r"(?:ами|ями)$", {"bg": -1.5}),
    (r"ом$", {"bg": -0.8}),
    (r"ей$", {"bg": -0.5}),
    (r"ую$", {"bg": -1.0}),
    # --- Latin script: English, German, French, Polish ---
    (r"th", {"en": 1.2, "pl": -1.5, "de": -0.3, "fr": -0.3}),
    (r"^wh", {"en": 2.0}),
    (r"ing$", {"en": 1.5, "de": -0.5, "fr": -1.0, "pl": -1.0}),
    (r"ght", {"en": 2.5}),
    (r"(?:ness|less|ship|ward|ful)$", {"en": 2.0}),
    (r"ly$", {"en": 1.5, "de": -1.0, "fr": -1.0, "pl": -0.5}),
    (r"ity$", {"en": 2.0, "fr": -1.0}),
    (r"ed$", {"en": 1.0, "de": -0.5, "pl": -1.0}),
    (r"ou", {"en": 0.5, "fr": 0.7, "de": -1.0, "pl": -1.5}),
    (r"w", {"fr": -2.0, "pl": 0.3}),
    (r"k", {"fr": -1.5}),
    (r"y", {"de": -1.0, "fr": -0.5, "pl": 0.5}),
    (r"[a-z]'(?:s|t|re|ve|ll|d|m)$", {"en": 2.0}),
    (r"^(?:[ldjmnstc]|qu)'", {"fr": 2.5}),
    (r"sh", {"en": 1.5, "de": -0.5, "fr": -0.5, "pl": -1.0}),
    (r"ck", {"en": 0.5, "de": 0.5, "fr": -1.5, "pl": -1.5}),
    (r"(?:ee|oo)", {"en": 0.8}),
    (r"ea", {"en": 0.7, "pl": -1.0}),
    (r"v", {"pl": -1.5, "de": -0.3}),
    (r"q", {"pl": -2.0, "de": -0.7}),
    (r"x", {"pl": -2.0, "de": -0.5}),
    (r"tion$", {"en": 1.0, "fr": 1.0, "pl": -2.0}),
    (r"ous$", {"en": 1.2, "fr": 0.3}),
    (r"sch", {"de": 2.5, "en": -1.0, "fr": -1.0, "pl": -0.5}),
    (r"ei", {"de": 1.0, "en": -0.3, "fr": -0.3, "pl": -0.5}),
    (r"ie", {"de": 0.5, "pl": 0.5}),
    (r"tz", {"de": 2.5, "en": -1.0, "fr": -1.5, "pl": -1.0}),
    (r"(?:ung|ungen)$", {"de": 2.5}),
    (r"(?:keit|heit|schaft|lich|lichen|isch|ische|ischen)$", {"de": 2.5}),
    (r"^ge", {"de": 0.7}),
    (r"(?:en|ern)$", {"de": 0.8, "fr": -0.3, "pl": -0.5}),
    (r"z", {"de": 0.5, "pl": 0.5, "en": -1.0, "fr": -0.5}),
    (r"ch", {"de": 0.5, "pl": 0.5, "fr": 0.3}),
    (r"chen$", {"de": 2.0}),
    (r"au", {"de": 0.5, "fr": 0.5, "en": -0.3}),
    (r"(?:dt$|pf|zw)", {"de": 2.0}),
    (r"eau", {"fr": 3.0, "en": -1.0}),
    (r"(?:aux|eux)$", {"fr": 2.5}),
    (r"oi", {"fr": 1.2, "de": -1.0, "pl": -0.5}),
    (r"qu", {"fr": 1.0, "en": 0.5, "de": -0.5, "pl": -2.0}),
    (r"ez$", {"fr": 1.5, "pl": 0.5, "en": -1.0, "de": -0.5}),
    (r"(?:ais|ait|aient)$", {"fr": 2.5, "en": -1.5}),
    (r"(?:ons|ont)$", {"fr": 1.0}),
    (r"ent$", {"fr": 0.7, "en": 0.3, "de": 0.3, "pl": -0.5}),
    (r"gn", {"fr": 0.8}),
    (r"(?:sz|cz|rz)", {"pl": 2.5, "de": -1.0, "en": -1.5, "fr": -1.5}),
    (r"d[zźż]", {"pl": 1.5}),
    (r"(?:ych|ymi|owie|emu|iej)$", {"pl": 2.5}),
    (r"(?:ami|ego|owi)$", {"pl": 1.5}),
    (r"ach$", {"pl": 1.0, "de": 0.3}),
    (r"ow", {"pl": 0.7, "en": 0.5}),
    (r"([bcdfghjklmnpstvxz])\1", {"pl": -0.5}),
    # English derivational endings and spellings French, German and Polish lack.
    (r"y$", {"en": 1.2, "pl": 1.0, "fr": -1.0, "de": -1.0}),
    (r"(?:ic|ical|ically)$", {"en": 1.5}),
    (r"o?logy$", {"en": 2.0}),
    (r"(?:ize|ized|izes|izing)$", {"en": 2.0}),
    (r"(?:ism|ist|ists)$", {"en": 1.2, "de": 0.3}),
    (r"(?:ate|ated|ates)$", {"en": 0.8}),
    (r"ive$", {"en": 0.5, "fr": 0.5}),
    (r"or$", {"en": 0.8, "de": 0.3, "fr": -0.5}),
    (r"er$", {"en": 0.3, "de": 0.5, "fr": 0.3}),
    (r"[kw]$", {"en": 1.0, "fr": -1.5}),
    (r"[ae]y", {"en": 1.0}),
    (r"ew", {"en": 0.8, "pl": 0.3}),
    (r"aw", {"en": 0.5, "pl": 0.5}),
    (r"^(?:wr|kn)", {"en": 2.0, "pl": -0.5}),
    (r"[bcdfgklmnprtvwy]s$", {"en": 0.8, "fr": 0.3, "de": -0.5, "pl": -1.0}),
    # French endings.
    (r"(?:oir|oire|oires)$", {"fr": 2.0}),
    (r"(?:ique|iques)$", {"fr": 2.0}),
    (r"(?:eur|eurs|euse|euses)$", {"fr": 2.0, "en": -1.0}),
    (r"ement$", {"fr": 1.0, "en": 0.3}),
    (r"(?:ette|ettes|elle|elles|ille|illes)$", {"fr": 1.5}),
    (r"(?:ier|iers)$", {"fr": 1.0}),
    (r"(?:isme|iste|istes|esse|aire|aires)$", {"fr": 1.5}),
    (r"ie$", {"fr": 0.6, "de": 0.4, "pl": 0.6}),
    (r"(?:ance|ence)$", {"fr": 0.5, "en": 0.5}),
    (r"[aeiou]x$", {"fr": 0.5}),
    # German endings and clusters.
    (r"ig$", {"de": 1.5}),
    (r"lein$", {"de": 2.0}),
    (r"cht", {"de": 2.0}),
    (r"^(?:ver|zer|ent|be)", {"de": 0.5}),
    (r"(?:ieren|iert|ierte|ierten)$", {"de": 2.0}),
    # Polish.
    (r"(?:owa|owe|owy|owych|owej)$", {"pl": 1.5}),
    (r"^w[^aeiouyąęór]", {"pl": 1.5, "en": -0.3}),
    (r"(?:ki|ka)$", {"pl": 0.5}),
)
_LANG_SCRIPT = {lang: script for script, langs in SCRIPT_LANGUAGES.items() for lang in langs}
# Patterns by the script of the languages they weigh: a Cyrillic word never tries Latin ones.
PATTERNS: dict[str, tuple[tuple[re.Pattern[str], dict[str, float]], ...]] = {
    script: tuple(
        (re.compile(src), weights)
        for src, weights in _PATTERNS_SRC
        if {_LANG_SCRIPT[lang] for lang in weights} == {script}
    )
    for script in ("cyrl", "latn")
}


# A language's own letters are absent from many of its words, but not from as many as in a
# neighbour's: a word of 4+ letters with none of them is that much less likely to be its.
# Rough shares of words without them, from knowledge of the orthographies: Ukrainian і/ї/є/ґ
# or apostrophe in about half the words, Russian ы/э/ъ/ё in a fifth, Polish diacritics in
# two of five, French in a quarter.
ABSENCE: dict[str, tuple[frozenset[str], float]] = {
    "uk": (frozenset("іїєґ'"), 0.5),
    "be": (frozenset("іў'"), 0.55),
    "ru": (frozenset("ыэъё"), 0.8),
    "bg": (frozenset("ъщ"), 0.8),
    "pl": (frozenset("ąćęłńóśźż"), 0.6),
    "fr": (frozenset("àâæçéèêëîïôœùûüÿ"), 0.75),
    "de": (frozenset("äöüß"), 0.85),
}
_ABSENCE_LOG = {lang: (letters, math.log(share)) for lang, (letters, share) in ABSENCE.items()}


@lru_cache(maxsize=1)
def lexicon() -> dict[str, frozenset[str]]:
    """Frequent words -> the languages that use them, from the bundled YAML file."""
    data = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    index: dict[str, set[str]] = {}
    for lang, words in data.items():
        for word in str(words).split():
            word = word.lower().translate(_APOSTROPHE_TABLE)
            index.setdefault(word, set()).add(lang)
    return {word: frozenset(langs) for word, langs in index.items()}


def known_languages() -> frozenset[str]:
    """Languages that have spelling rules or a word list here (beyond langdetect's profiles)."""
    langs = set(ALPHABETS)
    for patterns in PATTERNS.values():
        for _, weights in patterns:
            langs.update(weights)
    for owners in lexicon().values():
        langs.update(owners)
    return frozenset(langs)


@lru_cache(maxsize=65536)
def word_evidence(word: str, script: str) -> tuple[tuple[str, float], ...]:
    """Log-odds per language from one lower-case word of the given script.

    Only languages written in `script` are scored; languages absent from the result score 0.
    Cached: words repeat across posts, and the patterns are the costly part.
    """
    scores: dict[str, float] = {}
    penalty = ALPHABET_PENALTY.get(script, 0.0)
    letters = set(word) - {"'"}
    for lang, alphabet in ALPHABETS.items():
        if _LANG_SCRIPT.get(lang) == script and not letters <= alphabet:
            scores[lang] = -penalty
    if len(letters) >= 3 and len(word) >= 4:
        for lang, (markers, log_share) in _ABSENCE_LOG.items():
            if _LANG_SCRIPT[lang] == script and not letters & markers:
                scores[lang] = scores.get(lang, 0.0) + log_share
    for pattern, weights in PATTERNS.get(script, ()):
        match = pattern.search(word)
        # An ending needs a stem in front of it: German "ist" is no English "-ist".
        if match and (match.start() > 0 or not pattern.pattern.endswith("$")):
            for lang, weight in weights.items():
                scores[lang] = scores.get(lang, 0.0) + weight
    for lang in lexicon().get(word, ()):
        # A language's own frequent word is never held against it (Bulgarian много ends in
        # -ого like a Russian genitive).
        scores[lang] = max(scores.get(lang, 0.0), 0.0) + LEXICON_WEIGHT
    return tuple(scores.items())


def sum_evidence(words: Iterable[Word], langs: Iterable[str]) -> dict[str, float]:
    """Summed word evidence for each of `langs`."""
    totals = dict.fromkeys(langs, 0.0)
    for word in words:
        for lang, score in word_evidence(word.text, word.script):
            if lang in totals:
                totals[lang] += score
    return totals
