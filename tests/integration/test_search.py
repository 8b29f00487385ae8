"""Search over the real store: the FTS prefilter never drops a post the query accepts."""

import pytest

from bot.bootstrap import build_engine
from bot.demo import sample_posts_path
from bot.model import Analysis, Post
from bot.pipeline.query import parse
from bot.replay import read_posts
from bot.settings import Settings
from bot.storage.fts import fts_prefilter
from bot.storage.sqlite import SQLiteStore
from handlers.finder import compile_query, find_posts, stored_doc

EXTRA = [
    "Ёлка и Kурск: северокорейские войска",  # ё and a Latin homoglyph
    "Войска КНДР у Курска, war news",
    "쿠르스크에서 북한군 교전",
    "Nordkoreanische Truppen in der Region Kursk",
    "Курс рубля вырос",
]

QUERIES = [
    "kursk", "курская", "войск*", '"северокорейские войска"', "elka", "елка",
    "entity:kursk", "entity:north_korea AND NOT lang:en", "topic:conflict",
    "쿠르스크", "Truppen OR войска", "(kursk OR курск*) NEAR/3 войск*", "курс",
    "NOT entity:kursk", "lang:ko", "source:demo-1 OR entity:ukraine", '"war news"',
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    engine = build_engine(Settings())
    store = SQLiteStore(tmp_path_factory.mktemp("search") / "s.db")
    posts = list(read_posts(sample_posts_path(), []))
    posts += [Post(f"demo-{i}", "telegram", "-1", str(i), text) for i, text in enumerate(EXTRA)]
    for post in posts:
        analysis, _ = engine.analyzer.analyze(post, detect=True)
        store.save_post(post, analysis)
    yield engine, store
    store.close()


@pytest.mark.parametrize("text", QUERIES)
def test_prefilter_agrees_with_exact_evaluation(filled, text):
    engine, store = filled
    query = compile_query(text, engine.watchlist.ids, engine.topics.ids)
    everything = store.recent_posts(limit=1000)
    expected = [sp.post.key for sp in everything if query.evaluate(stored_doc(sp))]
    found = [sp.post.key for sp in find_posts(store, query, limit=1000)]
    assert found == expected


def test_word_queries_use_the_index(filled):
    _, store = filled
    assert fts_prefilter(parse('"kursk" AND войск*')) == 'search_text:("kursk") AND search_text:("войск"*)'.join(("(", ")"))
    # a plain word matches its forms (issue 13): the index is asked for their common prefix
    assert fts_prefilter(parse("kursk")) == 'search_text:("kursk"*)'
    assert fts_prefilter(parse("NOT kursk")) is None
    assert fts_prefilter(parse("entity:kursk OR lang:ru")) is None
    assert store.search_posts(parse('"елка"'))  # ё was folded at indexing


def test_bare_entity_id_also_matches_the_tag(filled):
    engine, store = filled
    query = compile_query("kursk", engine.watchlist.ids, engine.topics.ids)
    texts = [sp.post.text for sp in find_posts(store, query, limit=50)]
    assert any("Курск" in t for t in texts) and any("쿠르스크" in t for t in texts)
    assert not any(t.startswith("Курс рубля") for t in texts)


def test_edit_reindexes(tmp_path):
    store = SQLiteStore(tmp_path / "e.db")
    post = Post("s", "telegram", "-1", "1", "первый текст")
    store.save_post(post, Analysis())
    store.save_post(Post("s", "telegram", "-1", "1", "второй вариант", edited=True), Analysis())
    assert store.search_posts(parse('"первый"')) == []
    assert len(store.search_posts(parse('"второй"'))) == 1
    store.close()
