"""Tests of the one YAML loader: lines of keys, duplicate keys, alias bounds, bad syntax."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.yamlio import MAX_VALUES, format_path, load_yaml


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_yaml(text, "f.yaml")
    return err.value.problems


def test_lines_of_keys_and_items():
    doc = load_yaml("a: 1\nrooms:\n  - id: x\n    chat: 5\n  - {id: y}\n", "f.yaml")
    assert doc.data == {"a": 1, "rooms": [{"id": "x", "chat": 5}, {"id": "y"}]}
    assert doc.line(("rooms", 0, "chat")) == 4
    assert doc.line(("rooms", 1, "id")) == 5
    assert doc.line(("rooms", 1, "missing")) == 5  # the deepest part the file has
    assert doc.line(("rooms", 7)) == 2
    assert doc.line(("nope",)) is None
    assert doc.problem(("rooms", 0, "chat"), "bad") == "f.yaml: rooms[0].chat (line 4): bad"


def test_format_path_quotes_odd_keys():
    assert format_path(("rooms", 0, "subscriptions", 2, "query")) == "rooms[0].subscriptions[2].query"
    assert format_path(("suffixes", "a b", "forms")) == "suffixes['a b'].forms"
    assert format_path(()) == "(top level)"


def test_duplicate_keys_name_both_lines_at_any_depth():
    assert problems("rooms: []\na: 1\nrooms: [1]\nx: {a: 1, a: 2}\n") == [
        "f.yaml: rooms (line 3): duplicate key 'rooms' (first at line 1); write each key once",
        "f.yaml: x.a (line 4): duplicate key 'a' (first at line 4, column 5); write each key once",
    ]
    assert problems("e:\n  - id: k\n    aliases:\n      ru: [a]\n      ru: [b]\n") == [
        "f.yaml: e[0].aliases.ru (line 5): duplicate key 'ru' (first at line 4); "
        "write each key once"]


def test_merge_keys_may_be_overridden():
    doc = load_yaml("base: &b {k: 1, j: 2}\nc:\n  <<: *b\n  k: 3\n", "f.yaml")
    assert doc.data["c"] == {"k": 3, "j": 2}
    assert doc.line(("c", "k")) == 4


def test_an_alias_bomb_is_refused_before_anything_expands_it():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefghijk", "bcdefghijkl", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    # 9**12 values: expanding it would never finish, so an answer proves nothing expanded it
    [message] = problems("\n".join(lines) + "\n")
    assert message == ("f.yaml: line 7: aliases expand this file to more than 100,000 values "
                       "(*f, used 9 times from line 7 on, stands for more than 100,000 values); "
                       "refusing to load it: write the values out instead")


def test_aliases_within_the_bound_are_fine():
    per = MAX_VALUES // 100
    text = "a: &a [" + ",".join(["1"] * per) + "]\nb: [" + ",".join(["*a"] * 50) + "]\n"
    doc = load_yaml(text, "f.yaml")
    assert len(doc.data["b"]) == 50 and doc.data["b"][0] is doc.data["a"]


def test_a_self_referring_alias_is_refused():
    assert problems("a: &a [1, *a]\n") == [
        "f.yaml: line 1: the alias *a refers to a value that contains it; aliases must not "
        "refer to themselves"]


@pytest.mark.parametrize("text, message", [
    ("a: [\n", "f.yaml: not valid YAML at line 2, column 1: expected the node content, but "
               "found '<stream end>'"),
    ("[" * 5000 + "]" * 5000, "f.yaml: not valid YAML: nested too deeply"),
    ("a: *nope\n", "f.yaml: not valid YAML at line 1, column 4: found undefined alias 'nope'"),
    ("a: !!python/object:os.system x\n",
     "f.yaml: not valid YAML at line 1, column 4: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object:os.system'"),
])
def test_bad_yaml_is_one_positioned_error(text, message):
    assert problems(text) == [message]


def test_empty_files_are_none():
    assert load_yaml("", "f.yaml").data is None
    assert load_yaml("# only a comment\n", "f.yaml").data is None
