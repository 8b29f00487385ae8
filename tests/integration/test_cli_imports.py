"""This module contains the tests that each CLI command imports and builds only what it needs:
`search` and `analyze` start without the translator stack or the chat platforms, `search`
without expanding the watchlist's aliases. Each command runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli_search import watchlist_ids
from bot.errors import ConfigError
from bot.pipeline.entities import Watchlist

# Run a command in-process in a child interpreter, then list what it imported and whether
# the watchlist's aliases were expanded (Watchlist.from_data is where that happens).
_PROBE = """
import json, sys
from bot.pipeline import entities
built = []
original = entities.Watchlist.from_data.__func__
entities.Watchlist.from_data = classmethod(lambda cls, *a, **k: built.append(1) or original(cls, *a, **k))
from bot.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules), "expanded": len(built)}))
"""
HEAVY = ("deep_translator", "bot.pipeline.translate", "telegram", "discord", "bs4",
         "requests")


def _probe(args: list[str], cwd: Path, stdin: str = "") -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"storage: {{path: {tmp_path / 'store.db'}}}\n")
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"source_id": "s", "platform": "telegram_public", "chat": "s",
                                 "message_id": "1", "date": "2024-11-04T09:00:00Z",
                                 "text": "Бои в Курской области продолжаются"},
                                ensure_ascii=False) + "\n", "utf-8")
    from bot.cli import main

    assert main(["replay", str(posts), "--config", str(config)]) == 0
    return config


def test_search_imports_no_translator_or_platform_and_expands_nothing(
    store: Path, tmp_path: Path,
) -> None:
    found = _probe(["search", "entity:kursk", "--config", str(store)], tmp_path)
    assert found["code"] == 0
    assert not [m for m in found["modules"] if m.split(".")[0] in HEAVY or m in HEAVY]
    assert found["expanded"] == 0


def test_analyze_imports_no_translator_or_platform(tmp_path: Path) -> None:
    line = json.dumps({"id": 1, "text": "Северокорейские военные в Курской области"}) + "\n"
    found = _probe(["analyze"], tmp_path, stdin=line)
    assert found["code"] == 0
    assert not [m for m in found["modules"] if m.split(".")[0] in HEAVY or m in HEAVY]


def test_watchlist_ids_are_the_loaders(tmp_path: Path) -> None:
    assert watchlist_ids(None) == Watchlist.load(None).ids
    bad = tmp_path / "w.yaml"
    for text in ("entities: [{name: no id}]\n", "entities: [{id: a}, {id: a}]\n", ": : :\n"):
        bad.write_text(text)
        with pytest.raises(ConfigError):  # the full loader's message, not a KeyError
            watchlist_ids(str(bad))
    with pytest.raises(ConfigError):
        watchlist_ids(str(tmp_path / "missing.yaml"))
