"""Word forms of plain query words (bot.pipeline.wordforms), on folded words."""

from __future__ import annotations

import pytest

from bot.pipeline.wordforms import word_forms
from bot.text import fold


def _f(word: str) -> str:
    return fold(word).words()[0]


@pytest.mark.parametrize(("word", "form"), [
    ("soldier", "soldiers"), ("village", "villages"), ("attack", "attacked"),
    ("krieg", "Krieges"), ("verlust", "Verluste"), ("angriff", "Angriffen"),
    ("guerre", "guerres"), ("prisonnier", "prisonniers"), ("frappe", "frappes"),
    ("wojna", "wojny"), ("wojna", "wojnie"), ("żołnierz", "żołnierzy"),
    ("война", "войной"), ("освободить", "освободили"), ("наступление", "наступлении"),
])
def test_a_word_finds_its_inflected_forms(word: str, form: str) -> None:
    forms = word_forms(_f(word))
    assert forms is not None
    assert forms.matches(_f(form))
    assert forms.found_in(f" the {_f(form)} said ")


@pytest.mark.parametrize(("word", "other"), [
    ("strike", "striker"), ("soldier", "soldieren"), ("village", "villain"), ("krieg", "kriegsschiff"), ("wojna", "wojewoda"),
    ("курс", "курск"), ("удар", "ударник"), ("soldat", "solde"),
])
def test_a_different_word_with_the_same_start_is_not_a_form(word: str, other: str) -> None:
    forms = word_forms(_f(word))
    assert forms is None or not forms.matches(_f(other))


def test_short_and_non_alphabetic_words_have_no_forms() -> None:
    assert word_forms("war") is None
    assert word_forms("2024") is None
    assert word_forms("쿠르스크") is None


def test_every_form_found_starts_with_the_prefix() -> None:
    forms = word_forms("armies")
    assert forms is not None
    assert forms.found_in(" the army moved ")
    assert not forms.found_in(" an armada moved ")


def test_a_latin_word_is_stemmed_in_the_languages_it_is_a_word_of() -> None:
    soldier, krieg = word_forms("soldier"), word_forms("krieg")
    assert soldier is not None and [lang for lang, _ in soldier.stems] == ["english"]
    assert krieg is not None and [lang for lang, _ in krieg.stems] == ["german"]


def _doc(text: str):
    from bot.pipeline.query import Doc

    return Doc(words=fold(text).words())


@pytest.mark.parametrize(("query", "text"), [
    ("soldier", "Two soldiers were wounded"), ("krieg", "seit Kriegsbeginn und des Krieges"),
    ("guerre", "les guerres oubliées"), ("wojna", "po wojnie"), ("освободить", "освободили село"),
    ("втрати", "втратами"), ("prisoner NEAR/2 swap", "prisoners in a swap"),
])
def test_plain_query_words_find_inflected_forms(query: str, text: str) -> None:
    from bot.pipeline.query import parse

    assert parse(query).evaluate(_doc(text))


@pytest.mark.parametrize(("query", "text"), [
    ('"soldier"', "Two soldiers were wounded"), ('"wojna"', "po wojnie"),
    ("soldier", "a soldering iron"), ("NATO", "natos"), ('"prisoner swap"', "prisoners swap"),
])
def test_quotes_capitals_and_other_words_stay_exact(query: str, text: str) -> None:
    from bot.pipeline.query import parse

    assert not parse(query).evaluate(_doc(text))


def test_a_quoted_word_prints_back_quoted() -> None:
    from bot.pipeline.query import parse

    assert str(parse('"soldier"')) == '"soldier"' and str(parse("soldier")) == "soldier"
    assert parse(str(parse('"soldier" OR wojna'))) == parse('"soldier" OR wojna')
