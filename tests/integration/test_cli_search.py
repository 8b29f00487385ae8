"""`wirewatch search` as a new user meets it: where the store is, what a hit shows, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store_config(tmp_path, capsys) -> Path:
    """A store filled by `replay --config`: a configured source with a name, and posts of
    the shared data set's format (channel title, numeric chat id)."""
    config = tmp_path / "c.yaml"
    config.write_text(
        f"storage: {{path: {tmp_path / 'store.db'}}}\n"
        "sources:\n  - {id: gur, platform: telegram_public, username: DIUkraine, name: ГУР МО}\n"
        "  - {id: rybar, platform: telegram_public, username: rybar}\n")
    rows = [
        {"source_id": "gur", "platform": "telegram_public", "chat": "DIUkraine",
         "message_id": "1", "date": "2024-11-04T09:00:00Z",
         "text": "Північнокорейські військові прибули до Курської області"},
        {"source_id": "rybar", "platform": "telegram_public", "chat": "rybar",
         "message_id": "3", "date": "2024-11-04T08:00:00Z", "author": "Иван Подписной",
         "text": "Бои в Курской области продолжаются"},
        {"channel_id": -1001234, "message_id": 2, "date": "2024-11-04T10:00:00Z",
         "channel": "Новости дня", "text": "Курс рубля снова упал, сообщили в Курске"},
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert main(["replay", str(path), "--config", str(config)]) == 0
    capsys.readouterr()
    return config


def test_search_without_a_store_says_so_and_creates_nothing(tmp_path, capsys):
    assert main(["search", "kursk"]) == 1
    err = capsys.readouterr().err
    assert "no store at ./data/demo.db; run `wirewatch demo` first or pass --config" in err
    assert not (tmp_path / "data").exists()
    config = tmp_path / "c.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'nowhere' / 'x.db'}}}\n")
    assert main(["search", "kursk", "--config", str(config)]) == 1
    assert f"no store at {tmp_path / 'nowhere' / 'x.db'}" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_hits_show_source_and_language_names(store_config, capsys):
    assert main(["search", "kursk", "--config", str(store_config)]) == 0
    out = capsys.readouterr().out
    assert "ГУР МО [Ukrainian]" in out  # the configured source's name
    assert "Новости дня [Russian]" in out  # the channel title the post carries
    assert "rybar [Russian]" in out  # a known source without a name: its id, not the signer
    assert "-1001234" not in out.split("https://")[0] and "[unknown]" not in out
    assert main(["search", "kursk", "--config", str(store_config), "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(h["source"], h["source_name"], h["lang"]) for h in hits} == {
        ("gur", "ГУР МО", "uk"), ("rybar", "rybar", "ru"), ("-1001234", "Новости дня", "ru")}


def test_a_query_starting_with_a_dash(store_config, capsys):
    config = str(store_config)
    for argv in (["search", "--config", config, "--", "-рубль"],
                 ["search", "-рубль", "--config", config]):
        assert main(argv) == 0, argv
        out = capsys.readouterr().out
        assert "ГУР МО" in out and "Новости дня" not in out  # NOT рубль
    assert main(["search", "-рубль", "--json", "--config", str(store_config)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # all three posts but the рубль one
    with pytest.raises(SystemExit) as exit_:
        main(["search", "kursk", "--jsn"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --jsn" in err and "wirewatch search -- '-word'" in err


def test_limit_must_be_positive(store_config, capsys):
    for bad in ("0", "-1", "many"):
        with pytest.raises(SystemExit) as exit_:
            main(["search", "kursk", "--limit", bad, "--config", str(store_config)])
        assert exit_.value.code == 2
        assert "argument --limit" in capsys.readouterr().err
    assert main(["search", "kursk", "--limit", "1", "--config", str(store_config), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
