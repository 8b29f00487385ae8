"""The webhook platform against a loopback receiver, through the relay."""

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from bot.bootstrap import build_engine
from bot.errors import DeliveryError
from bot.model import Alert, Analysis, Mention, Post, Room
from bot.platforms.webhook import CONTENT_LIMIT, TEXT_LIMIT, WebhookPlatform, alert_payload
from bot.relay import Relay
from bot.render import AlertView, EntityLabel
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore
from tests.fakes.loopback import serve


@pytest.fixture
async def receiver():
    got, answers = [], []

    async def handler(request):
        got.append(await request.json())
        status = answers.pop(0) if answers else 204
        headers = {"Retry-After": "0.05"} if status == 429 else {}
        return web.Response(status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner, base = await serve(app)
    yield f"{base}/hook", got, answers
    await runner.cleanup()


async def test_alert_posted_as_json_that_pings_nobody(receiver, tmp_path, monkeypatch):
    url, got, answers = receiver
    monkeypatch.setenv("DESK_HOOK", url)
    store = SQLiteStore(tmp_path / "w.db")
    store.upsert_room(Room("desk", "webhook", "DESK_HOOK", None, "en"))
    text = "@everyone North Korean troops in Kursk <@&42> **now**"
    post = Post("osint", "discord", "1", "9", text, url="https://discord.com/channels/1/1/9")
    analysis = Analysis(mentions=(Mention("kursk", "Kursk", 33, 38),), lang="en", lang_confidence=1)
    store.enqueue_alert(Alert(post, "desk", "nk", analysis))
    renderer = build_engine(Settings()).renderer
    platform = WebhookPlatform(renderer)
    answers.append(429)  # the first try is rate-limited, then accepted
    relay = Relay(store, {"webhook": platform}, None, worker="w")
    await relay.deliver_due()
    assert store.outbox_counts()["pending"] == 1
    await asyncio.sleep(0.1)
    await relay.deliver_due()
    await platform.stop()
    assert store.outbox_counts()["sent"] == 1
    body = got[-1]
    assert body["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in body["content"] and "<@&42>" not in body["content"]
    assert body["entities"] == [{"id": "kursk", "name": "Kursk"}]
    assert body["link"] == "https://discord.com/channels/1/1/9" and body["subscription"] == "nk"
    assert body["original"] == text  # structured fields keep the exact text for machines
    store.close()


async def test_missing_url_env_is_retried_not_lost(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_HOOK", raising=False)
    store = SQLiteStore(tmp_path / "w.db")
    store.upsert_room(Room("desk", "webhook", "NOPE_HOOK", None, "en"))
    store.enqueue_alert(Alert(Post("s", "rss", "x", "1", "text"), "desk", "nk", Analysis(lang="en")))
    platform = WebhookPlatform(build_engine(Settings()).renderer)
    await Relay(store, {"webhook": platform}, None, worker="w").deliver_due()
    await platform.stop()
    [item] = store.alerts_for_room("desk")
    assert item.state == "pending" and "NOPE_HOOK" in item.last_error
    store.close()


def view(original: str, translation: str | None = None) -> AlertView:
    return AlertView(room_id="desk", source="gur", link="https://t.me/gur/123?a=1&b=2", lang="ru",
                     entities=(EntityLabel("kursk", "Kursk", "Kursk"),), topics=(),
                     subscription="s1", original=original, translation=translation, note=None,
                     date=datetime(2024, 11, 4, tzinfo=UTC))


def test_slack_text_cannot_ping_or_disguise_a_link() -> None:
    body = alert_payload(view("Срочно <!channel> <!everyone> <@U024BE7LH> "
                              "<https://evil.example|t.me/gur/123> & more"))
    assert body["text"].startswith("Срочно &lt;!channel&gt; &lt;!everyone&gt; &lt;@U024BE7LH&gt; "
                                   "&lt;https://evil.example|t.me/gur/123&gt; &amp; more\n")
    assert "<" not in body["text"] and ">" not in body["text"]
    assert body["text"].endswith("Kursk · s1 · gur · https://t.me/gur/123?a=1&amp;b=2")


@pytest.mark.parametrize("escaping", ["&<>", "*_~|"])  # Slack and Discord lengthen these
def test_a_long_post_keeps_its_link_and_facts(escaping: str) -> None:
    original = f"Курская область {escaping} " * 400
    body = alert_payload(view(original, translation=f"Kursk region {escaping} " * 400))
    text, content = body["text"], body["content"]
    assert 1500 < len(text) <= TEXT_LIMIT and 1500 < len(content) <= CONTENT_LIMIT
    assert text.endswith("\nKursk · s1 · gur · https://t.me/gur/123?a=1&amp;b=2")
    assert content.endswith("\nKursk · s1 · gur · https://t.me/gur/123?a=1&b=2")
    for message in (text, content):
        assert message.startswith("Kursk region") and "…\n" in message  # the body gave way
        assert not message.split("…")[0].endswith("\\")  # no escape cut in half
    assert body["original"] == original  # the structured fields stay whole


def test_webhook_platform_needs_neither_discord_nor_its_renderer() -> None:
    # A webhook-only deployment must not load discord.py (nor the Discord renderer) at all.
    code = ("import sys, bot.platforms.webhook; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'telegram') "
            "or m.endswith('_render')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("header", "low", "high"), [
    ("http-date", 110.0, 120.0),  # an HTTP date two minutes ahead
    ("30", 30.0, 30.0),
    ("soon", 5.0, 5.0),  # garbage: our default wait
])
async def test_rate_limit_retry_after_in_seconds_or_as_a_date(monkeypatch, header, low, high):
    if header == "http-date":
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)

    async def handler(request):
        return web.Response(status=429, headers={"Retry-After": header})

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner, base = await serve(app)
    monkeypatch.setenv("SLOW_HOOK", f"{base}/hook")
    platform = WebhookPlatform(build_engine(Settings()).renderer)
    try:
        with pytest.raises(DeliveryError) as err:
            await platform.send(Room("desk", "webhook", "SLOW_HOOK", None, "en"),
                                Alert(Post("s", "rss", "x", "1", "text"), "desk", "nk",
                                      Analysis(lang="en")))
        assert low <= err.value.retry_after <= high
    finally:
        await platform.stop()
        await runner.cleanup()
