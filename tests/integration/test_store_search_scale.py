"""Searches nothing can prefilter are exact on a store of more than 20,000 posts.

`lang:`, `source:`, NOT-only queries and ORs with `lang:` used to scan only the newest 20,000
posts and silently return a fraction: the matches below sit among the oldest posts."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.bootstrap import App, build_engine
from bot.model import Analysis, Mention, Post
from bot.pipeline.query import parse
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore
from handlers import Request, dispatch, finder
from handlers.finder import count_posts, find_posts, stored_doc

N = 22_000
OLD = 1_500  # the oldest posts, beyond the newest 20,000
GERMAN = "Nordkoreanische Truppen kämpfen in der Region Kursk gegen die ukrainische Armee"
RUSSIAN = "Северокорейские войска воюют в Курской области против украинской армии"
START = datetime(2024, 1, 1, tzinfo=UTC)


def make(i: int) -> tuple[Post, Analysis]:
    """Post i: source, language and tags follow from i, so expectations are easy to state."""
    source = "rare" if i < OLD and i % 7 == 0 else f"bulk{i % 3}"
    if i < OLD and i % 5 == 0:
        text, lang = (GERMAN if i % 2 else RUSSIAN) + f" #{i}", None  # language unknown
    elif i < OLD and i % 11 == 0:
        text, lang = GERMAN + f" #{i}", "de"
    else:
        text, lang = f"routine bulletin number {i} about weather and traffic", "en"
    mentions = (Mention("kursk", "Kursk", 0, 5),) if i % 4 == 0 else ()
    post = Post(source, "telegram", "-100", str(i), text, date=START + timedelta(minutes=i))
    return post, Analysis(lang=lang, lang_confidence=0.9 if lang else None, mentions=mentions)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    store = SQLiteStore(tmp_path_factory.mktemp("big") / "big.db")
    with store.transaction():
        for i in range(N):
            store.save_post(*make(i))
    engine = build_engine(Settings())
    yield store, engine.detector
    store.close()


def everything(store):
    """Every stored post, newest first, paged without any query."""
    out, before = [], None
    while page := store.search_posts(None, limit=5000, before_id=before):
        out += page
        before = page[-1].id
    return out


@pytest.mark.parametrize("text", [
    "source:rare", "lang:de", "NOT entity:kursk", "NOT bulletin", "lang:de OR source:rare",
    "entity:kursk AND NOT lang:en", "source:rare AND NOT lang:de", "NOT (lang:en OR source:bulk1)",
    "nordkoreanische OR lang:ru", "(weather NEAR/2 traffic) AND source:rare",
])
def test_unprefilterable_queries_return_every_match(big, text):
    store, detector = big
    query = parse(text)
    found = find_posts(store, query, limit=10 * N, budget=None, detector=detector)
    assert not found.partial
    expected = [sp.id for sp in everything(store) if query.evaluate(stored_doc(sp, None, detector))]
    assert [sp.id for sp in found] == expected
    assert any(sp.id <= OLD for sp in found) or text.startswith("NOT (")  # the old ones are found
    assert count_posts(store, query, since=START, budget=None, detector=detector) == len(expected)


def test_the_store_narrows_fields_in_sql(big):
    store, _ = big
    rare = store.search_posts(parse("source:rare"), limit=10 * N)
    assert {sp.post.source_id for sp in rare} == {"rare"} and len(rare) == len(range(0, OLD, 7))
    german = store.search_posts(parse("lang:de"), limit=10 * N)
    assert {sp.lang for sp in german} <= {"de", None}  # unknown ones are candidates, to detect
    assert len(german) < OLD
    either = store.search_posts(parse("nordkoreanische OR lang:de"), limit=10 * N)
    assert len(either) < OLD  # an OR of words and a field is narrowed too, not scanned


def test_unknown_languages_are_detected_and_kept(big):
    store, detector = big
    found = find_posts(store, parse("lang:de AND source:rare"), limit=N, budget=None,
                       detector=detector)
    assert found and all("Nordkoreanische" in sp.post.text for sp in found)
    again = store.search_posts(parse("lang:de AND source:rare"), limit=N)
    assert all(sp.lang == "de" for sp in again if "Nordkoreanische" in sp.post.text)


def test_a_search_out_of_budget_says_it_is_partial(big):
    store, _ = big
    found = find_posts(store, parse("NOT bulletin"), limit=N, max_scan=2000)
    assert found.partial and found.scanned >= 2000
    assert all(sp.id > N - found.scanned for sp in found) and len(found) < len(range(0, OLD, 5))
    whole = find_posts(store, parse("NOT bulletin"), limit=N, max_scan=N + 1)
    assert not whole.partial
    counted = count_posts(store, parse("NOT bulletin"), since=START, max_scan=1000)
    assert counted.partial and counted < len(whole)


async def test_search_reply_says_partial(big, monkeypatch):
    store, _ = big
    app = App.open(Settings(), store=store)  # the real services /search and /recent use
    monkeypatch.setattr(finder, "SEARCH_BUDGET", 0.0)  # one page of candidates, then out of time

    async def ask(command, args):
        request = Request(command=command, args=args, platform="telegram", chat="-1",
                          user_id="7", user_name="t")
        return (await dispatch(request, app.services)).text

    try:
        assert "Partial" not in await ask("search", "NOT source:rare")  # 10 hits in one page
        assert "Partial" not in await ask("search", "source:rare 20")  # narrowed in SQL
        assert "Partial: only the newest 500" in await ask("search", "NOT bulletin")
        assert "Partial" not in await ask("recent", "lang:de 5")  # few candidates: one page
        assert "Partial: only the newest 500" in await ask("recent", "NOT entity:kursk AND NOT bulletin")
    finally:
        await app.translator.aclose()


async def test_the_subscribe_dry_run_says_when_its_count_is_partial(tmp_path, monkeypatch):
    from bot.model import Room

    app = App.open(Settings(), store=SQLiteStore(tmp_path / "dry.db"))
    app.store.upsert_room(Room("desk", "telegram", "-100500", None, "en"))
    now = datetime.now(UTC)
    with app.store.transaction():
        for i in range(1_200):
            app.store.save_post(Post("gur", "telegram", "-1", str(i), f"сводка {i}",
                                     date=now - timedelta(minutes=i)), Analysis(lang="ru"))

    async def subscribe(query):
        request = Request(command="subscribe", args=query, platform="telegram", chat="-100500",
                          user_id="7", user_name="t", is_moderator=True)
        return (await dispatch(request, app.services)).text

    try:
        assert "1200 stored post(s)" in await subscribe("NOT kursk") and "Partial" not in \
            await subscribe("NOT troops")
        monkeypatch.setattr(finder, "SEARCH_BUDGET", 0.0)
        text = await subscribe("NOT війська")
        assert "Partial: only the newest 500" in text and "500 stored post(s)" in text
    finally:
        await app.aclose()
