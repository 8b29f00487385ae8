"""The `wirewatch` command line, end to end, in-process."""

import gzip
import io
import json
import subprocess
import sys

import pytest

from bot.cli import main
from config import path as bundled


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_demo_end_to_end(capsys, tmp_path):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    # the seed story in five languages alerts; the noise stays quiet
    for needle in ("Pat Ryder", "Северокорейские военные", "ГУР: північнокорейські",
                   "쿠르스크", "Nordkoreanische Soldaten"):
        assert needle in out
    for quiet in ("Курс рубля", "Python 3.13", "사랑의 불시착", "Pentagonal roof", "Bayern"):
        assert quiet not in out
    assert "translation unavailable" in out
    assert "room: newsroom (en)" in out and "matched: nk-kursk" in out
    assert "Korean (ko)" in out and "North Korea" in out
    assert "failed: 0" in out and "pending: 0" in out
    assert (tmp_path / "data" / "demo.db").exists()
    # the demo store is searchable afterwards
    assert main(["search", "entity:kursk AND lang:de", "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["source"] for h in hits] == ["tagesschau"]
    assert set(hits[0]) == {"id", "source", "source_name", "date", "lang", "url", "text"}


def test_analyze_reports_entities_topics_matches(capsys, monkeypatch):
    lines = [
        {"id": "a", "text": "Северокорейские войска в Курской области"},
        {"id": "b", "text": "Курс рубля упал"},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["analyze"]) == 1  # one bad line: reported, the rest analysed
    captured = capsys.readouterr()
    a, b, bad = (json.loads(x) for x in captured.out.splitlines())
    assert a["lang"] == "ru" and 0 < a["lang_confidence"] <= 1
    assert [e["id"] for e in a["entities"]] == ["north_korea", "kursk"]
    assert a["entities"][1] == {"id": "kursk", "surface": "Курской", "start": 25, "end": 32}
    assert "conflict" in a["topics"] and "newsroom/nk-kursk" in a["matches"]
    assert b["entities"] == [] and b["matches"] == [] and b["topics"] == []
    assert bad["line"] == 3 and "error" in bad
    assert "line 3" in captured.err


def test_check_config(capsys, tmp_path):
    assert main(["check-config", str(bundled("wirewatch.example.yaml"))]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("rooms:\n  - id: r\n    platform: console\n"
                   "storage: {pth: x}\nlanguages: {min_confidence: 2}\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "storage.pth (line 4)" in err and "languages.min_confidence (line 5)" in err
    assert "Traceback" not in err
    bad.write_text("rooms:\n  - id: r\n    platform: console\n    subscriptions:\n"
                   "      - {id: s, query: 'entity:narnia'}\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "rooms[0].subscriptions[0].query" in err and "narnia" in err
    bad.write_text("rooms:\n  - id: r\n    platform: console\n    subscriptions:\n"
                   "      - {id: t, query: 'topic:nope'}\n")
    assert main(["check-config", str(bad)]) == 2
    assert "unknown topic(s) nope" in capsys.readouterr().err


def test_missing_config_and_bad_replay_file_exit_cleanly(capsys, tmp_path):
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read config" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    assert main(["replay", str(broken)]) == 1
    assert "not a readable" in capsys.readouterr().err


def test_replay_of_shared_format(capsys, tmp_path):
    rows = [
        {"channel_id": -1001, "message_id": 1, "date": "2024-11-04T10:00:00+00:00",
         "channel": "Новости", "category": "politics",
         "text": "Северокорейские военные прибыли в Курскую область"},
        {"channel_id": -1001, "message_id": 2, "date": "2024-11-04T11:00:00+00:00",
         "channel": "Новости", "category": "economy", "text": "Курс рубля снова упал"},
        {"bad": "row"},
    ]
    path = tmp_path / "posts.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    assert main(["replay", str(path)]) == 1  # a line was skipped
    out = capsys.readouterr().out
    assert "2 posts" in out and "1 alerts" in out and "1 bad lines" in out
    assert "newsroom" in out and "north_korea" in out and "posts/s" in out


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for command in ("run", "demo", "analyze", "search", "replay", "check-config"):
        assert command in result.stdout


def test_replay_counts_broken_records_as_bad_lines(capsys, tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [
        {"source_id": "s", "platform": "rss", "chat": "c", "message_id": "1", "date": 1e20,
         "text": "huge timestamp"},
        {"channel_id": 1, "message_id": 2, "date": "2024-11-04T10:00:00+00:00",
         "channel": {"not": "text"}, "text": "x"},
        {"channel_id": 1, "message_id": 3, "date": "2024-11-04T10:00:00-10:00",
         "channel": "ok", "text": "Северокорейские войска в Курской области"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    assert main(["replay", str(path)]) == 1
    captured = capsys.readouterr()
    assert "1 posts" in captured.out and "2 bad lines" in captured.out
    # plain reasons, not Python exception names
    assert "line 1: 'date' is not a date" in captured.err
    assert "line 2: 'channel' must be text" in captured.err
    assert "Error" not in captured.err


def test_a_file_that_is_not_a_database_is_a_clear_error(capsys, tmp_path):
    (tmp_path / "notdb.db").write_text("this is not sqlite " * 100)
    config = tmp_path / "c.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'notdb.db'}}}\n")
    assert main(["search", "kursk", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not a usable wirewatch database" in err and "Traceback" not in err


def test_analyze_groups_the_stream_into_stories(capsys, monkeypatch):
    wire = ("Жилая многоэтажка эвакуирована в Лобне из-за противопехотной мины под полом у одного "
            "из жильцов. Житель дома вскрыл пол в квартире и обнаружил мину, эвакуированы 38 человек.")
    lines = [
        {"id": 7, "date": "2024-11-05T07:00:00Z", "source": "a", "text": wire},
        {"id": "copy", "date": "2024-11-05T07:04:00+00:00", "source": "b", "text": "⚡️" + wire},
        {"id": "late", "date": "2024-11-07T07:00:00Z", "source": "c", "text": wire},  # out of 24 h
        {"id": "x", "date": "tomorrow", "text": wire},
        {"id": "other", "source": "a", "text": "Курс рубля к доллару упал до 100 рублей"},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["analyze"]) == 1
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(o.get("id"), o.get("story")) for o in out] == [
        (7, 7), ("copy", 7), ("late", "late"), (None, None), ("other", "other")]
    assert out[3]["line"] == 4 and "ISO 8601" in out[3]["error"]
