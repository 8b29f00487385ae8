"""Tests of the subscription index: what it indexes on, updates, and that it only evaluates
candidates."""

from __future__ import annotations

import pytest

from bot.pipeline.matcher import Matcher, decided_by_atoms, index_atoms
from bot.pipeline.query import Doc, parse
from bot.text import fold


def doc(text: str, **kw) -> Doc:
    return Doc(fold(text).words(), **kw)


def atoms(query: str) -> frozenset | None:
    found = index_atoms(parse(query).root)
    return None if found is None else found[1]


def test_atoms_of_words_fields_and_phrases():
    assert atoms('"kursk"') == {("text", " kursk ")}  # quoted: one exact form
    assert atoms("kursk") == {("text", " kursk")}  # plain: its word forms share the prefix
    assert atoms("troop*") == {("text", " troop")}
    assert atoms("курская") == {("text", " курск")}  # inflected: its stem is a prefix
    assert atoms("entity:kursk") == {("entity", "kursk")}
    assert atoms('"north korean troops"') == {("text", " korean ")}  # the rarest word


def test_and_picks_the_cheapest_child_or_takes_the_union():
    assert atoms("a AND северокорейские") == {("text", " северокорейск")}
    assert atoms("lang:ko AND 파병") == {("text", " 파병")}  # language is the last resort
    assert atoms('"kursk" OR entity:kursk') == {("text", " kursk "), ("entity", "kursk")}
    assert atoms("lang:ko") == {("lang", "ko")}


def test_not_cannot_be_indexed_but_and_with_not_can():
    assert atoms("NOT kursk") is None
    assert atoms("kursk OR NOT war") is None
    assert atoms('"kursk" -war') == {("text", " kursk ")}


def test_near_indexes_on_one_side():
    assert atoms('(troops OR войска) NEAR/3 "kursk"') in (
        {("text", " kursk ")}, {("text", " troops "), ("text", " войск")})


def test_decided_by_atoms():
    assert decided_by_atoms(parse("entity:kursk OR \"kursk\" OR troop*").root)
    assert not decided_by_atoms(parse("курская").root)  # the ending needs checking
    assert not decided_by_atoms(parse('"north korea"').root)
    assert not decided_by_atoms(parse("a b").root)


def test_match_returns_keys_in_insertion_order():
    m: Matcher[str] = Matcher()
    m.add("z", parse("kursk"))
    m.add("a", parse("troops"))
    m.add("m", parse("entity:kursk"))
    assert m.match(doc("troops in kursk", entities=frozenset({"kursk"}))) == ["z", "a", "m"]
    assert m.match(doc("nothing here")) == []
    assert len(m) == 3 and "a" in m


def test_add_replaces_and_remove_forgets():
    m: Matcher[str] = Matcher()
    m.add("k", parse("kursk"))
    assert m.match(doc("kursk")) == ["k"]
    m.add("k", parse("troops"))
    assert m.match(doc("kursk")) == []
    assert m.match(doc("troops")) == ["k"]
    m.remove("k")
    m.remove("never-added")
    assert m.match(doc("troops")) == [] and len(m) == 0


def test_needles_come_back_after_removal():
    m: Matcher[int] = Matcher()
    m.add(1, parse("kursk"))
    m.remove(1)
    assert m.match(doc("kursk")) == []
    m.add(2, parse("kursk"))
    assert m.match(doc("kursk")) == [2]
    m.add(3, parse("kursk AND troops"))  # same needle, shared bucket
    assert m.match(doc("kursk troops")) == [2, 3]


def test_pure_not_goes_in_the_always_list():
    m: Matcher[str] = Matcher()
    m.add("quiet", parse("NOT drama"))
    assert m.match(doc("kursk")) == ["quiet"]
    assert m.match(doc("drama")) == []


def test_only_candidates_are_evaluated():
    """1,000 subscriptions on words a post lacks: none of them is even a candidate."""
    m: Matcher[int] = Matcher()
    for i in range(1000):
        m.add(i, parse(f"word{i} AND (entity:kursk OR term{i}*)"))
    m.add(-1, parse("kursk troops"))
    d = doc("kursk troops word7", entities=frozenset({"kursk"}))
    assert len(m.candidates(d)) == 2
    assert m.match(d) == [7, -1]
    assert m.candidates(doc("nothing to see", entities=frozenset({"kursk"}))) == set()


def test_language_is_detected_only_when_some_query_needs_it():
    calls: list[int] = []

    def detect() -> str:
        calls.append(1)
        return "ru"

    m: Matcher[str] = Matcher()
    m.add("a", parse("kursk"))
    m.add("b", parse("kursk AND lang:ru"))  # indexed on the word: lang only for candidates
    m.match(doc("weather", lang=detect))
    assert calls == []
    assert m.match(doc("kursk", lang=detect)) == ["a", "b"]
    assert calls == [1]
    m.add("c", parse("lang:ru"))  # now every post needs its language, once
    calls.clear()
    d = doc("weather", lang=detect)
    assert m.match(d) == ["c"]
    m.match(d)
    assert calls == [1]


def test_source_and_topic_atoms():
    m: Matcher[str] = Matcher()
    m.add("s", parse("source:GUR"))
    m.add("t", parse("topic:conflict"))
    assert m.match(doc("x", source="gur", topics=frozenset({"conflict"}))) == ["s", "t"]
    assert m.match(doc("x", source="tass")) == []


@pytest.mark.parametrize("query, text, hit", [
    ("курская", "в Курской", True),
    ("курская", "курсант", False),  # a candidate through the stem, rejected by the check
    ('"north korea"', "north of korea", False),
    ("쿠르스크", "쿠르스크에서", True),
])
def test_candidates_are_verified(query, text, hit):
    m: Matcher[int] = Matcher()
    m.add(0, parse(query))
    assert (m.match(doc(text)) == [0]) is hit
