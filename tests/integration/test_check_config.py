"""Tests that `wirewatch check-config` reports what `wirewatch run` refuses, with the same
messages, and of `wirewatch rooms list|remove` for rooms the config no longer names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.model import Alert, Analysis, Post, Room, Subscription
from bot.pipeline.topics import Topics
from bot.storage.sqlite import SQLiteStore

ENV = ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "WW_HOOK", "WW_DEEPL")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def storage(tmp_path: Path) -> str:
    return f"storage: {{path: {tmp_path / 'w.db'}}}\n"


# (name, config after the storage line, variables set, expected message, an environment problem)
CASES = [
    ("telegram room, no telegram section",
     "rooms:\n  - {id: desk, platform: telegram, chat: -100123}\n", {},
     "c.yaml: rooms[0].platform (line 3): room 'desk' is a telegram room, but the config has "
     "no `telegram:` section; add one (`telegram: {}` reads the token from $TELEGRAM_BOT_TOKEN)",
     False),
    ("discord room, no discord section",
     "rooms:\n  - id: osint\n    platform: discord\n    channel: 42\n", {},
     "c.yaml: rooms[0].platform (line 4): room 'osint' is a discord room, but the config has "
     "no `discord:` section; add one (`discord: {}` reads the token from $DISCORD_BOT_TOKEN)",
     False),
    ("telegram token unset",
     "telegram:\n  token_env: TELEGRAM_BOT_TOKEN\n", {},
     "c.yaml: telegram.token_env (line 3): Telegram needs a bot token: set the environment "
     "variable TELEGRAM_BOT_TOKEN (from @BotFather)", True),
    ("discord token unset (default name)",
     "discord: {}\n", {"TELEGRAM_BOT_TOKEN": "1:x"},
     "c.yaml: discord.token_env (line 2): Discord needs a bot token: set the environment variable "
     "DISCORD_BOT_TOKEN (Developer Portal -> Bot -> Token)", True),
    ("webhook URL unset",
     "rooms:\n  - {id: wire, platform: webhook, url_env: WW_HOOK}\n", {},
     "c.yaml: rooms[0].url_env (line 3): webhook room 'wire' needs its URL: set the "
     "environment variable WW_HOOK", True),
    ("webhook URL not a URL",
     "rooms:\n  - {id: wire, platform: webhook, url_env: WW_HOOK}\n", {"WW_HOOK": "hooks.slack"},
     "c.yaml: rooms[0].url_env (line 3): webhook room 'wire': the environment variable WW_HOOK "
     "does not hold an http(s) URL", True),
    ("translator key unset",
     "translation:\n  providers:\n    - {name: deepl, api_key_env: WW_DEEPL}\n", {},
     "c.yaml: translation.providers[0].api_key_env (line 4): deepl needs an API key: set the "
     "environment variable WW_DEEPL", True),
    ("translator key not named",
     "translation:\n  providers:\n    - {name: microsoft, region: westeurope}\n", {},
     "c.yaml: translation.providers[0] (line 4): microsoft needs an API key: name the "
     "environment variable holding it in api_key_env", True),
    ("unknown room language",
     "rooms:\n  - {id: desk, platform: console, language: kr}\n", {},
     "c.yaml: rooms[0].language (line 3): 'kr' is not a language alerts can be translated into "
     "(did you mean 'ko', Korean?); use an ISO 639-1 code such as en, ru, uk, de, fr, pl, ko",
     False),
    ("unknown entity in a subscription",
     "rooms:\n  - id: desk\n    platform: console\n    subscriptions:\n"
     "      - {id: s, query: 'entity:narnia'}\n", {},
     "c.yaml: rooms[0].subscriptions[0].query (line 6): unknown entity 'narnia' at column 8: "
     "expected a known entity id", False),
    ("unknown topic in a subscription",
     "rooms:\n  - id: desk\n    platform: console\n    subscriptions:\n"
     "      - {id: s, query: 'topic:nope'}\n", {},
     "c.yaml: rooms[0].subscriptions[0].query (line 6): unknown topic(s) nope; known: "
     + ", ".join(sorted(Topics.load().ids)),
     False),
    ("duplicate key",
     "rooms: []\nrooms:\n  - {id: desk, platform: console}\n", {},
     "c.yaml: rooms (line 3): duplicate key 'rooms' (first at line 2); write each key once",
     False),
    ("chat: true",
     "rooms:\n  - {id: desk, platform: telegram, chat: true}\n", {},
     "c.yaml: rooms[0].chat (line 3): expected a whole number, got true", False),
]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(storage(tmp_path) + body, encoding="utf-8")
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """check-config on the file as named from its folder (the tests chdir there): c.yaml."""
    code = main(["check-config", path.name, *extra])
    captured = capsys.readouterr()
    return code, captured.err


def run(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", "--config", path.name])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name, body, env, message, is_env", CASES, ids=[c[0] for c in CASES])
def test_check_config_and_run_refuse_the_same_with_the_same_message(
        tmp_path, capsys, monkeypatch, name, body, env, message, is_env):
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = write(tmp_path, body)
    code, err = check(path, capsys)
    if is_env:  # a warning: the file may be checked on another machine than it runs on
        assert code == 0 and f"warning: {message}\n" in err
        code, err = check(path, capsys, "--strict")
    assert code == 2 and (f"error: {message}\n" in err or f"  - {message}\n" in err), err
    code, err = run(path, capsys)
    assert code == 2, err
    assert f"error: {message}\n" in err or f"  - {message}\n" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "w.db").exists()  # refused before anything was opened or seeded


def test_storage_path_problems(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [
        ("data", "c.yaml: storage.path (line 1): data is a folder; name the database file "
                 "inside it, e.g. data/wirewatch.db"),
        ("afile/w.db", "c.yaml: storage.path (line 1): cannot create afile/w.db: afile is a "
                       "file, not a folder"),
    ]
    for value, message in cases:
        (tmp_path / "c.yaml").write_text(f"storage: {{path: {value}}}\n")
        for command in (["check-config", "c.yaml"], ["check-config", "--strict", "c.yaml"],
                        ["run", "--config", "c.yaml"]):
            assert main(command) == 2, command
            assert f"error: {message}\n" in capsys.readouterr().err, command


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_storage_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        (tmp_path / "c.yaml").write_text("storage: {path: locked/w.db}\n")
        assert main(["check-config", "c.yaml"]) == 2
        assert ("c.yaml: storage.path (line 1): cannot write the database locked/w.db: the "
                "folder locked is not writable") in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_every_problem_is_reported_at_once(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "telegram: {}\nrooms:\n"
                           "  - {id: desk, platform: discord, channel: 1}\n"
                           "  - {id: wire, platform: webhook, url_env: WW_HOOK}\n")
    code, err = check(path, capsys, "--strict")
    assert code == 2
    listed = [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("  - ")]
    assert listed == ["rooms[0].platform (line 4)", "telegram.token_env (line 2)",
                      "rooms[1].url_env (line 5)"]
    assert err.startswith("error: c.yaml: rooms[0].platform (line 4): ")
    assert err.splitlines()[0].endswith("(and 2 more problems)")


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["check-config", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "--strict" in out and "  2  " in out


# -- rooms left in the database ---------------------------------------------------------------


def seeded_store(tmp_path: Path) -> SQLiteStore:
    """A database where a telegram room (with subscriptions, keywords, alerts) was configured."""
    store = SQLiteStore(tmp_path / "w.db")
    store.upsert_room(Room("desk", "telegram", "-100123", None, "en"))
    store.seed_once("room", "desk")
    store.seed_once("subscription", "desk/s1")
    store.add_subscription(Subscription("s1", "desk", "kursk", created_by="config"))
    store.add_keyword("desk", "курск", ["kursk"])
    store.upsert_room(Room("screen", "console", "screen", None, "en"))
    store.enqueue_alert(Alert(Post("src", "telegram", "-1", "1", "Курск"), "desk", "s1",
                              Analysis(lang="ru")))
    return store


ORPHAN = ("c.yaml: room 'desk' (telegram chat -100123) is in the database {db} but not in this "
          "config, and the config has no `telegram:` section to serve it: add a `telegram:` "
          "section, or remove the room with `wirewatch rooms remove desk --config c.yaml` "
          "(`wirewatch rooms list --config c.yaml` lists them)")


def test_a_room_left_in_the_database_is_named_with_how_to_remove_it(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeded_store(tmp_path).close()
    path = write(tmp_path, "rooms:\n  - {id: screen, platform: console}\n")
    message = ORPHAN.format(db=tmp_path / "w.db")
    code, err = check(path, capsys)
    assert code == 2 and f"error: {message}\n" in err
    code, err = run(path, capsys)
    assert code == 2 and f"error: {message}\n" in err

    assert main(["rooms", "list", "--config", "c.yaml"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ROOM", "PLATFORM", "ADDRESS", "LANG", "SUBS", "KEYWORDS", "CONFIG"]
    assert out[1].split() == ["desk", "telegram", "-100123", "en", "1", "1", "not", "in",
                              "file;", "no", "`telegram:`", "section:", "not", "served"]
    assert out[2].split() == ["screen", "console", "screen", "en", "0", "0", "in", "file"]

    assert main(["rooms", "remove", "nope", "--config", "c.yaml"]) == 2
    assert ("error: no room 'nope' in " in capsys.readouterr().err)
    assert main(["rooms", "remove", "desk", "--config", "c.yaml"]) == 0
    assert "removed room desk (telegram -100123) with 1 subscription(s) and 1 keyword(s)" in (
        capsys.readouterr().out)

    store = SQLiteStore(tmp_path / "w.db")
    assert [r.id for r in store.rooms()] == ["screen"]
    assert store.subscriptions("desk") == [] and store.keywords("desk") == []
    assert len(store.alerts_for_room("desk")) == 1  # the history stays
    [entry] = [e for e in store.audit_log() if e.action == "room_remove"]
    assert (entry.actor, entry.room_id) == ("cli", "desk")
    assert entry.detail["subscriptions"] == ["s1"] and entry.detail["keywords"] == ["курск"]
    assert store.seed_once("room", "desk")  # added to the file again: seeded afresh
    store.close()
    code, err = check(path, capsys)
    assert code == 0, err


def test_removing_a_room_still_in_the_file_says_it_comes_back(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeded_store(tmp_path).close()
    write(tmp_path, "rooms:\n  - {id: screen, platform: console}\n")
    assert main(["rooms", "remove", "screen", "--config", "c.yaml"]) == 0
    assert "note: c.yaml still names room screen: the next start adds it again" in (
        capsys.readouterr().out)



def test_rooms_commands_never_create_a_database(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "rooms: []\n")
    for command in (["rooms", "list", "--config", "c.yaml"],
                    ["rooms", "remove", "desk", "--config", "c.yaml"]):
        assert main(command) == 2
        assert f"error: no database at {tmp_path / 'w.db'} yet" in capsys.readouterr().err
    assert not (tmp_path / "w.db").exists()


def test_a_missing_watchlist_is_named_at_its_config_key(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "entities: people.yaml\ntopics: topics.yaml\n")
    message = (f"c.yaml: entities (line 2): people.yaml is not a readable file (paths are "
               f"relative to the folder wirewatch runs in, {tmp_path})")
    for code, err in (check(path, capsys), run(path, capsys)):
        assert code == 2 and f"error: {message} (and 1 more problem)\n" in err
        assert "  - c.yaml: topics (line 3): topics.yaml is not a readable file" in err


def test_a_damaged_database_is_refused_alike(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.db").write_bytes(b"not a database at all" * 100)
    path = write(tmp_path, "rooms: []\n")
    results = [check(path, capsys), run(path, capsys)]
    assert [code for code, _ in results] == [2, 2]
    first = {err.splitlines()[0] for _, err in results}
    assert len(first) == 1 and "is not a usable wirewatch database" in first.pop()


def test_rooms_list_prints_no_terminal_controls(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore(tmp_path / "w.db")
    store.upsert_room(Room("evil\x1b]0;pwned\x07", "console", "c\x1b[2J\u202e", None, "en"))
    store.close()
    write(tmp_path, "rooms: []\n")
    assert main(["rooms", "list", "--config", "c.yaml"]) == 0
    out = capsys.readouterr().out
    assert "evil" in out and not any(ch in out for ch in "\x1b\x07\u202e")
