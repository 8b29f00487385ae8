"""Implied entities through the real engine, store and analyze command (issue 13, item 1)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from bot.bootstrap import build_engine
from bot.cli import main
from bot.model import Post, Room, Subscription
from bot.pipeline.query import parse
from bot.pipeline.runner import Pipeline
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore


@pytest.fixture(scope="module")
def engine():
    return build_engine(Settings())


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "i.db")
    s.upsert_room(Room("desk", "console", "desk", None, "en"))
    s.add_subscription(Subscription("russia", "desk", "entity:russia"))
    s.add_subscription(Subscription("kursk", "desk", "entity:kursk"))
    yield s
    s.close()


def test_a_ministry_post_matches_entity_russia_and_is_found_by_it(engine, store):
    pipeline = Pipeline(store, engine.analyzer)
    outcome = pipeline.process(Post("mod", "telegram", "-1", "1", "Минобороны сообщило о ходе учений"))
    assert [m.entity_id for m in outcome.analysis.mentions] == ["russian_mod"]
    assert outcome.analysis.implied == ("russia",)
    assert ("desk", "russia") in outcome.matches
    hits = store.search_posts(parse("entity:russia", known_entities=set(engine.watchlist.ids)))
    assert [h.post.text for h in hits] == ["Минобороны сообщило о ходе учений"]
    assert hits[0].entities == ("russian_mod", "russia")


def test_a_village_implies_kursk(engine, store):
    outcome = Pipeline(store, engine.analyzer).process(
        Post("mod", "telegram", "-1", "2", "Бои шли у Плехово"))
    assert outcome.analysis.implied == ("kursk",)
    assert ("desk", "kursk") in outcome.matches


def test_analyze_lists_real_mentions_and_implied_ids_apart(capsys, monkeypatch):
    line = json.dumps({"id": "a", "text": "Пэт Райдер: Минобороны России лжёт"}, ensure_ascii=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(line + "\n"))
    assert main(["analyze"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in out["entities"]] == ["pat_ryder", "russian_mod", "russia"]
    assert out["entities"][2]["surface"] == "России"
    assert set(out["implied"]) == {"pentagon", "united_states"}
