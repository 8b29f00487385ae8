"""Tests of the query language: syntax, errors, word matching and evaluation."""

from __future__ import annotations

import dataclasses

import pytest

from bot.errors import BadQuery
from bot.pipeline.query import (
    EXACT,
    INFLECT,
    PREFIX,
    And,
    Doc,
    Field,
    Near,
    Not,
    Or,
    Words,
    parse,
)
from bot.text import fold


def doc(text: str, **kw) -> Doc:
    return Doc(fold(text).words(), **kw)


def holds(query: str, text: str, **kw) -> bool:
    return parse(query).evaluate(doc(text, **kw))


# --- structure and precedence ------------------------------------------------------------------


def test_precedence_not_over_and_over_or():
    root = parse("a OR b AND NOT c").root
    assert isinstance(root, Or)
    left, right = root.children
    assert isinstance(left, Words) and left.pieces[0].text == "a"
    assert isinstance(right, And)
    assert isinstance(right.children[1], Not)


def test_implicit_and_and_minus():
    assert parse("kursk troops -drama") == parse("kursk AND troops AND NOT drama")


def test_lower_case_operators_are_words():
    root = parse("us and them").root
    assert isinstance(root, And)
    assert [c.pieces[0].text for c in root.children] == ["us", "and", "them"]
    assert holds("us and them", "Between us and them")
    assert not holds("us and them", "Between us and others")


def test_parentheses_group():
    assert holds("(kursk OR курск) AND troops", "Kursk troops")
    assert not holds("kursk OR (курск AND troops)", "troops only")
    assert holds("NOT (a OR b)", "c d")
    assert not holds("NOT (a OR b)", "b")


def test_nested_and_or_flatten():
    assert parse("(a b) c").root == parse("a b c").root
    assert parse("a OR (b OR c)").root == parse("a OR b OR c").root


def test_fields_are_case_insensitive_and_lowercased():
    q = parse("ENTITY:Kursk AND Topic:Conflict AND LANG:RU AND source:TASS")
    assert q.entities() == frozenset({"kursk"})
    assert q.topics() == frozenset({"conflict"})
    assert str(q) == "entity:kursk AND topic:conflict AND lang:ru AND source:tass"


def test_source_compared_case_insensitively():
    assert holds("source:TASS", "x", source="tass")
    assert holds("source:tass", "x", source="TASS")
    assert not holds("source:tass", "x", source="ria")


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, pos, fragment", [
    ("(kursk AND", 10, "expected a term or ')' at column 11"),
    ("(kursk", 6, "expected ')' at column 7"),
    ("kursk )", 6, "column 7"),
    ("AND kursk", 0, "expected a term at column 1"),
    ("kursk OR", 8, "expected a term at column 9"),
    ("kursk AND OR troops", 10, "column 11"),
    ("NOT", 3, "column 4"),
    ('"north korea', 12, "expected a closing quote"),
    ('""', 0, "expected words between the quotes"),
    ("foo:bar", 0, "unknown field 'foo'"),
    ("entity:", 7, "expected an entity id after 'entity:' at column 8"),
    ("lang:russian", 5, "expected a language code"),
    ("wo*rd", 2, "column 3"),
    ("kursk**", 6, "column 7"),
    ("*", 0, "expected a word before '*'"),
    ("&&", 0, "expected a word"),
    ("a NEAR/x b", 7, "expected NEAR/n"),
    ("entity:kursk NEAR/3 troops", 0, "expected a word, a phrase or an OR of them before"),
    ("troops NEAR/3 (a AND b)", 14, "after NEAR/3"),
    ("a NEAR/3 b NEAR/2 c", 11, "NEAR joins exactly two terms"),
])
def test_errors_name_position_and_expectation(text, pos, fragment):
    with pytest.raises(BadQuery) as info:
        parse(text)
    assert info.value.pos == pos
    message = str(info.value)
    assert "expected" in message
    assert f"column {pos + 1}" in message
    assert fragment in message


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_query_is_an_error(text):
    with pytest.raises(BadQuery, match="empty"):
        parse(text)


def test_bad_query_is_a_value_error_for_pydantic():
    with pytest.raises(ValueError):
        parse("(")


def test_known_entities_validated_with_suggestion():
    known = {"north_korea", "kursk"}
    assert parse("entity:kursk", known_entities=known).entities() == {"kursk"}
    with pytest.raises(BadQuery) as info:
        parse("troops entity:north_kore", known_entities=known)
    assert info.value.pos == 14
    assert "north_korea" in str(info.value)
    parse("entity:anything")  # without a known set, any well-formed id is fine


def test_deep_nesting_is_a_bad_query_not_a_recursion_error():
    with pytest.raises(BadQuery, match="nested"):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(BadQuery, match="nested"):
        parse("NOT " * 500 + "a")


def test_too_long_query():
    with pytest.raises(BadQuery) as info:
        parse("a " * 11000)
    assert info.value.pos <= 22000


# --- word matching -----------------------------------------------------------------------------


def test_words_are_case_and_diacritic_insensitive():
    assert holds("Zelensky", "ZELENSKY said")
    assert holds("Selenskyj", "Präsident Selenskyj")
    assert holds("élysée", "Elysee palace")
    assert holds("żołnierze", "ŻOŁNIERZE")
    assert holds("Курск", "в курске")  # ё/case folding and inflection together
    assert holds("ещё", "еще")


def test_exact_word_does_not_match_substring():
    assert not holds("war", "warning")
    assert not holds("war", "software")


def test_prefix_wildcard():
    assert holds("troop*", "the troops moved")
    assert holds("войск*", "северокорейских войсках")
    assert not holds("войск*", "противовойсковой")


def test_hangul_word_matches_with_particles():
    assert holds("쿠르스크", "북한군, 쿠르스크에서 교전")
    assert holds("북한군", "북한군이 참전")
    assert not holds("쿠르스크", "러시아 영토")
    assert parse("쿠르스크").root.pieces[0].mode == PREFIX
    assert str(parse("쿠르스크")) == "쿠르스크"  # no star: the rule is implicit


@pytest.mark.parametrize("query, text", [
    ("курская", "в Курской области"),
    ("курская", "курскую"),
    ("Курск", "под Курском"),
    ("война", "после войны"),
    ("война", "о войне"),
    ("россия", "из России"),
    ("україна", "в Україні"),
    ("росія", "до Росії"),
    ("санкции", "новых санкций"),
])
def test_cyrillic_inflection(query, text):
    assert holds(query, text)


@pytest.mark.parametrize("query, text", [
    ("курская", "курсант"),
    ("война", "военный"),
    ("курск", "курсы"),
])
def test_cyrillic_inflection_stays_within_case_endings(query, text):
    assert not holds(query, text)


def test_quotes_and_capitals_ask_for_the_exact_form():
    assert not holds('"курская"', "курской")
    assert holds('"курской"', "Курской")
    assert parse("НАТО").root.pieces[0].mode == EXACT
    assert not holds("НАТО", "натой")
    assert parse("нато").root.pieces[0].mode == INFLECT
    assert parse("мир").root.pieces[0].mode == EXACT  # three letters: too short to inflect


def test_phrase_needs_consecutive_words():
    assert holds('"north korean troops"', "North Korean troops arrived")
    assert not holds('"north korean troops"', "north korean and russian troops")
    assert holds('"курск* област*"', "в Курской области")
    assert holds("north-korean", "north korean")  # a hyphenated term is a phrase
    assert holds("«курской области»", "Курской области")  # guillemets quote too


def test_hyphen_and_apostrophe_split_like_post_text():
    assert holds("об'єднання", "об’єднання")
    assert holds("су-34", "Су-34 сбит")


# --- NEAR --------------------------------------------------------------------------------------


def test_near_counts_words_between_either_order():
    text = "troops were seen near the Kursk border"
    assert holds("troops NEAR/4 kursk", text)
    assert not holds("troops NEAR/3 kursk", text)
    assert holds("kursk NEAR/4 troops", text)
    assert holds("seen NEAR/0 were", text)


def test_near_with_phrases_prefixes_and_groups():
    text = "Северокорейские войска вошли в Курскую область"
    assert holds('"северокорейские войска" NEAR/3 курск*', text)
    assert holds("(troops OR войск*) NEAR/2 курск*", text)
    assert not holds("(troops OR войск*) NEAR/1 курск*", text)


def test_near_needs_two_distinct_occurrences():
    assert not holds("kursk NEAR/3 kursk", "kursk")
    assert holds("kursk NEAR/3 kursk", "kursk and kursk")
    assert not holds('"north korea" NEAR/2 korea', "north korea")


def test_near_structure():
    root = parse("(a OR b) NEAR/7 c").root
    assert isinstance(root, Near) and root.n == 7 and len(root.left) == 2


# --- fields, laziness, evaluation --------------------------------------------------------------


def test_entity_topic_source_fields():
    d = doc("text", entities=frozenset({"kursk"}), topics=frozenset({"conflict"}), source="gur")
    assert parse("entity:kursk topic:conflict source:gur").evaluate(d)
    assert not parse("entity:ukraine").evaluate(d)
    assert parse("entity:kursk -topic:sanctions").evaluate(d)


def test_lang_is_lazy_and_resolved_once():
    calls = []

    def detect() -> str:
        calls.append(1)
        return "RU"

    d = doc("северокорейские войска", lang=detect)
    assert parse("войска").evaluate(d)
    assert calls == []
    assert parse("войска AND lang:ru").evaluate(d)
    assert not parse("lang:uk").evaluate(d)
    assert calls == [1]


def test_lang_not_evaluated_when_cheaper_part_fails():
    calls = []
    d = doc("weather report", lang=lambda: calls.append(1) or "en")
    assert not parse("lang:en AND entity:kursk").evaluate(d)
    assert calls == []


def test_failing_detector_means_unknown_language():
    def boom() -> str:
        raise RuntimeError("no features in text")

    d = doc("123", lang=boom)
    assert not parse("lang:ru").evaluate(d)
    assert parse("NOT lang:ru").evaluate(d)


def test_needs_lang_and_entities():
    assert parse("a AND (b OR NOT lang:ko)").needs_lang()
    assert not parse("a AND entity:kursk").needs_lang()
    assert parse("entity:kursk OR (x AND NOT entity:russia)").entities() == {"kursk", "russia"}


def test_big_or_uses_one_pass_and_stays_correct():
    q = parse("alpha OR beta OR gamma* OR delta OR курская OR \"north korea\" OR 파병 OR x")
    assert q.evaluate(doc("gammas"))
    assert q.evaluate(doc("в Курской"))
    assert q.evaluate(doc("north korea"))
    assert q.evaluate(doc("파병한"))
    assert not q.evaluate(doc("north of korea"))
    assert not q.evaluate(doc("курсант alphabet"))


def test_query_equality_hash_and_canonical_str():
    a, b = parse("Kursk   AND troops"), parse("kursk troops")
    assert a == b and hash(a) == hash(b)
    assert a.source == "Kursk   AND troops"
    assert str(a) == "kursk AND troops"
    assert parse("a OR b") != parse("a AND b")


@pytest.mark.parametrize("text", [
    "a OR b AND NOT c", "(a OR b) c", "NOT (a b)", "NOT NOT a", '"north korean" troop*',
    "курская", "НАТО", '"курская"', "쿠르스크 OR 파병*", "(x OR \"y z\") NEAR/3 w*",
    "north-korea*", "entity:kursk -lang:ru", "нато-курская", "a OR (b OR c) OR d",
])
def test_str_round_trips(text):
    q = parse(text)
    again = parse(str(q))
    assert again == q
    assert str(again) == str(q)


def test_doc_works_with_dataclasses_replace():
    d = doc("north korean troops", entities=frozenset({"north_korea"}))
    assert parse("troops").evaluate(d)
    d2 = dataclasses.replace(d, topics=frozenset({"conflict"}))
    assert parse("troops AND topic:conflict").evaluate(d2)


def test_fields_node():
    assert parse("entity:kursk").root == Field("entity", "kursk")
