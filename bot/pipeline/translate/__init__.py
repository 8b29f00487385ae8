"""This package contains translation that never blocks an alert, in three modules.

`providers` knows deep-translator's clients and how each spells our language codes;
`transport` runs one call off the event loop with timeouts and retries; `chain` is the
`Translator` the relay and the commands use: provider order, breakers, chunking, cache.
"""

from bot.pipeline.translate.chain import (
    NO_PROVIDER,
    MemoryTranslationCache,
    Translation,
    TranslationCache,
    Translator,
    text_key,
)
from bot.pipeline.translate.providers import (
    AUTO,
    GOOGLE_QUERY_BUDGET,
    LIBRE_QUERY_BUDGET,
    normalize_language,
    provider_codes,
    same_language,
)

__all__ = [
    "AUTO",
    "GOOGLE_QUERY_BUDGET",
    "LIBRE_QUERY_BUDGET",
    "NO_PROVIDER",
    "MemoryTranslationCache",
    "Translation",
    "TranslationCache",
    "Translator",
    "normalize_language",
    "provider_codes",
    "same_language",
    "text_key",
]
