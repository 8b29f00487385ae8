"""This module contains end-to-end tests of wirewatch on Discord: `bot.service.run` with the
real discord.py client against the loopback fake Discord, the real store and translation
through the loopback LibreTranslate (whose "translation" is "[en] " + the text upper-cased).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

import handlers.discord_binding as binding
from bot.bootstrap import App
from bot.errors import ConfigError
from bot.model import Post
from bot.platforms.discord_render import TOPIC_COLOURS
from bot.service import run
from handlers import COMMANDS
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.integration.discord_helpers import (
    EDITOR_ID,
    FORUM_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MANAGER_ID,
    NEWS_ID,
    OTHER_ID,
    PINGABLE_ROLE,
    REPORTER_ID,
    ROOM_ID,
    SOURCE_ID,
    SOURCE_THREAD_ID,
    THREAD_ID,
    TOKEN_ENV,
    dispatch_autocomplete,
    eventually,
    fake_discord,
    make_settings,
    unescape,
    wirewatch,
)

NK_KURSK = "Северокорейские войска в Курской области"
NK_KURSK_2 = "КНДР перебросила ещё войска под Курск"
PUTIN = "Путин провёл совещание в Кремле"
NOISE = "Погода в Киеве сегодня солнечная"
EPHEMERAL = 64


@pytest.fixture
async def libre() -> AsyncIterator[FakeLibreTranslate]:
    async with FakeLibreTranslate() as server:
        yield server


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with fake_discord() as server:
        monkeypatch.setenv(TOKEN_ENV, server.token)
        yield server


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "wirewatch.db")


def room_messages(fake: FakeDiscord, channel_id: int = ROOM_ID) -> list:
    return [m for m in fake.messages if m.channel_id == channel_id]


def field(embed: dict, name: str) -> str:
    return unescape(next(f["value"] for f in embed["fields"] if f["name"] == name))


def embed_length(embed: dict) -> int:
    """What Discord counts against the 6,000 characters of a message's embeds."""
    parts = [embed.get("title"), embed.get("description"), embed.get("footer", {}).get("text"),
             embed.get("author", {}).get("name")]
    parts += [x for f in embed.get("fields", []) for x in (f["name"], f["value"])]
    return sum(len(p) for p in parts if p)


def link(channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{GUILD_ID}/{channel_id}/{message_id}"


async def responses(fake: FakeDiscord, interaction_id: int, count: int = 1) -> list:
    def mine() -> list:
        found = [r for r in fake.interaction_responses if r.interaction_id == interaction_id]
        return found if len(found) >= count else []

    return await fake.wait_for(mine, 5)


# -- start-up ------------------------------------------------------------------------------


async def test_start_syncs_every_command_to_the_guild_with_query_options(fake, db) -> None:
    async with wirewatch(make_settings(fake, db, None), fake):
        [sync] = fake.command_syncs
        assert sync.guild_id == GUILD_ID
        assert sorted(sync.names) == sorted(COMMANDS)
        commands = {c["name"]: c for c in sync.commands}
        options = {name: {o["name"]: o for o in c.get("options", [])} for name, c in commands.items()}
        assert options["recent"]["query"]["required"] is False
        assert options["recent"]["limit"]["type"] == 4 and options["recent"]["limit"]["max_value"] == 20
        assert options["search"]["query"]["required"] is True
        for name in ("recent", "search", "subscribe", "unsubscribe", "pause", "resume", "lang"):
            assert options[name]["query"]["autocomplete"] is True, name
        assert options["status"] == {} and options["help"] == {}
        assert all(c["dm_permission"] is False for c in sync.commands)
        assert fake.identify is not None and fake.identify["intents"] & (1 << 15)  # message content


async def test_without_a_guild_the_commands_are_synced_globally(fake, db) -> None:
    async with wirewatch(make_settings(fake, db, None, guild=False), fake):
        [sync] = fake.command_syncs
        assert sync.guild_id is None and "recent" in sync.names
        interaction_id = await fake.dispatch_interaction("help", channel_id=ROOM_ID)
        [answer] = await responses(fake, interaction_id)
        assert "/subscribe" in answer.data["content"]


async def test_a_missing_or_wrong_token_stops_run_with_a_config_error(fake, db, monkeypatch) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ConfigError, match=f"set the environment variable {TOKEN_ENV}"):
        await run(make_settings(fake, db, None))
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    with pytest.raises(ConfigError, match=f"{TOKEN_ENV} was refused by Discord"):
        await run(make_settings(fake, db, None))


# -- sources in, alerts out ----------------------------------------------------------------


async def test_a_source_message_becomes_one_embed_alert_that_pings_nobody(fake, libre, db) -> None:
    text = (f"{NK_KURSK}\nПодробности позже @everyone @here <@&{PINGABLE_ROLE}> <@{REPORTER_ID}> "
            "[жми](https://evil.example/x)")
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        message_id = await fake.dispatch_message(SOURCE_ID, text, author_id=REPORTER_ID)
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)
        await eventually(lambda: ww.sent_count() == 1, what="the alert is marked sent")

        assert sent.payload["allowed_mentions"] == {"parse": []}
        [embed] = sent.embeds
        assert unescape(embed["title"]) == f"[en] {NK_KURSK.upper()}"
        assert unescape(embed["description"]).startswith(f"[en] {NK_KURSK.upper()}\nПОДРОБНОСТИ")
        assert field(embed, "Original") == text
        assert field(embed, "Language") == "Russian (ru)"
        assert field(embed, "Entities") == "North Korea, Kursk"
        assert field(embed, "Subscription") == "nk-kursk"
        assert field(embed, "Source") == "OSINT desk"
        assert embed["url"] == field(embed, "Link") == link(SOURCE_ID, message_id)
        assert embed["timestamp"] and embed["color"] == TOPIC_COLOURS["conflict"]
        # Whatever the client renders, nothing in the payload can ping or disguise a link.
        raw = json.dumps(sent.payload, ensure_ascii=False).lower()
        assert "@everyone" not in raw and "@here" not in raw
        assert f"<@&{PINGABLE_ROLE}>" not in raw and f"<@{REPORTER_ID}>" not in raw
        assert "](https://evil" not in raw
        assert len(fake.messages) == 1 and ww.store.outbox_counts()["pending"] == 0


async def test_a_long_post_fits_discords_embed_limits(fake, libre, db) -> None:
    text = NK_KURSK + "\n" + " ".join(["*войска* _Курск_ |КНДР|"] * 400)  # escaping lengthens it
    async with wirewatch(make_settings(fake, db, libre.url), fake):
        await fake.dispatch_message(SOURCE_ID, text, author_id=REPORTER_ID)
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)

    [embed] = sent.embeds
    assert len(embed["description"]) <= 4096 and embed_length(embed) <= 6000
    original = field(embed, "Original")
    assert len(original) < len(text) and original.endswith("…")
    assert text.startswith(original[:-1].rstrip())  # cut cleanly: no escape split in half
    assert field(embed, "Link")  # the link survives the shrinking


async def test_noise_and_unwatched_channels_stay_silent(fake, libre, db) -> None:
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        noise_id = await fake.dispatch_message(SOURCE_ID, NOISE, author_id=REPORTER_ID)
        elsewhere_id = await fake.dispatch_message(OTHER_ID, NK_KURSK, author_id=REPORTER_ID)
        match_id = await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)

        assert sent.embeds[0]["url"] == link(SOURCE_ID, match_id)
        # Messages are handled in order: the noise before it was stored, and did not alert.
        assert ww.store.get_post(f"osint:{SOURCE_ID}:{noise_id}") is not None
        assert ww.store.get_post(f"osint:{OTHER_ID}:{elsewhere_id}") is None
        assert ww.store.count_posts() == 2 and len(fake.messages) == 1


async def test_text_inside_a_rich_embed_is_ingested_but_link_previews_are_not(fake, libre, db) -> None:
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        preview_id = await fake.dispatch_message(
            SOURCE_ID, "", embeds=[{"type": "article", "title": NK_KURSK}], author_id=REPORTER_ID)
        feed_id = await fake.dispatch_message(
            SOURCE_ID, "", author_id=REPORTER_ID, bot=True,
            embeds=[{"title": "Срочно", "description": NK_KURSK,
                     "fields": [{"name": "Где", "value": "Курская область"}]}])
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)

        assert sent.embeds[0]["url"] == link(SOURCE_ID, feed_id)
        assert field(sent.embeds[0], "Original") == f"Срочно\n{NK_KURSK}\nГде: Курская область"
        assert ww.store.get_post(f"osint:{SOURCE_ID}:{preview_id}") is None


async def test_a_thread_of_a_watched_channel_is_watched_too(fake, libre, db) -> None:
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        message_id = await fake.dispatch_message(SOURCE_THREAD_ID, NK_KURSK, author_id=REPORTER_ID)
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)

        assert sent.embeds[0]["url"] == link(SOURCE_THREAD_ID, message_id)
        assert ww.store.get_post(f"osint:{SOURCE_THREAD_ID}:{message_id}") is not None


async def test_a_crosspost_is_ingested_with_its_origin(fake, libre, db) -> None:
    origin = (810_000_000_000_000_900, 4001, 5001)
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        message_id = await fake.dispatch_message(
            NEWS_ID, NK_KURSK, crosspost=True, source=origin, author_name="Kyiv Wire #announcements")
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)

        where = "Kyiv Wire #announcements https://discord.com/channels/810000000000000900/4001/5001"
        stored = ww.store.get_post(f"wire:{NEWS_ID}:{message_id}")
        assert stored is not None and stored.post.origin == where
        assert field(sent.embeds[0], "Source") == f"wire (via {where})"
        assert sent.embeds[0]["url"] == link(NEWS_ID, message_id)


async def test_an_edit_that_newly_matches_alerts_once_and_never_twice(fake, libre, db) -> None:
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        message_id = await fake.dispatch_message(SOURCE_ID, NOISE, author_id=REPORTER_ID)
        key = f"osint:{SOURCE_ID}:{message_id}"
        await eventually(lambda: ww.store.get_post(key), what="the first version is stored")

        await fake.dispatch_message_update(message_id, content=NK_KURSK)
        [first] = await fake.wait_for(lambda: room_messages(fake), 5)
        assert first.embeds[0]["url"] == link(SOURCE_ID, message_id)
        assert "edited" in first.embeds[0]["footer"]["text"]

        await fake.dispatch_message_update(message_id, content=NK_KURSK_2)
        # A link preview arriving later changes no text and is no edit.
        await fake.dispatch_message_update(
            message_id, embeds=[{"type": "article", "title": "x"}], edited=False)
        sentinel_id = await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        sent = await fake.wait_for(lambda: len(room_messages(fake)) == 2 and room_messages(fake))

        assert sent[1].embeds[0]["url"] == link(SOURCE_ID, sentinel_id)
        assert ww.store.get_post(key).post.text == NK_KURSK_2  # the stored text follows edits


async def test_the_bot_ignores_its_own_echoed_messages(fake, libre, db) -> None:
    # The room is also a source: without the check every alert would be ingested again.
    rooms = [{"id": "loop", "platform": "discord", "channel": SOURCE_ID,
              "subscriptions": [{"id": "nk-kursk", "query": "entity:north_korea AND entity:kursk"}]}]
    async with wirewatch(make_settings(fake, db, libre.url, rooms=rooms), fake) as ww:
        await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        [alert] = await fake.wait_for(lambda: room_messages(fake, SOURCE_ID), 5)
        interaction_id = await fake.dispatch_interaction("recent", channel_id=SOURCE_ID)
        await responses(fake, interaction_id)  # a public reply: echoed too
        await fake.dispatch_message(SOURCE_ID, NK_KURSK_2, author_id=REPORTER_ID)
        await fake.wait_for(lambda: len(room_messages(fake, SOURCE_ID)) == 2)

        assert ww.store.count_posts() == 2
        assert ww.store.get_post(f"osint:{SOURCE_ID}:{alert.message_id}") is None


# -- delivery ------------------------------------------------------------------------------


async def test_a_rate_limited_send_is_survived_and_delivered_once(fake, libre, db) -> None:
    fake.fail_next("POST", f"/channels/{ROOM_ID}/messages", status=429, retry_after=0.3)
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        await eventually(lambda: ww.sent_count() == 1, what="the alert is marked sent")

        posts = [r.status for r in fake.requests
                 if r.method == "POST" and r.path == f"/channels/{ROOM_ID}/messages"]
        assert posts == [429, 200] and len(room_messages(fake)) == 1


async def test_a_server_error_is_retried_across_a_restart_and_delivered_once(fake, libre, db) -> None:
    settings = make_settings(fake, db, libre.url)
    path = f"/channels/{ROOM_ID}/messages"
    fake.fail_next("POST", path, status=503)  # discord.py gives up on a 503 at once
    async with wirewatch(settings, fake) as ww:
        await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        await fake.wait_for(lambda: any(r.path == path for r in fake.requests), 5)
        # Seen failing, it goes back to pending (from sending) with a retry time.
        await eventually(lambda: ww.store.outbox_counts()["pending"] == 1, what="a retry is due")
    assert fake.messages == []

    async with wirewatch(settings, fake) as ww:  # the next run delivers it, once
        await eventually(lambda: ww.sent_count() == 1, "the retried alert is marked sent", 8)
        sentinel_id = await fake.dispatch_message(SOURCE_ID, NK_KURSK_2, author_id=REPORTER_ID)
        await fake.wait_for(lambda: len(room_messages(fake)) == 2, 5)

    attempts = [r for r in fake.requests if r.method == "POST" and r.path == path]
    assert [r.status for r in attempts] == [503, 200, 200]
    # Both tries of the alert carried one nonce, so Discord itself drops a duplicate.
    assert attempts[0].json["nonce"] == attempts[1].json["nonce"] != attempts[2].json["nonce"]
    assert room_messages(fake)[1].embeds[0]["url"] == link(SOURCE_ID, sentinel_id)


async def test_a_delivered_alert_is_not_sent_again_after_a_restart(fake, libre, db) -> None:
    settings = make_settings(fake, db, libre.url)
    async with wirewatch(settings, fake) as ww:
        message_id = await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        await eventually(lambda: ww.sent_count() == 1)
    async with wirewatch(settings, fake) as ww:
        await fake.dispatch_message_update(message_id, content=NK_KURSK)  # same text again
        await fake.dispatch_message(SOURCE_ID, NK_KURSK_2, author_id=REPORTER_ID)
        await eventually(lambda: ww.sent_count() == 2)
    assert len(room_messages(fake)) == 2


async def test_a_room_the_bot_cannot_see_fails_for_good(fake, libre, db) -> None:
    rooms = [{"id": "gone", "platform": "discord", "channel": 9999,
              "subscriptions": [{"id": "nk-kursk", "query": "entity:north_korea AND entity:kursk"}]}]
    async with wirewatch(make_settings(fake, db, libre.url, rooms=rooms), fake) as ww:
        await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        await eventually(lambda: ww.store.outbox_counts()["failed"] == 1)
        assert fake.messages == []


async def test_a_late_translation_is_edited_into_the_alert(fake, db) -> None:
    async with FakeLibreTranslate(latency=0.3) as slow:
        async with wirewatch(make_settings(fake, db, slow.url, alert_wait=0.05), fake):
            await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
            [sent] = await fake.wait_for(lambda: room_messages(fake), 5)
            assert "translation unavailable" in field(sent.embeds[0], "Note")
            [edit] = await fake.wait_for(lambda: fake.message_edits, 5)

    assert (edit.channel_id, edit.message_id) == (ROOM_ID, sent.message_id)
    assert unescape(edit.payload["embeds"][0]["title"]) == f"[en] {NK_KURSK.upper()}"
    assert edit.payload["allowed_mentions"] == {"parse": []}


async def test_a_forum_room_gets_one_post_per_story_titled_by_the_story(fake, libre, db) -> None:
    rooms = [{"id": "stories", "platform": "discord", "channel": FORUM_ID,
              "subscriptions": [{"id": "nk-kursk", "query": "entity:north_korea AND entity:kursk"}]}]
    async with wirewatch(make_settings(fake, db, libre.url, rooms=rooms), fake) as ww:
        await fake.dispatch_message(SOURCE_ID, f"{NK_KURSK}\nподробности", author_id=REPORTER_ID)
        await fake.dispatch_message(SOURCE_ID, NK_KURSK_2, author_id=REPORTER_ID)
        await eventually(lambda: ww.sent_count() == 2)

    assert fake.messages == []  # a forum takes posts, not messages
    titles = [t.payload["name"] for t in fake.threads]
    assert titles == [f"[en] {NK_KURSK.upper()}", f"[en] {NK_KURSK_2.upper()}"]
    for thread in fake.threads:
        assert thread.parent_id == FORUM_ID
        assert thread.message["allowed_mentions"] == {"parse": []}
        assert field(thread.message["embeds"][0], "Subscription") == "nk-kursk"


async def test_a_thread_room_gets_its_alerts_and_answers_commands_inside_the_thread(
        fake, libre, db) -> None:
    rooms = [{"id": "kursk-desk", "platform": "discord", "channel": ROOM_ID, "thread": THREAD_ID,
              "subscriptions": [{"id": "nk-kursk", "query": "entity:north_korea AND entity:kursk"}]}]
    async with wirewatch(make_settings(fake, db, libre.url, rooms=rooms), fake):
        await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        [sent] = await fake.wait_for(lambda: fake.messages, 5)
        assert sent.channel_id == THREAD_ID

        interaction_id = await fake.dispatch_interaction("subscriptions", channel_id=THREAD_ID)
        [answer] = await responses(fake, interaction_id)
        assert "kursk-desk" in unescape(answer.data["content"])


# -- slash commands ------------------------------------------------------------------------


async def test_every_command_of_the_table_answers_once(fake, db) -> None:
    queries = {"search": "entity:kursk", "subscribe": "entity:putin", "unsubscribe": "s1",
               "pause": "nk-kursk", "resume": "nk-kursk", "keywords": "list", "sources": "list",
               "lang": "en", "test": NK_KURSK, "story": "osint:1:2"}
    async with wirewatch(make_settings(fake, db, None), fake):
        answers = {}
        for name in COMMANDS:  # in table order: subscribe comes before unsubscribe
            options = {"query": queries[name]} if name in queries else None
            interaction_id = await fake.dispatch_interaction(
                name, options, user_id=MANAGER_ID, channel_id=ROOM_ID)
            [answers[name]] = await responses(fake, interaction_id)

    for name, answer in answers.items():
        assert (answer.kind, answer.type) == ("callback", 4), name
        text = unescape(answer.data["content"])
        assert text and "failed on our side" not in text and "Usage" not in text, (name, text)
    assert "North Korea" in unescape(answers["test"].data["content"])
    assert "Subscription nk-kursk paused" in unescape(answers["pause"].data["content"])


async def test_recent_lists_stored_posts_with_links(fake, libre, db) -> None:
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        match_id = await fake.dispatch_message(SOURCE_ID, NK_KURSK, author_id=REPORTER_ID)
        await fake.dispatch_message(SOURCE_ID, NOISE, author_id=REPORTER_ID)
        await eventually(lambda: ww.store.count_posts() == 2)

        interaction_id = await fake.dispatch_interaction(
            "recent", {"query": "entity:kursk", "limit": 5}, user_id=REPORTER_ID, channel_id=ROOM_ID)
        [answer] = await responses(fake, interaction_id)

    assert answer.type == 4 and not (answer.data.get("flags") or 0) & EPHEMERAL
    assert unescape(answer.data["content"]) == "1 most recent post(s) for entity:kursk:"
    [item] = answer.data["embeds"]
    assert item["url"] == link(SOURCE_ID, match_id) and unescape(item["title"]) == NK_KURSK
    assert answer.data["allowed_mentions"] == {"parse": []}


async def test_subscribe_is_for_moderators_and_is_audited(fake, libre, db) -> None:
    async with wirewatch(make_settings(fake, db, libre.url), fake) as ww:
        refused_id = await fake.dispatch_interaction(
            "subscribe", {"query": "entity:putin"}, user_id=REPORTER_ID, channel_id=ROOM_ID)
        [refused] = await responses(fake, refused_id)
        assert refused.data["flags"] & EPHEMERAL and "Only moderators" in refused.data["content"]
        assert [s.id for s in ww.store.subscriptions("desk")] == ["nk-kursk"]
        assert not [e for e in ww.store.audit_log() if e.action == "subscribe"]

        allowed_id = await fake.dispatch_interaction(
            "subscribe", {"query": "entity:putin"}, user_id=MANAGER_ID, channel_id=ROOM_ID)
        [allowed] = await responses(fake, allowed_id)
        assert "Subscribed as s1: entity:putin" in unescape(allowed.data["content"])
        assert not (allowed.data.get("flags") or 0) & EPHEMERAL
        [entry] = [e for e in ww.store.audit_log() if e.action == "subscribe"]
        assert entry.actor == f"discord:{MANAGER_ID} (manager)" and entry.room_id == "desk"

        # The new subscription is live at once.
        await fake.dispatch_message(SOURCE_ID, PUTIN, author_id=REPORTER_ID)
        [sent] = await fake.wait_for(lambda: room_messages(fake), 5)
        assert field(sent.embeds[0], "Subscription") == "s1"

        # The configured role is enough, without Manage Server.
        removed_id = await fake.dispatch_interaction(
            "unsubscribe", {"query": "s1"}, user_id=EDITOR_ID, channel_id=ROOM_ID)
        [removed] = await responses(fake, removed_id)
        assert "Removed subscription s1" in unescape(removed.data["content"])
        assert [s.id for s in ww.store.subscriptions("desk")] == ["nk-kursk"]


async def test_autocomplete_offers_entities_topics_and_this_rooms_subscriptions(fake, db) -> None:
    async with wirewatch(make_settings(fake, db, None), fake):
        async def choices(name: str, current: str, channel_id: int = ROOM_ID) -> list[dict]:
            interaction_id = await dispatch_autocomplete(
                fake, name, {"query": current}, "query", user_id=REPORTER_ID, channel_id=channel_id)
            [answer] = await responses(fake, interaction_id)
            assert answer.kind == "callback" and answer.type == 8
            return answer.data["choices"]

        entity = await choices("subscribe", "entity:north_korea AND kur")
        assert entity[0]["value"] == "entity:north_korea AND entity:kursk"
        by_name = [c["value"] for c in await choices("search", "(Putin")]
        assert "(entity:putin" in by_name
        topics = [c["value"] for c in await choices("recent", "topic:co")]
        assert topics == ["topic:conflict"]
        subscriptions = await choices("unsubscribe", "")
        assert [c["value"] for c in subscriptions] == ["nk-kursk"]
        assert "entity:north_korea AND entity:kursk" in subscriptions[0]["name"]
        assert await choices("unsubscribe", "", channel_id=OTHER_ID) == []  # not a room
        assert [c["value"] for c in await choices("lang", "ukr")] == ["uk"]


async def test_a_slow_command_is_deferred_then_filled_in(fake, db, monkeypatch) -> None:
    monkeypatch.setattr(binding, "ANSWER_WITHIN", 0.1)
    async with FakeLibreTranslate(latency=0.3) as slow:  # /keywords add asks for translations
        async with wirewatch(make_settings(fake, db, slow.url), fake) as ww:
            interaction_id = await fake.dispatch_interaction(
                "keywords", {"query": "add Курск"}, user_id=MANAGER_ID, channel_id=ROOM_ID)
            deferred, filled = await responses(fake, interaction_id, 2)
            assert [k.keyword for k in ww.store.keywords("desk")] == ["Курск"]

    assert (deferred.kind, deferred.type) == ("callback", 5)
    assert filled.kind == "edit_original"
    assert unescape(filled.data["content"]).startswith("Added keyword 'Курск'. Proposed translations:")
    assert filled.data["allowed_mentions"] == {"parse": []}


async def test_a_deferred_refusal_still_reaches_only_the_asker(fake, db, monkeypatch) -> None:
    monkeypatch.setattr(binding, "ANSWER_WITHIN", 0.0)  # defer everything
    async with wirewatch(make_settings(fake, db, None), fake) as ww:
        interaction_id = await fake.dispatch_interaction(
            "lang", {"query": "de"}, user_id=REPORTER_ID, channel_id=ROOM_ID)
        deferred, deleted, refusal = await responses(fake, interaction_id, 3)
        assert ww.store.get_room("desk").language == "en"

    assert (deferred.type, deleted.kind, refusal.kind) == (5, "delete", "followup")
    assert refusal.data["flags"] & EPHEMERAL and "Only moderators" in refusal.data["content"]


async def test_manage_server_permission_makes_a_moderator(fake, db) -> None:
    async with wirewatch(make_settings(fake, db, None), fake) as ww:
        interaction_id = await fake.dispatch_interaction(
            "lang", {"query": "uk"}, user_id=REPORTER_ID, channel_id=ROOM_ID,
            permissions=MANAGE_GUILD | (1 << 11))
        [answer] = await responses(fake, interaction_id)
        assert not (answer.data.get("flags") or 0) & EPHEMERAL
        assert ww.store.get_room("desk").language == "uk"


async def test_a_relay_process_sends_over_rest_without_the_gateway(fake, db) -> None:
    """`--role relay`: alerts an ingest process queued go out by REST; no gateway session,
    no command sync (the ingest process owns both)."""
    settings = make_settings(fake, db, None)
    ingest_side = App.open(settings)  # what an ingest process does: store and enqueue
    post = Post("osint", "discord", str(SOURCE_ID), "1", NK_KURSK)
    assert ingest_side.pipeline.process(post).alert_ids
    ingest_side.store.close()
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop, role="relay"))
    try:
        await eventually(lambda: room_messages(fake), "the alert, sent by the relay", 10)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
    assert len(room_messages(fake)) == 1
    assert fake.gateway_connections == [] and fake.identify is None
    assert fake.command_syncs == []
    assert not any("gateway" in r.path for r in fake.requests)
