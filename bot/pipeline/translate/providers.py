"""This module contains the translation providers: deep-translator's clients and their codes.

One `Spec` per provider name says how to build its deep-translator client for a language
pair, how it spells our language codes (`provider_codes`), how long a request may be and
how that is measured, whether it can detect the source language, whether it needs a key,
and how to spot an error it reports inside an HTTP 200.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deep_translator import (
    DeeplTranslator,
    GoogleTranslator,
    LibreTranslator,
    MicrosoftTranslator,
    MyMemoryTranslator,
)
from deep_translator.base import BaseTranslator
from deep_translator.constants import (
    DEEPL_LANGUAGE_TO_CODE,
    GOOGLE_LANGUAGES_TO_CODES,
    MY_MEMORY_LANGUAGES_TO_CODES,
)

from bot.pipeline.chunking import Measure, url_encoded_size
from bot.pipeline.translate.transport import CallContext, CallFailed
from bot.settings import TranslationProvider

AUTO = "auto"
# Query-string budget for providers that put the text in the URL (libre posts it as query
# parameters, google/deepl/mymemory use GET): keeps the request line under the 8 KiB that
# common servers and proxies accept.
LIBRE_QUERY_BUDGET = 6000
GOOGLE_QUERY_BUDGET = 4900  # also under deep-translator's 5000-character check


# ------------------------------------------------------------------------ language codes


def normalize_language(code: str | None) -> str:
    """Lower-case code; None, '' and 'und' (undetermined) become 'auto'."""
    code = (code or "").strip().lower().replace("_", "-")
    return AUTO if code in ("", "und", AUTO) else code


def _primary(code: str) -> str:
    return code.split("-", 1)[0]


def same_language(source: str | None, target: str) -> bool:
    src, tgt = normalize_language(source), normalize_language(target)
    return src != AUTO and _primary(src) == _primary(tgt)


def _find(code: str, values: set[str], overrides: dict[str, str]) -> str | None:
    """The provider's spelling of `code` among `values`, case-insensitively."""
    if code in overrides:
        return overrides[code]
    by_lower = {v.lower(): v for v in values}
    return by_lower.get(code) or by_lower.get(_primary(code))


_GOOGLE_CODES = set(GOOGLE_LANGUAGES_TO_CODES.values())
_GOOGLE_OVERRIDES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-hant": "zh-TW", "he": "iw", "jv": "jw", "nb": "no", "fil": "tl"}
_DEEPL_CODES = set(DEEPL_LANGUAGE_TO_CODE.values())
_MYMEMORY_CODES = set(MY_MEMORY_LANGUAGES_TO_CODES.values())
_MYMEMORY_OVERRIDES = {"en": "en-GB", "zh": "zh-CN", "ar": "ar-SA", "pt": "pt-PT", "es": "es-ES"}


def _google_code(code: str) -> str | None:
    return _find(code, _GOOGLE_CODES, _GOOGLE_OVERRIDES)


def _deepl_code(code: str) -> str | None:
    return _find(_primary(code), _DEEPL_CODES, {})


def _mymemory_code(code: str) -> str | None:
    found = _find(code, _MYMEMORY_CODES, _MYMEMORY_OVERRIDES)
    if found and "-" in found:
        return found
    base = _primary(code)
    if f"{base}-{base.upper()}" in _MYMEMORY_CODES:  # ru-RU, de-DE, pl-PL
        return f"{base}-{base.upper()}"
    regional = sorted(v for v in _MYMEMORY_CODES if v.lower().startswith(base + "-"))
    return regional[0] if regional else None


def _libre_code(code: str) -> str | None:
    # deep-translator's libre table is stale (no uk, bg, be): the server decides, and
    # answers 400 for a language it lacks, which falls through to the next provider.
    return {"zh-cn": "zh", "zh-hans": "zh", "zh-tw": "zt", "zh-hant": "zt"}.get(code, _primary(code))


def _microsoft_code(code: str) -> str | None:
    return {"zh": "zh-Hans", "zh-cn": "zh-Hans", "zh-tw": "zh-Hant"}.get(code, _primary(code))


# ------------------------------------------------------------------------ clients


class _CachedMicrosoftTranslator(MicrosoftTranslator):
    """Fetches Microsoft's language list once per process instead of on every call."""

    _languages: dict[str, str] | None = None

    def _get_supported_languages(self) -> dict[str, str]:
        cls = type(self)
        if cls._languages is None:
            cls._languages = super()._get_supported_languages()
        return cls._languages


def _build_libre(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    key = p.api_key()
    url = p.url if p.url is None or p.url.endswith("/") else p.url + "/"
    # LibreTranslator insists on a key; a keyless server gets none sent.
    tr = LibreTranslator(source="auto", target="en", api_key=key or "-", custom_url=url,
                         use_free_api=p.use_free_api)
    if not key:
        tr.api_key = None
    tr.source, tr.target = source, target  # the setters skip the stale table
    return tr


def _build_google(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    return GoogleTranslator(source=source, target=target)


def _build_deepl(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    tr = DeeplTranslator(source=source or AUTO, target=target, api_key=p.api_key(),
                         use_free_api=p.use_free_api)
    tr.source = source  # None: requests drops the parameter and DeepL detects
    return tr


def _build_microsoft(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    tr = _CachedMicrosoftTranslator(source=AUTO, target="en", api_key=p.api_key(), region=p.region)
    tr.source, tr.target = source, target  # None source: "from" is dropped, Microsoft detects
    return tr


def _build_mymemory(p: TranslationProvider, source: str | None, target: str) -> BaseTranslator:
    return MyMemoryTranslator(source=source, target=target, email=p.email)


def _check_mymemory(ctx: CallContext) -> None:
    """MyMemory answers errors with HTTP 200 and the message as the 'translation'."""
    try:
        status = int(ctx.response.json().get("responseStatus", 200)) if ctx.response else 200
    except (ValueError, TypeError, AttributeError):
        return
    if status == 429:
        raise CallFailed("daily quota exhausted")
    if status != 200:
        raise CallFailed(f"rejected ({status})", counts=False)


# ------------------------------------------------------------------------ specs


@dataclass(frozen=True)
class Spec:
    """How to talk to one kind of provider."""

    build: Callable[[TranslationProvider, str | None, str], BaseTranslator]
    code: Callable[[str], str | None]  # our code -> the provider's, None: unsupported
    limit: int
    measure: Measure
    auto: str | None  # source to send for auto-detection; None: omit it
    supports_auto: bool = True
    needs_key: bool = False
    check: Callable[[CallContext], None] | None = None


SPECS: dict[str, Spec] = {
    "libre": Spec(_build_libre, _libre_code, LIBRE_QUERY_BUDGET, url_encoded_size, AUTO),
    "google": Spec(_build_google, _google_code, GOOGLE_QUERY_BUDGET, url_encoded_size, AUTO),
    "deepl": Spec(_build_deepl, _deepl_code, LIBRE_QUERY_BUDGET, url_encoded_size, None, needs_key=True),
    "microsoft": Spec(_build_microsoft, _microsoft_code, 10_000, len, None, needs_key=True),
    # MyMemory's auto-detection does not work: an unknown source goes to the next provider.
    "mymemory": Spec(_build_mymemory, _mymemory_code, 499, len, None, supports_auto=False,
                     check=_check_mymemory),
}


def provider_codes(name: str, source: str | None, target: str) -> tuple[str | None, str] | None:
    """How provider `name` spells (source, target); source None means auto-detect.

    None if the provider cannot do this pair.
    """
    spec = SPECS[name]
    src = normalize_language(source)
    tgt = normalize_language(target)
    if tgt == AUTO:
        return None
    target_code = spec.code(tgt)
    if target_code is None:
        return None
    if src == AUTO:
        return (spec.auto, target_code) if spec.supports_auto else None
    source_code = spec.code(src)
    return None if source_code is None else (source_code, target_code)


def missing_key(spec: Spec, config: TranslationProvider) -> str | None:
    """Why a provider that needs a key cannot be used, or None."""
    if spec.needs_key and not config.api_key():
        where = f"${config.api_key_env}" if config.api_key_env else "api_key_env"
        return f"disabled: no API key ({where} is not set)"
    return None


def labels(providers: list[TranslationProvider]) -> list[str]:
    """Provider names, with '#2', '#3' on repeats (two libre servers)."""
    seen: dict[str, int] = {}
    out = []
    for p in providers:
        seen[p.name] = seen.get(p.name, 0) + 1
        out.append(p.name if seen[p.name] == 1 else f"{p.name}#{seen[p.name]}")
    return out
