"""This module contains the language codes wirewatch knows: their names, the languages the
detector can choose among, and the languages a room's alerts can be translated into.

It imports nothing of wirewatch, so both the settings and the language detector can use it.
`DETECTABLE` must equal what `bot.pipeline.language.supported_languages()` computes from the
detector's data; a unit test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable

# The detector's candidates when the config names none: what the newsrooms read most.
LANGUAGES_DEFAULT: tuple[str, ...] = ("ru", "uk", "be", "bg", "en", "de", "fr", "pl", "ko")

# Languages alerts can be translated into (the target languages of Google Translate, the widest
# provider, in ISO 639 codes); other providers translate a subset and say so per alert.
NAMES: dict[str, str] = {
    "af": "Afrikaans", "ak": "Twi", "am": "Amharic", "ar": "Arabic", "as": "Assamese",
    "ay": "Aymara", "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian", "bho": "Bhojpuri",
    "bm": "Bambara", "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "ceb": "Cebuano",
    "ckb": "Kurdish (Sorani)", "co": "Corsican", "cs": "Czech", "cy": "Welsh", "da": "Danish",
    "de": "German", "doi": "Dogri", "dv": "Dhivehi", "ee": "Ewe", "el": "Greek", "en": "English",
    "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "fy": "Frisian", "ga": "Irish", "gd": "Scottish Gaelic",
    "gl": "Galician", "gn": "Guarani", "gom": "Konkani", "gu": "Gujarati", "ha": "Hausa",
    "haw": "Hawaiian", "he": "Hebrew", "hi": "Hindi", "hmn": "Hmong", "hr": "Croatian",
    "ht": "Haitian Creole", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "ig": "Igbo",
    "ilo": "Ilocano", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese",
    "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean",
    "kri": "Krio", "ku": "Kurdish (Kurmanji)", "ky": "Kyrgyz", "la": "Latin",
    "lb": "Luxembourgish", "lg": "Luganda", "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian",
    "lus": "Mizo", "lv": "Latvian", "mai": "Maithili", "mg": "Malagasy", "mi": "Maori",
    "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay",
    "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian",
    "nso": "Sepedi", "ny": "Chichewa", "om": "Oromo", "or": "Odia", "pa": "Punjabi",
    "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "qu": "Quechua", "ro": "Romanian",
    "ru": "Russian", "rw": "Kinyarwanda", "sa": "Sanskrit", "sd": "Sindhi", "si": "Sinhala",
    "sk": "Slovak", "sl": "Slovenian", "sm": "Samoan", "sn": "Shona", "so": "Somali",
    "sq": "Albanian", "sr": "Serbian", "st": "Sesotho", "su": "Sundanese", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "tg": "Tajik", "th": "Thai", "ti": "Tigrinya",
    "tk": "Turkmen", "tl": "Filipino (Tagalog)", "tr": "Turkish", "ts": "Tsonga", "tt": "Tatar",
    "ug": "Uyghur", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese",
    "xh": "Xhosa", "yi": "Yiddish", "yo": "Yoruba", "zh": "Chinese", "zu": "Zulu",
}

# Codes the detector accepts as candidates ('zh' stands for both written Chinese variants).
DETECTABLE: frozenset[str] = frozenset({
    "af", "ar", "be", "bg", "bn", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et", "fa",
    "fi", "fr", "gu", "he", "hi", "hr", "hu", "id", "it", "ja", "kk", "kn", "ko", "lt", "lv",
    "mk", "ml", "mr", "ne", "nl", "no", "pa", "pl", "pt", "ro", "ru", "sk", "sl", "so", "sq",
    "sr", "sv", "sw", "ta", "te", "th", "tl", "tr", "uk", "ur", "vi", "zh", "zh-cn", "zh-tw",
})


def language_name(code: str | None) -> str:
    """'ru' -> 'Russian'; unknown or missing codes read 'unknown' or as themselves."""
    if not code or code == "und":
        return "unknown"
    return NAMES.get(code, code)


def check_candidates(candidates: Iterable[object]) -> tuple[str, ...]:
    """The detector candidates normalised (lower case, no duplicates); ValueError naming the
    codes the detector does not know, and listing the ones it does."""
    codes = [str(c).strip().lower() for c in candidates]  # YAML may hand over numbers
    unknown = [c for c in codes if c not in DETECTABLE]
    if unknown:
        raise ValueError(f"unsupported language code(s) {', '.join(map(repr, unknown))} in the "
                         f"detector's candidates; supported: {' '.join(sorted(DETECTABLE))}")
    if not codes:
        raise ValueError("at least one candidate language is needed")
    return tuple(dict.fromkeys(codes))


def check_target(code: str) -> str:
    """A room's alert language, if alerts can be translated into it; else a ValueError that
    says what the code is not and how a close one is spelled."""
    if code in NAMES:
        return code
    by_name = {name.lower(): c for c, name in NAMES.items()}
    hint = by_name.get(code.strip().lower()) or {"ua": "uk", "kr": "ko", "jp": "ja", "cn": "zh", "gr": "el", "dk": "da", "se": "sv",
            "cz": "cs", "rus": "ru", "ukr": "uk", "eng": "en", "deu": "de", "ger": "de",
            "fra": "fr", "fre": "fr", "pol": "pl", "kor": "ko", "iw": "he", "jw": "jv"}.get(code)
    better = f" (did you mean {hint!r}, {NAMES[hint]}?)" if hint else ""
    raise ValueError(f"{code!r} is not a language alerts can be translated into{better}; use an "
                     "ISO 639-1 code such as en, ru, uk, de, fr, pl, ko")
