"""Tests that every entities- and topics-file problem names the file, the key path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.pipeline.entities import Watchlist
from bot.pipeline.topics import Topics

ENTITY = ("entities:\n"
          "  - id: kursk\n"
          "    type: place\n"
          "    name: Kursk\n"
          "    aliases:\n"
          "      ru: [Курск]\n"
          "      en: [Kursk]\n")

ENTITY_CASES = [
    (ENTITY + "  - id: kursk\n    type: place\n    name: K\n    aliases: {en: [Kursk2]}\n",
     ["e.yaml: entities[1].id (line 8): duplicate entity id 'kursk' (also entities[0], line 2)"]),
    (ENTITY.replace("      en: [Kursk]\n", "      en: [Kursk]\n      ru: [Курская]\n"),
     ["e.yaml: entities[0].aliases.ru (line 8): duplicate key 'ru' (first at line 6); "
      "write each key once"]),
    (ENTITY.replace("    name: Kursk\n", "    name: Kursk\n    type: city\n"),
     ["e.yaml: entities[0].type (line 5): duplicate key 'type' (first at line 3); "
      "write each key once"]),
    ("entities: []\nentities: []\n",
     ["e.yaml: entities (line 2): duplicate key 'entities' (first at line 1); "
      "write each key once"]),
    (ENTITY.replace("type: place", "type: planet"),
     ["e.yaml: entities[0].type (line 3): entity 'kursk': `type` must be one of person, place, "
      "organisation, country, got 'planet'"]),
    (ENTITY.replace("en: [Kursk]", "en: [Kursk, 1984]"),
     ["e.yaml: entities[0].aliases.en (line 7): entity 'kursk': aliases for 'en' must be a list "
      "of strings, got 1984 (put it in quotes to make it text)"]),
    (ENTITY.replace("en: [Kursk]", "en: [Kursk, yes]"),
     ["e.yaml: entities[0].aliases.en (line 7): entity 'kursk': aliases for 'en' must be a list "
      "of strings, got True (put it in quotes to make it text)"]),
    (ENTITY.replace("    name: Kursk\n", "    name: Kursk\n    colour: red\n"),
     ["e.yaml: entities[0].colour (line 5): entity 'kursk': unknown key 'colour'; expected one "
      "of aliases, hashtag, id, implies, name, not_in, type"]),
    (ENTITY.replace("id: kursk", "id: Kursk!"),
     ["e.yaml: entities[0].id (line 2): entities[0]: `id` must be lower_snake_case, got 'Kursk!'"]),
    (ENTITY.replace("en: [Kursk]", "en: ['Kursk{zz}']"),
     ["e.yaml: entities[0].aliases.en[0] (line 7): entity 'kursk', alias 'Kursk{zz}' (en): "
      "unknown suffix class {zz}"]),
    (ENTITY + "  - id: other\n    type: place\n    name: O\n    aliases:\n      en: [Kursk]\n",
     ["e.yaml: entities[1].aliases.en[0] (line 12): entity 'other', alias 'Kursk': form 'Kursk' "
      "is also a form of alias 'Kursk' of entity 'kursk'"]),
    ("suffixes:\n  ru_m:\n    forms: ['', a]\n    open: 1\n" + ENTITY,
     ["e.yaml: suffixes.ru_m.open (line 4): suffix class 'ru_m': `open` must be true or false, "
      "got 1"]),
    ("wat: 1\n" + ENTITY,
     ["e.yaml: wat (line 1): unknown top-level key 'wat'; expected entities, suffixes, version"]),
]


@pytest.mark.parametrize("text, expected", ENTITY_CASES)
def test_entity_file_problems_are_positioned(tmp_path: Path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    Path("e.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        Watchlist.load("e.yaml")
    assert err.value.problems == expected


TOPIC = "topics:\n  - id: war\n    query: kursk\n"

TOPIC_CASES = [
    (TOPIC + "  - id: war\n    query: x\n",
     ["t.yaml: topics[1].id (line 4): topic 'war': duplicate topic id (also topics[0], line 2)"]),
    (TOPIC + "    query: y\n",
     ["t.yaml: topics[0].query (line 4): duplicate key 'query' (first at line 3); "
      "write each key once"]),
    (TOPIC + "topics: []\n",
     ["t.yaml: topics (line 4): duplicate key 'topics' (first at line 1); write each key once"]),
    (TOPIC.replace("query: kursk", "query: 1984"),
     ["t.yaml: topics[0].query (line 3): topic 'war': expected a query, got 1984 "
      "(quote it to make it text)"]),
    (TOPIC.replace("id: war", "id: true"),
     ["t.yaml: topics[0].id (line 2): topics[0]: expected an id of lower-case letters, digits "
      "and _, got True"]),
    (TOPIC + "    colour: red\n",
     ["t.yaml: topics[0].colour (line 4): topic 'war': unknown key(s) colour; expected id, "
      "query, description"]),
    (TOPIC + "    description: [a]\n",
     ["t.yaml: topics[0].description (line 4): topic 'war': the description must be text, "
      "got ['a']"]),
    (TOPIC.replace("query: kursk", "query: topic:later"),
     ["t.yaml: topics[0].query (line 3): topic 'war': topic:later at column 1 is not defined "
      "above it (expected one of: none yet)"]),
    ("extra: 1\n" + TOPIC,
     ["t.yaml: extra (line 1): unknown top-level key 'extra'; expected topics"]),
    ("topics: 3\n", ["t.yaml: topics (line 1): expected a list of topics under topics:"]),
    ("topics:\n  - just a string\n",
     ["t.yaml: topics[0] (line 2): a topic must be a mapping with id and query"]),
]


@pytest.mark.parametrize("text, expected", TOPIC_CASES)
def test_topic_file_problems_are_positioned(tmp_path: Path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    Path("t.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        Topics.load("t.yaml")
    assert err.value.problems == expected


def test_a_topic_alias_bomb_is_refused(tmp_path: Path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcde", "bcdef", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    path = tmp_path / "t.yaml"
    path.write_text("\n".join(lines) + "\ntopics: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="aliases expand this file to more than 100,000"):
        Topics.load(path)
    with pytest.raises(ConfigError, match="aliases expand this file to more than 100,000"):
        Watchlist.load(path)
