"""Tests of look-alike spellings: each kind of disguise in a watchlist alias still tags, the
span covers what was written, and plain words of one script never turn into the other."""

from __future__ import annotations

import re

import pytest
import wordfreq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.pipeline.entities import Tagger, Watchlist, _lookalike_variant, _plain_spaces
from bot.text import CYR_LOOKALIKES, LAT_LOOKALIKES, fold, nfc

PREFIX = "Сообщают: "
SUFFIX = " — сегодня."


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(Watchlist.load())


def tagged(tagger: Tagger, text: str) -> list[tuple[str, str]]:
    return [(m.entity_id, m.surface) for m in tagger.tag_text(text)]


@pytest.mark.parametrize(("text", "entity", "surface"), [
    ("Войска у Kypck", "kursk", "Kypck"),  # wholly in Latin look-alikes
    ("Войска у KУPCK", "kursk", "KУPCK"),  # mostly Latin, the Cyrillic majority decides
    ("Новости Poccии", "russia", "Poccии"),  # mostly Latin, и only Cyrillic has
    ("Visit to the Kрeмль", "kremlin", "Kрeмль"),
    ("Κursk and the ΚREMLIN", "kursk", "Κursk"),  # Greek capital kappa
    ("Πутин сказал", "putin", "Πутин"),  # Greek capital pi
    ("ＫＵＲＳＫ region", "kursk", "ＫＵＲＳＫ"),
    ("𝐊𝐮𝐫𝐬𝐤 region", "kursk", "𝐊𝐮𝐫𝐬𝐤"),
    ("в Ку\u0301рской области", "kursk", "Ку\u0301рской"),
    ("в Кур\u00adской области", "kursk", "Кур\u00adской"),
    ("в Кур\u200dской области", "kursk", "Кур\u200dской"),
    ("в Кур\u200cской области", "kursk", "Кур\u200cской"),
    ("в Кур\u2060ской области", "kursk", "Кур\u2060ской"),
    ("North-Korean troops", "north_korea", "North-Korean"),
    ("North\u2011Korean troops", "north_korea", "North\u2011Korean"),
    ("North\u2013Korea", "north_korea", "North\u2013Korea"),
    ("North\u00a0Korea", "north_korea", "North\u00a0Korea"),
    ("North\u3000Korea", "north_korea", "North\u3000Korea"),
    ("North\u2009Korea", "north_korea", "North\u2009Korea"),
    ("Северной\u202fКореи", "north_korea", "Северной\u202fКореи"),
])
def test_each_kind_of_disguise_is_tagged(tagger: Tagger, text: str, entity: str, surface: str):
    assert (entity, surface) in tagged(tagger, text)


def test_not_in_phrases_hold_whatever_joins_their_words(tagger: Tagger):
    for dash in ("-", "\u2011", "\u2010", " "):
        assert "russia" not in {e for e, _ in tagged(tagger, f"pro{dash}Russian forces")}


def test_plain_latin_words_made_of_twin_letters_stay_latin(tagger: Tagger):
    assert tagged(tagger, "Mexico took the cake: a boxer, a hacker and a choir") == []
    assert fold("Mexico hacker choir").words() == ["mexico", "hacker", "choir"]


def test_no_lookalike_spelling_of_the_watchlist_is_a_real_word():
    watchlist = Watchlist.load()
    variants = {v for k in watchlist.rules if (v := _lookalike_variant(_plain_spaces(k)))}
    assert variants  # the bundled list has some (kypck, pocii, ...)
    for variant in variants:
        for lang in ("en", "de", "fr", "pl", "ru", "uk"):
            assert wordfreq.zipf_frequency(variant, lang) < 2.0, (variant, lang)


def test_a_lookalike_spelling_that_is_a_watchlist_form_keeps_its_own_meaning(tmp_path):
    watchlist = Watchlist.parse(
        "entities:\n"
        "  - {id: cyr, type: place, name: Cyr, aliases: {ru: [Камера]}}\n"
        "  - {id: lat, type: place, name: Lat, aliases: {en: [Kamepa]}}\n")
    tagger = Tagger(watchlist)
    assert tagged(tagger, "Kamepa") == [("lat", "Kamepa")]
    assert tagged(tagger, "Камера") == [("cyr", "Камера")]


# --- the property: any disguise inserted into any alias still tags it -------------------------

_CYR_VOWELS = set("аеиоуыэюяіїє")
_LAT_VOWELS = set("aeiouy")
_INVISIBLE = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
_SEPARATORS = ["-", "\u2010", "\u2011", "\u2013", "\u2014", "\xa0", "\u3000", "\u2009",
               "\u202f", "\u2007", "\u205f"]
_TWINS = {**dict(zip(LAT_LOOKALIKES, CYR_LOOKALIKES[:-1], strict=True)),
          **dict(zip(CYR_LOOKALIKES[:-1], LAT_LOOKALIKES, strict=True))}
_TWINS.update({a.upper(): b.upper() for a, b in list(_TWINS.items())})
_GREEK = {"A": "Α", "B": "Β", "E": "Ε", "Z": "Ζ", "H": "Η", "I": "Ι", "K": "Κ", "M": "Μ",
          "N": "Ν", "O": "Ο", "P": "Ρ", "T": "Τ", "Y": "Υ", "X": "Χ", "o": "ο", "a": "α",
          "i": "ι", "k": "κ", "v": "ν", "p": "ρ", "u": "υ", "x": "χ", "e": "ε",
          "А": "Α", "В": "Β", "Е": "Ε", "Н": "Η", "К": "Κ", "М": "Μ", "О": "Ο", "Р": "Ρ",
          "Т": "Τ", "Х": "Χ", "П": "Π", "Г": "Γ", "Л": "Λ", "Ф": "Φ",
          "о": "ο", "а": "α", "р": "ρ", "е": "ε", "к": "κ", "п": "π", "х": "χ"}


def _aliases() -> list[tuple[str, str]]:
    tagger = Tagger(Watchlist.load())
    out = []
    for entity in tagger.watchlist:
        for forms in entity.aliases.values():
            for alias in forms:
                text = PREFIX + alias + SUFFIX
                start = len(PREFIX)
                if any((m.entity_id, m.start, m.end) == (entity.id, start, start + len(alias))
                       for m in tagger.tag_text(text)):
                    out.append((entity.id, alias))
    return out


ALIASES = _aliases()


def _swap(alias: str, table: dict[str, str], picks: list[bool]) -> str:
    """Swap the chosen letters that have a twin; per word (run of letters, as `fold` sees
    it), fewer than half of its letters unless the word holds a letter with no twin (then
    its script is settled anyway)."""
    chars = list(alias)
    k = 0
    for word in re.finditer(r"[^\W\d_]+", alias):
        letters = range(word.start(), word.end())
        twins = [i for i in letters if alias[i] in table]
        chosen = [i for j, i in enumerate(twins) if picks[(k + j) % len(picks)]]
        k += len(twins)
        if len(twins) == len(letters):  # nothing settles the script: stay in the minority
            chosen = chosen[: max(0, (len(letters) - 1) // 2)]
        for i in chosen:
            chars[i] = table[chars[i]]
    return "".join(chars)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str, str]:
    entity, alias = draw(st.sampled_from(ALIASES))
    kind = draw(st.sampled_from(["invisible", "accent", "twins", "all_twins", "greek",
                                 "fullwidth", "math", "separator"]))
    chars = list(alias)
    if kind == "invisible":
        inner = [i for i in range(1, len(alias)) if alias[i - 1].isalnum() and alias[i].isalnum()]
        for i in sorted(draw(st.lists(st.sampled_from(inner or [0]), min_size=1, max_size=3)),
                        reverse=True):
            if inner:
                chars.insert(i, draw(st.sampled_from(_INVISIBLE)))
    elif kind == "accent":
        vowels = [i for i, c in enumerate(alias) if c.lower() in _CYR_VOWELS | _LAT_VOWELS
                  or "\uac00" <= c <= "\ud7a3"]
        if vowels:
            chars.insert(draw(st.sampled_from(vowels)) + 1, "\u0301")
    elif kind in ("twins", "greek"):
        picks = draw(st.lists(st.booleans(), min_size=1, max_size=12))
        chars = list(_swap(alias, _TWINS if kind == "twins" else _GREEK, picks))
    elif kind == "all_twins":
        letters = [c for c in alias if c.isalpha()]
        if len(letters) >= 4 and all(c in _TWINS for c in letters):
            chars = [_TWINS.get(c, c) for c in alias]
    elif kind == "fullwidth":
        chars = [chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in alias]
    elif kind == "math":
        chars = [chr(0x1D400 + ord(c) - 65) if "A" <= c <= "Z"
                 else chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else c for c in alias]
    elif kind == "separator":
        gaps = [i for i, c in enumerate(alias) if c in " -"]
        for i in draw(st.lists(st.sampled_from(gaps or [0]), max_size=3)):
            if gaps:
                chars[i] = draw(st.sampled_from(_SEPARATORS))
    return entity, alias, "".join(chars)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
def test_any_disguise_in_any_alias_still_tags_it_with_the_written_span(tagger: Tagger, case):
    entity, alias, variant = case
    text = nfc(PREFIX + variant + SUFFIX)
    start = len(nfc(PREFIX))
    end = start + len(nfc(variant))
    spans = [(m.start, m.end) for m in tagger.tag_text(text) if m.entity_id == entity]
    assert (start, end) in spans, (alias, variant, tagged(tagger, text))
