"""Every chat command, platform-neutral, against the real store and engine."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.bootstrap import App
from bot.errors import TranslationUnavailable
from bot.model import Post, Room
from bot.settings import parse_settings
from handlers import COMMANDS, Request, dispatch, help_text
from tests.fakes.libretranslate import FakeLibreTranslate

CONFIG = """
storage: {{path: {path}}}
translation:
  providers: [{{name: libre, url: "{url}"}}]
  timeout: 2
  retries: 0
rooms:
  - id: newsroom
    platform: console
    language: en
    subscriptions:
      - {{id: nk-kursk, query: 'entity:north_korea AND entity:kursk'}}
"""


@pytest.fixture
async def app(tmp_path):
    async with FakeLibreTranslate() as fake:
        settings = parse_settings(CONFIG.format(path=tmp_path / "h.db", url=fake.url))
        app = App.open(settings)
        # the room a chat user talks from: a Telegram group mapped to a room
        app.store.upsert_room(Room("desk", "telegram", "-100500", None, "en"))
        yield app
        await app.aclose()


def req(command, args="", moderator=False, chat="-100500", user="7", operator=False, **kw):
    return Request(command=command, args=args, platform="telegram", chat=chat, user_id=user,
                   user_name="Olena", is_moderator=moderator or operator, is_operator=operator,
                   **kw)


async def ingest(app, mid, text, hours_ago=1):
    date = datetime.now(UTC) - timedelta(hours=hours_ago)
    return await app.ingest(Post("gur", "telegram", "-1001", str(mid), text, date=date))


async def test_help_lists_every_command_once():
    text = help_text()
    for name in COMMANDS:
        if name != "start":
            assert text.count(f"/{name} ") + text.count(f"/{name}\u00a0") >= 1 or f"/{name} —" in text


async def test_unknown_command_is_answered(app):
    reply = await dispatch(req("frobnicate"), app.services)
    assert reply.error and "Unknown command /frobnicate" in reply.text


async def test_subscribe_is_for_moderators_only(app):
    before = app.store.subscriptions("desk")
    reply = await dispatch(req("subscribe", "entity:putin"), app.services)
    assert reply.error and "Only moderators" in reply.text
    assert app.store.subscriptions("desk") == before
    assert app.store.audit_log() == []


async def test_subscribe_saves_audits_and_dry_runs(app):
    await ingest(app, 1, "Путин провёл совещание в Кремле", hours_ago=2)
    await ingest(app, 2, "Путин и Ким Чен Ын подписали договор", hours_ago=3)
    await ingest(app, 3, "Путин выступил с обращением", hours_ago=30)  # outside 24 h
    reply = await dispatch(req("subscribe", "entity:putin", moderator=True), app.services)
    assert not reply.error
    assert "Subscribed as s1" in reply.text and "2 stored post(s)" in reply.text
    assert len(reply.items) == 2
    [sub] = app.store.subscriptions("desk")
    assert sub.query == "entity:putin" and sub.created_by.startswith("telegram:7")
    entry = app.store.audit_log()[0]
    assert (entry.action, entry.room_id, entry.detail["id"]) == ("subscribe", "desk", "s1")
    # the new subscription is live at once
    outcome = await ingest(app, 4, "Путин прибыл в Пхеньян")
    assert ("desk", "s1") in outcome.matches and outcome.alert_ids


async def test_bad_query_names_position(app):
    reply = await dispatch(req("subscribe", "(kursk AND", moderator=True), app.services)
    assert reply.error and "expected" in reply.text and "11" in reply.text


async def test_pause_resume_unsubscribe(app):
    await dispatch(req("subscribe", "entity:kursk", moderator=True), app.services)
    assert "paused" in (await dispatch(req("pause", "s1", moderator=True), app.services)).text
    outcome = await ingest(app, 5, "Бои в Курской области")
    assert not any(room == "desk" for room, _ in outcome.matches)
    listing = await dispatch(req("subscriptions"), app.services)
    assert "s1 (paused): entity:kursk" in listing.text
    await dispatch(req("resume", "s1", moderator=True), app.services)
    outcome = await ingest(app, 6, "Бои в Курской области продолжаются")
    assert ("desk", "s1") in outcome.matches
    assert "Removed" in (await dispatch(req("unsubscribe", "s1", moderator=True), app.services)).text
    assert (await dispatch(req("unsubscribe", "s1", moderator=True), app.services)).error
    actions = [e.action for e in app.store.audit_log()]
    assert actions[:4] == ["unsubscribe", "resume", "pause", "subscribe"]


async def test_recent_and_search(app):
    await ingest(app, 10, "Северокорейские войска замечены в Курской области")
    await ingest(app, 11, "Курс рубля упал")
    await ingest(app, 12, "쿠르스크에서 북한군 교전")
    reply = await dispatch(req("recent", "kursk 5"), app.services)
    titles = [i.title for i in reply.items]
    assert len(titles) == 2 and not any("рубля" in t for t in titles)
    assert "Kursk" in reply.items[0].meta
    everything = await dispatch(req("recent"), app.services)
    assert len(everything.items) == 3
    one = await dispatch(req("search", "entity:north_korea AND lang:ko 1"), app.services)
    assert [i.title for i in one.items] == ["쿠르스크에서 북한군 교전"]
    assert (await dispatch(req("search"), app.services)).error
    bad = await dispatch(req("search", 'foo:bar'), app.services)
    assert bad.error and "expected" in bad.text


async def test_lang_and_keywords_with_proposals(app):
    reply = await dispatch(req("lang", "de", moderator=True), app.services)
    assert "German" in reply.text and app.store.get_room("desk").language == "de"
    assert (await dispatch(req("lang", "xx1", moderator=True), app.services)).error
    ua = await dispatch(req("lang", "ua", moderator=True), app.services)  # not a code: a hint
    assert ua.error and "did you mean 'uk'" in ua.text
    assert app.store.get_room("desk").language == "de"
    assert (await dispatch(req("lang", "ru"), app.services)).error  # member
    add = await dispatch(req("keywords", "add casualties", moderator=True), app.services)
    assert "Proposed translations" in add.text and "[ru] CASUALTIES" in add.text
    keep = await dispatch(req("keywords", "keep casualties потери втрати", moderator=True),
                          app.services)
    assert "потери, втрати" in keep.text
    [kw] = app.store.keywords("desk")
    assert kw.variants == ("потери", "втрати")
    outcome = await ingest(app, 20, "Большие потери на фронте")
    assert ("desk", "kw:casualties") in outcome.matches
    listing = await dispatch(req("keywords", "list"), app.services)  # anyone may list
    assert "casualties (потери, втрати)" in listing.text
    assert (await dispatch(req("keywords", "remove casualties"), app.services)).error
    assert "Removed" in (await dispatch(req("keywords", "remove casualties", moderator=True),
                                        app.services)).text


async def test_sources_commands_are_for_operators_and_validated(app):
    # a chat admin moderates a room, but the sources are the whole deployment's
    refused = await dispatch(req("sources", "add rybar telegram_public rybar", moderator=True),
                             app.services)
    assert refused.error and "operators" in refused.text and app.store.sources() == []
    added = await dispatch(req("sources", "add rybar telegram_public https://t.me/s/rybar",
                               operator=True), app.services)
    assert "Added source rybar" in added.text
    listing = await dispatch(req("sources", "list"), app.services)  # anyone may list
    assert "rybar [telegram_public] rybar" in listing.text
    for bad in ("add x pigeon y", "add x telegram_public not/a/channel",
                "add x discord 123456789012345678",  # discord is not configured here
                "add x rss https://example.org/feed", "add x telegram_public @"):
        assert (await dispatch(req("sources", bad, operator=True), app.services)).error, bad
    assert [s.id for s in app.store.sources()] == ["rybar"]
    assert "Removed" in (await dispatch(req("sources", "remove rybar", operator=True),
                                        app.services)).text


async def test_test_command_is_a_dry_run(app):
    await dispatch(req("subscribe", "entity:kursk", moderator=True), app.services)
    posts_before = app.store.count_posts()
    reply = await dispatch(req("test", "Северокорейские войска в Курской области"), app.services)
    assert "Russian (ru" in reply.text
    assert "North Korea («Северокорейские»)" in reply.text and "Kursk («Курской»)" in reply.text
    assert "Subscriptions here: s1" in reply.text and "newsroom" in reply.text
    assert app.store.count_posts() == posts_before
    assert (await dispatch(req("test", "x" * 5000), app.services)).error


async def test_status_reports_parts(app):
    await ingest(app, 30, "Северокорейские войска в Курской области")
    reply = await dispatch(req("status"), app.services)
    assert "posts stored" in reply.text and "Outbox: pending 1" in reply.text
    assert "Translator libre: ok" in reply.text
    assert "This room: desk, language en" in reply.text and "(telegram chat -100500)" in reply.text
    elsewhere = await dispatch(req("status", chat="-100999"), app.services)
    assert "This chat (telegram chat -100999) is not a room." in elsewhere.text


async def test_status_says_a_resting_translator_is_down_in_plain_words(tmp_path):
    async with FakeLibreTranslate() as fake:
        config = CONFIG.format(path=tmp_path / "s.db", url=fake.url)
        app = App.open(parse_settings(config.replace("  retries: 0\n", "  retries: 0\n  breaker_failures: 1\n")))
        try:
            fake.always = "500"
            with pytest.raises(TranslationUnavailable):
                await app.translator.translate("Северокорейские войска", "ru", "en")
            reply = await dispatch(req("status"), app.services)
        finally:
            await app.aclose()
    [line] = [ln for ln in reply.text.splitlines() if ln.startswith("Translator libre:")]
    assert re.fullmatch(r"Translator libre: down, retrying at \d\d:\d\d UTC", line)


async def test_keyword_proposals_start_from_the_keywords_own_language(app):
    reply = await dispatch(req("keywords", "add потери", moderator=True), app.services)
    assert "ru:" not in reply.text  # no "translation" of a Russian word into Russian
    assert "en: [en] ПОТЕРИ" in reply.text


async def test_a_new_chat_becomes_a_room_only_for_an_operator(app):
    stranger = await dispatch(req("subscribe", "entity:kursk", moderator=True, chat="-100777"),
                              app.services)
    assert stranger.error and "not a wirewatch room" in stranger.text
    assert app.store.find_room("telegram", "-100777") is None
    made = await dispatch(req("subscribe", "entity:kursk", operator=True, chat="-100777"),
                          app.services)
    assert "Subscribed as s1" in made.text
    assert app.store.find_room("telegram", "-100777").id == "telegram-100777"
    # an operator's private chat (a positive id) never shares a room id with a group
    await dispatch(req("subscribe", "entity:kursk", operator=True, chat="100777"), app.services)
    assert app.store.find_room("telegram", "100777").id == "telegram-p100777"


async def test_changes_in_a_forum_topic_stay_in_that_topic(app):
    assert (await dispatch(req("lang", "uk", moderator=True, thread="42"), app.services)).error
    reply = await dispatch(req("lang", "uk", operator=True, thread="42"), app.services)
    assert "Ukrainian" in reply.text
    assert app.store.get_room("desk").language == "en"  # the group's room is untouched
    topic = app.store.find_room("telegram", "-100500", "42")
    assert topic.id == "telegram-100500-42" and topic.language == "uk"


async def test_keyword_variants_are_phrases_and_survive_a_second_add(app):
    mod = {"moderator": True}
    await dispatch(req("keywords", "add north korea", **mod), app.services)
    kept = await dispatch(req("keywords", "keep north korea: Nordkorea, Corée du Nord", **mod),
                          app.services)
    assert "Nordkorea, Corée du Nord" in kept.text
    assert app.store.keywords("desk")[0].variants == ("Nordkorea", "Corée du Nord")
    await dispatch(req("keywords", 'add "north korea"', **mod), app.services)  # again, quoted
    assert app.store.keywords("desk")[0].variants == ("Nordkorea", "Corée du Nord")
    quiet = await ingest(app, 40, "La météo du jour: soleil à Paris")
    assert not any(room == "desk" for room, _ in quiet.matches)
    loud = await ingest(app, 41, "Les troupes de la Corée du Nord sont arrivées")
    assert ("desk", "kw:north korea") in loud.matches
    assert (await dispatch(req("keywords", "add —", **mod), app.services)).error
    await dispatch(req("keywords", "keep north korea: Nordkorea 🔥, Corée du Nord", **mod),
                   app.services)
    still = await ingest(app, 43, "Nordkorea schickt Truppen")  # an emoji did not break it
    assert ("desk", "kw:north korea") in still.matches
    odd = await dispatch(req("keywords", "add ЧВК «Вагнер»", **mod), app.services)
    assert not odd.error
    assert ("desk", "kw:ЧВК Вагнер") in (await ingest(app, 42, "Бойцы ЧВК Вагнер ушли")).matches


async def test_search_tolerates_odd_queries(app):
    await ingest(app, 50, "Северокорейские войска near kursk today")
    typographic = await dispatch(req("search", "«near kursk today»"), app.services)
    assert len(typographic.items) == 1
    deep = "(" * 60 + "kursk" + ")" * 60
    reply = await dispatch(req("search", deep), app.services)
    assert not reply.error and len(reply.items) == 1
    count = await dispatch(req("recent", "kursk ²"), app.services)
    assert "failed" not in count.text


async def test_lang_queries_detect_stored_posts_on_demand(app):
    outcome = await ingest(app, 60, "Путин провёл совещание с правительством")
    assert app.store.get_post(outcome.post.key).lang is None  # nothing wanted it at ingest
    reply = await dispatch(req("search", "lang:ru AND entity:putin"), app.services)
    assert len(reply.items) == 1
    assert app.store.get_post(outcome.post.key).lang == "ru"  # remembered


async def test_test_command_normalises_like_the_pipeline(app):
    import unicodedata

    text = unicodedata.normalize("NFD", "КНДР в Курской области")
    reply = await dispatch(req("test", text), app.services)
    assert "Kursk" in reply.text


async def test_story_lists_its_sources_with_links(app):
    text = ("Северокорейские военные вступили в бои с ВСУ в Курской области, сообщили в ГУР. "
            "По данным разведки, первые подразделения КНДР понесли потери у села Плехово.")
    date = datetime.now(UTC) - timedelta(hours=1)
    first = await app.ingest(Post("gur", "telegram", "-1001", "1", text, date=date,
                                  url="https://t.me/gur/1"))
    copy = await app.ingest(Post("rbc", "telegram", "-1002", "5", "⚡️" + text + "\n\nПодписаться",
                                 date=date + timedelta(minutes=3), url="https://t.me/rbc/5"))
    assert copy.story.story == first.post.key
    for wanted in (first.post.key, copy.post.key):  # by its id or by any of its posts
        reply = await dispatch(req("story", wanted), app.services)
        assert not reply.error
        assert "2 post(s) from 2 source(s) (gur, rbc)" in reply.text
        assert [i.url for i in reply.items] == ["https://t.me/gur/1", "https://t.me/rbc/5"]
    assert (await dispatch(req("story", "nope:1:2"), app.services)).error
    assert (await dispatch(req("story"), app.services)).error


async def test_recent_shows_one_line_per_story_and_raw_shows_every_post(app):
    text = ("Северокорейские военные вступили в бои с ВСУ в Курской области, сообщили в ГУР. "
            "По данным разведки, первые подразделения КНДР понесли потери у села Плехово.")
    date = datetime.now(UTC) - timedelta(hours=1)
    first = await app.ingest(Post("gur", "telegram", "-1001", "1", text, date=date))
    await app.ingest(Post("rbc", "telegram", "-1002", "5", "⚡️" + text, date=date))
    await ingest(app, 3, "КНДР провела испытание ракеты у Курской дуги", hours_ago=0.5)
    reply = await dispatch(req("recent", "entity:kursk"), app.services)
    assert len(reply.items) == 2 and "1 more report(s) of the same stories folded" in reply.text
    story_line = next(i for i in reply.items if "/story" in i.meta)
    assert f"2 sources · /story {first.post.key}" in story_line.meta
    raw = await dispatch(req("recent", "entity:kursk --raw"), app.services)
    assert len(raw.items) == 3 and "folded" not in raw.text
