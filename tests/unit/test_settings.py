import pytest

from bot.errors import ConfigError
from bot.settings import load_settings, parse_settings
from config import path as bundled

GOOD = """
storage: {path: ./data/x.db}
telegram: {token_env: TELEGRAM_BOT_TOKEN, base_url: https://api.telegram.org/bot}
discord: {token_env: DISCORD_BOT_TOKEN, api_base: https://discord.com/api/v10}
translation:
  providers:
    - {name: libre, url: http://127.0.0.1:5000/, api_key_env: LIBRE_KEY}
    - {name: google}
sources:
  - {id: gur, platform: telegram, chat: -1001111111111}
  - {id: osint, platform: discord, channel: 111111111111111111}
rooms:
  - id: newsroom
    platform: telegram
    chat: -1002222222222
    language: en
    subscriptions:
      - {id: nk-kursk, query: 'entity:north_korea AND entity:kursk'}
"""


def test_good_config_parses():
    s = parse_settings(GOOD)
    assert s.rooms[0].subscriptions[0].id == "nk-kursk"
    assert [p.name for p in s.translation.providers] == ["libre", "google"]
    assert s.sources[1].channel == 111111111111111111


def test_every_problem_reported_with_key_path_and_line():
    bad = GOOD.replace("platform: telegram\n    chat", "platform: telegramm\n    chat").replace(
        "name: google", "name: googel")
    with pytest.raises(ConfigError) as err:
        parse_settings(bad)
    text = "\n".join(err.value.problems)
    assert "rooms[0].platform (line 14)" in text
    assert "translation.providers[1].name" in text
    assert len(err.value.problems) == 2


def test_unknown_key_and_secret_in_file_rejected():
    with pytest.raises(ConfigError) as err:
        parse_settings("telegram: {token: '123:abc'}\n")
    assert "telegram.token" in err.value.problems[0]


def test_bad_query_reported_at_its_key():
    bad = GOOD.replace("entity:north_korea AND entity:kursk", "(kursk AND")
    with pytest.raises(ConfigError) as err:
        parse_settings(bad)
    assert "rooms[0].subscriptions[0].query" in err.value.problems[0]
    assert "expected" in err.value.problems[0]


def test_room_needs_address_and_ids_unique():
    with pytest.raises(ConfigError) as err:
        parse_settings("rooms:\n - {id: a, platform: telegram}\n")
    assert err.value.problems == ["<config>: rooms[0] (line 2): a telegram room needs `chat`"]
    with pytest.raises(ConfigError) as err:
        parse_settings("rooms:\n - {id: a, platform: console}\n - {id: a, platform: console}\n")
    assert err.value.problems == ["<config>: rooms[1].id (line 3): duplicate room id 'a' "
                                  "(also rooms[0])"]


def test_yaml_syntax_error_names_line():
    with pytest.raises(ConfigError) as err:
        parse_settings("rooms: [\n  {id: a\n")
    assert "line" in str(err.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_bundled_configs_are_valid():
    assert load_settings(bundled("wirewatch.example.yaml")).rooms
    assert load_settings(bundled("demo.yaml")).rooms


def test_unknown_language_candidates_are_reported():
    with pytest.raises(ConfigError) as err:
        parse_settings("languages: {candidates: [ru, xx, en]}\n")
    assert err.value.problems[0].startswith("<config>: languages.candidates (line 1): ")
    assert "xx" in err.value.problems[0]


# Every kind of broken config, with the exact message: file, key path, line.
BROKEN = [
    ("rooms:\n  - {id: a, platform: console}\nrooms:\n  - {id: b, platform: console}\n",
     ["c.yaml: rooms (line 3): duplicate key 'rooms' (first at line 1); write each key once"]),
    ("rooms:\n  - id: a\n    platform: console\n    language: en\n    language: de\n",
     ["c.yaml: rooms[0].language (line 5): duplicate key 'language' (first at line 4); "
      "write each key once"]),
    ("rooms:\n  - {id: a, platform: telegram, chat: true}\n",
     ["c.yaml: rooms[0].chat (line 2): expected a whole number, got true"]),
    ("rooms:\n  - {id: a, platform: telegram, chat: '-100123'}\n",
     ["c.yaml: rooms[0].chat (line 2): expected a whole number, got '-100123'"]),
    ("rooms:\n  - {id: 2024, platform: console}\n",
     ["c.yaml: rooms[0].id (line 2): expected text, got the number 2024 "
      "(put it in quotes to make it text)"]),
    ("rooms:\n  - id: a\n    platform: console\n    language: no\n",  # YAML 1.1: no = false
     ["c.yaml: rooms[0].language (line 4): expected text, got false "
      "(put it in quotes to make it text)"]),
    ("translation: {providers: [{name: deepl, use_free_api: 1}]}\n",
     ["c.yaml: translation.providers[0].use_free_api (line 1): expected true or false, "
      "got the number 1"]),
    ("telegram: {moderators: [12, yes]}\n",
     ["c.yaml: telegram.moderators[1] (line 1): expected a whole number, got true"]),
    ("delivery:\n  lease: fast\n",
     ["c.yaml: delivery.lease (line 2): expected a number, got 'fast'"]),
    ("rooms: {id: a}\n", ["c.yaml: rooms (line 1): expected a list, got a mapping"]),
    ("storage:\n  pth: x.db\n",
     ["c.yaml: storage.pth (line 2): unknown key (check its spelling and indentation); "
      "expected one of: engine, path, url"]),
    ("rooms:\n  - {id: a, platform: console, language: ua}\n",
     ["c.yaml: rooms[0].language (line 2): 'ua' is not a language alerts can be translated "
      "into (did you mean 'uk', Ukrainian?); use an ISO 639-1 code such as en, ru, uk, de, fr, "
      "pl, ko"]),
    ("rooms:\n  - {id: a, platform: console, language: xx}\n",
     ["c.yaml: rooms[0].language (line 2): 'xx' is not a language alerts can be translated "
      "into; use an ISO 639-1 code such as en, ru, uk, de, fr, pl, ko"]),
    ("rooms:\n  - id: a\n    platform: console\n    subscriptions:\n"
     "      - {id: s, query: x}\n      - {id: s, query: y}\n",
     ["c.yaml: rooms[0].subscriptions[1].id (line 6): duplicate subscription id 's' "
      "(also rooms[0].subscriptions[0])"]),
    ("sources:\n  - {id: s, platform: telegram}\n",
     ["c.yaml: sources[0] (line 2): a telegram source needs `chat`"]),
    ("rooms:\n  - {platform: console}\n",
     ["c.yaml: rooms[0].id (line 2): required key is missing"]),
    ("rooms:\n  - {id: a b, platform: console}\n",
     ["c.yaml: rooms[0].id (line 2): expected an id: a letter or digit, then letters, digits, "
      "_ . or - (64 at most), got 'a b'"]),
    ("rooms:\n  - {id: a, platform: telegramm, chat: 1}\n",
     ["c.yaml: rooms[0].platform (line 2): expected 'telegram', 'discord', 'console' or "
      "'webhook', got 'telegramm'"]),
    ("delivery:\n  lease: 0\n",
     ["c.yaml: delivery.lease (line 2): expected a number greater than or equal to 1, "
      "got the number 0"]),
    ("rooms:\n  - {id: a, platform: console, language: English}\n",
     ["c.yaml: rooms[0].language (line 2): 'English' is not a language alerts can be "
      "translated into (did you mean 'en', English?); use an ISO 639-1 code such as en, ru, "
      "uk, de, fr, pl, ko"]),
]


@pytest.mark.parametrize("text, problems", BROKEN)
def test_each_broken_kind_has_its_positioned_message(text, problems):
    with pytest.raises(ConfigError) as err:
        parse_settings(text, "c.yaml")
    assert err.value.problems == problems
    assert str(err.value) == problems[0]


def test_all_problems_at_once_in_file_order():
    text = ("storage: {pth: x}\nrooms:\n  - {id: a, platform: telegram, chat: true}\n"
            "  - {id: a, platform: console}\nstorage: {path: y}\n")
    with pytest.raises(ConfigError) as err:
        parse_settings(text, "c.yaml")
    # a duplicate key stops the loading: what it would have read is ambiguous
    assert err.value.problems == [
        "c.yaml: storage (line 5): duplicate key 'storage' (first at line 1); write each key once"]
    with pytest.raises(ConfigError) as err:
        parse_settings(text.replace("storage: {path: y}\n", ""), "c.yaml")
    assert [p.split(":")[1].strip() for p in err.value.problems] == [
        "storage.pth (line 1)", "rooms[0].chat (line 3)", "rooms[1].id (line 4)"]
    assert str(err.value).endswith("(and 2 more problems)")


def test_aliases_share_values_and_merge_keys_may_override():
    text = (
        "rooms:\n  - &room {id: a, platform: console, language: de}\n"
        "  - {<<: *room, id: b}\n")
    s = parse_settings(text)
    assert [(r.id, r.language) for r in s.rooms] == [("a", "de"), ("b", "de")]


def test_an_alias_bomb_is_refused():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefghijk", "bcdefghijkl", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(ConfigError) as err:  # 9**12 values: expanded, it would never finish
        parse_settings("\n".join(lines) + "\n", "c.yaml")
    assert err.value.problems[0].startswith("c.yaml: line ")
    assert "aliases expand this file to more than 100,000 values" in err.value.problems[0]


def test_settings_know_their_file_and_lines():
    s = parse_settings("storage:\n  path: /tmp/x.db\n", "c.yaml")
    assert s.source == "c.yaml"
    assert s.problem(("storage", "path"), "bad") == "c.yaml: storage.path (line 2): bad"
    assert s.problem(("rooms", 0), "bad") == "c.yaml: rooms[0]: bad"  # not in the file
