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
    assert "rooms[0] (line 2): a telegram room needs `chat`" in err.value.problems
    with pytest.raises(ConfigError) as err:
        parse_settings("rooms:\n - {id: a, platform: console}\n - {id: a, platform: console}\n")
    assert "duplicate room ids: a" in err.value.problems[0]


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
    assert err.value.problems[0].startswith("languages.candidates (line 1)")
    assert "xx" in err.value.problems[0]
