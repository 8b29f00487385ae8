import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import Alert, Analysis, Mention, Post
from bot.platforms.discord_render import TOTAL_LIMIT, alert_embed, fit, safe
from bot.platforms.telegram_render import (
    LIMIT,
    alert_html,
    cut,
    plain_fallback,
    reply_html,
    units,
    visible_units,
)
from bot.render import EntityLabel, Renderer, post_link, truncate
from handlers.request import Item, Reply

RENDERER = Renderer({
    "north_korea": EntityLabel("north_korea", "North Korea", "NorthKorea"),
    "kursk": EntityLabel("kursk", "Kursk", "Kursk"),
})


def make_alert(text="КНДР отправила войска в Курскую область", translation=None, **post_kw):
    post = Post(source_id="gur", platform="telegram", chat="-1001234", message_id="42", text=text,
                date=datetime(2024, 11, 4, 18, 0, tzinfo=UTC), **post_kw)
    analysis = Analysis(mentions=(Mention("north_korea", "КНДР", 0, 4), Mention("kursk", "Курскую", 25, 32)),
                        topics=("conflict",), lang="ru", lang_confidence=0.99)
    return Alert(post, "newsroom", "nk-kursk", analysis, translation=translation)


def test_private_channel_link_form():
    assert post_link(make_alert().post) == "https://t.me/c/1234/42"


def test_truncate_cuts_at_word_and_marks():
    out = truncate("alpha beta gamma delta", 14)
    assert out == "alpha beta…" and len(out) <= 14


def test_telegram_html_has_translation_original_entities_hashtags_link():
    html = alert_html(RENDERER.view(make_alert(translation="North Korea sent troops to Kursk")))
    assert html.index("North Korea sent troops") < html.index("<blockquote expandable>")
    assert "Russian (ru)" in html
    assert "North Korea, Kursk" in html and "#NorthKorea #Kursk" in html
    assert "nk-kursk" in html
    assert '<a href="https://t.me/c/1234/42">' in html


def test_telegram_html_escapes_hostile_text():
    hostile = '<script>alert(1)</script> <b>fake</b> <a href="http://evil">x</a> &amp;'
    html = alert_html(RENDERER.view(make_alert(text=hostile)))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="http://evil">' not in html
    assert "&amp;amp;" in html


def test_telegram_html_stays_under_limit_and_keeps_link():
    long = ("Северокорейские войска <b> " * 400) + "\u200b" * 500
    html = alert_html(RENDERER.view(make_alert(text=long, translation="North Korean troops " * 300)))
    assert visible_units(html) <= LIMIT
    assert html.rstrip().endswith("Original post</a>")
    assert "…" in html


def test_reply_html_escapes_and_links():
    html = reply_html(Reply("found <2>", items=(Item("A & B", "body", "https://t.me/x/1", "meta"),)))
    assert "found &lt;2&gt;" in html and '<a href="https://t.me/x/1">A &amp; B</a>' in html


def test_discord_safe_text_never_pings_or_formats():
    text = safe("@everyone @here <@&123> <@456> **bold** [click](http://evil)")
    assert "@everyone" not in text and "@here" not in text
    assert "<@&123>" not in text and "<@456>" not in text
    assert "**bold**" not in text
    assert "[click](http://evil)" not in text


def test_discord_embed_fields_and_limits():
    alert = make_alert(text="Курская область " * 800, translation="Kursk region " * 900)
    embed = alert_embed(RENDERER.view(alert))
    assert len(embed) <= TOTAL_LIMIT
    assert len(embed.description) <= 4096
    names = [f.name for f in embed.fields]
    assert names[:1] == ["Original"] and "Entities" in names and "Subscription" in names
    assert embed.url == "https://t.me/c/1234/42"
    assert isinstance(embed.colour, discord.Colour)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", " ", "😀", "é", "\U0001F1FA\U0001F1E6"]), max_size=60)
       .map("".join), st.integers(0, 70))
def test_telegram_cut_respects_the_utf16_budget(text, budget):
    out = cut(text, budget)
    assert units(out) <= budget
    assert out == text or out.endswith("…") or budget < 1


def test_a_post_ending_in_an_emoji_is_cut_not_collapsed():
    # 4,049 letters and an emoji: one character too many, and the last one counts two units.
    view = RENDERER.view(make_alert(text="a" * 4000))
    fixed = visible_units(alert_html(replace(view, original="x"))) - 1
    for n in range(LIMIT - fixed - 4, LIMIT - fixed + 2):
        html = alert_html(replace(view, original="a" * n + "😀"))
        assert LIMIT - 4 <= visible_units(html) <= LIMIT, n  # not the 246-unit headline
        assert "<blockquote expandable>" in html and html.endswith("Original post</a>")


def test_plain_fallback_writes_the_link_out_and_cuts_the_body():
    link = "https://t.me/c/1234/42"
    short = plain_fallback(alert_html(RENDERER.view(make_alert())))
    assert short.endswith(f"\nOriginal post: {link}") and "<" not in short
    html = alert_html(RENDERER.view(make_alert(text="Курская область " * 400,
                                               translation="Kursk region & <b> " * 400)))
    plain = plain_fallback(html)
    assert units(plain) <= LIMIT
    assert plain.startswith("Kursk region & <b> Kursk")  # entities decoded, not tags
    assert plain.endswith(f"\nOriginal post: {link}") and "nk-kursk" in plain
    assert "…" in plain


def test_discord_fit_keeps_as_much_of_a_long_text_as_fits():
    # Escaping doubles "*": the cut must shrink in proportion, not give up on the whole text.
    for text in ("Курская область " * 800, "*КНДР* _Курск_ |войска| " * 400):
        out = fit(text, 1000)
        assert 900 <= len(out) <= 1000 and out.endswith("…")
    embed = alert_embed(RENDERER.view(make_alert(text="Курская область " * 800)))
    assert len(embed.description) > 3000


# -- terminal-safe text (bot.terminal) ------------------------------------------------------

TERMINAL_HAZARD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                             "\u2066-\u2069\ud800-\udfff]")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2100) | st.sampled_from(
    list("\x1b\x07\x9b\u202e\u2066\u200f\u2028\ud800"))))
def test_terminal_safe_text_has_no_controls_and_keeps_offsets(text):
    from bot.terminal import json_line, safe, safe_line

    cleaned = safe(text)
    assert len(cleaned) == len(text)  # one for one: entity offsets stay valid
    assert not TERMINAL_HAZARD.search(cleaned)
    assert not TERMINAL_HAZARD.search(safe_line(text)) and "\n" not in safe_line(text)
    line = json_line({"t": text})
    assert not TERMINAL_HAZARD.search(line) and "\n" not in line
    assert json.loads(line) == {"t": text}  # JSON output loses nothing


def test_later_sources_of_the_story_are_named_and_linked_on_every_platform():
    from bot.model import SourceRef

    also = (SourceRef("rbc", "https://t.me/rbc/5", "rbc:x:5"), SourceRef("<kyiv>", None, "k:y:1"))
    alert = replace(make_alert(), extra_sources=2, also=also, story_id="gur:-1001234:42")
    view = RENDERER.view(alert)
    html = alert_html(view)
    assert '+2 sources: <a href="https://t.me/rbc/5">rbc</a>, &lt;kyiv&gt;' in html
    embed = alert_embed(view)
    source = next(f.value for f in embed.fields if f.name == "Source")
    assert source == "gur (+2 sources: rbc, <kyiv>)"
    many = tuple(SourceRef(f"s{i}", None, f"s{i}:c:1") for i in range(8))
    assert RENDERER.view(replace(alert, also=many)).also_names() == "s0, s1, s2, s3, s4 +3 more"
