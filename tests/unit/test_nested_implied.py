"""Overlapping mentions and implied entities (issue 13, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.pipeline.entities import Tagger, Watchlist


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return Watchlist.load()


@pytest.fixture(scope="module")
def tagger(watchlist: Watchlist) -> Tagger:
    return Tagger(watchlist)


def spans(tagger: Tagger, text: str) -> list[tuple[str, str]]:
    return [(m.entity_id, m.surface) for m in tagger.tag_text(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Минобороны России сообщило.", [("russian_mod", "Минобороны России"), ("russia", "России")]),
    ("The Russian Defence Ministry said so.",
     [("russian_mod", "Russian Defence Ministry"), ("russia", "Russian")]),
    ("The US Treasury sanctioned them.", [("us_treasury", "US Treasury"), ("united_states", "US")]),
    ("В ГУР Минобороны Украины заявили.",
     [("gur", "ГУР Минобороны Украины"), ("ukraine", "Украины")]),
    ("Минобороны США сообщило.", [("pentagon", "Минобороны США"), ("united_states", "США")]),
    ("Міноборони Росії заявило.", [("russian_mod", "Міноборони Росії"), ("russia", "Росії")]),
])
def test_a_country_inside_an_organisation_name_is_reported_too(tagger, text, expected):
    assert spans(tagger, text) == expected


def test_inner_mentions_carry_their_own_offsets(tagger):
    text = "Глава Минобороны РФ прибыл."
    outer, inner = tagger.tag_text(text)
    assert text[outer.start:outer.end] == "Минобороны РФ"
    assert text[inner.start:inner.end] == "РФ" and inner.entity_id == "russia"


@pytest.mark.parametrize(("text", "expected"), [
    # an organisation inside another name is part of that name, not Russia's ministry
    ("Минобороны США сообщило.", "russian_mod"),
    ("В ГУР Минобороны заявили.", "russian_mod"),
    # a country inside another country's name is part of that name
    ("the Democratic People's Republic of Korea", "south_korea"),
])
def test_names_inside_names_that_mean_something_else_stay_quiet(tagger, text, expected):
    assert expected not in {m.entity_id for m in tagger.tag_text(text)}


def test_one_entity_is_reported_once_per_span(tagger):
    assert spans(tagger, "Министерство обороны России") == [
        ("russian_mod", "Министерство обороны России"), ("russia", "России")]


def test_implied_ids(watchlist):
    assert watchlist.implied(["russian_mod"]) == ("russia",)
    assert watchlist.implied(["pat_ryder"]) == ("pentagon", "united_states")
    assert set(watchlist.implied(["plekhovo", "vorobzha", "martynovka"])) == {"kursk"}
    assert watchlist.implied(["russian_mod", "russia"]) == ()
    assert watchlist.implied(["putin"]) == ()


def _write(tmp_path: Path, implies: str) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(f"""
entities:
  - id: a
    type: place
    name: A
    aliases: {{en: [Alpha]}}
    implies: {implies}
  - id: b
    type: country
    name: B
    aliases: {{en: [Beta]}}
    implies: [c]
  - id: c
    type: country
    name: C
    aliases: {{en: [Gamma]}}
""", encoding="utf-8")
    return path


def test_implies_is_transitive_and_checked(tmp_path):
    watchlist = Watchlist.load(_write(tmp_path, "[b]"))
    assert watchlist.implied(["a"]) == ("b", "c")
    for bad, message in (("[zz]", "zz"), ("[a]", "itself"), ("b", "list")):
        with pytest.raises(ConfigError, match=message):
            Watchlist.load(_write(tmp_path, bad))
