"""Relayed text stays text on every platform: no Discord markdown or mentions, no Slack
mentions or disguised links, no terminal escape sequences."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from bot.model import Alert, Analysis, Post, Room
from bot.platforms.console import ConsolePlatform
from bot.platforms.textsafe import discord_safe as safe
from bot.platforms.textsafe import slack_escape
from bot.render import Renderer

# -- a model of what Discord renders --------------------------------------------------------

INLINE_MARKDOWN = set("\\*_~|`[]")  # bold, italics, underline, strike, spoiler, code, links
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# simple-markdown's autolink: inside it Discord formats nothing.
DISCORD_URL = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")
MENTION = re.compile(r"<(?:[@#/:]|[at]:|id:)", re.IGNORECASE)  # users, roles, channels,
# slash commands, custom emoji, timestamps, guild navigation
MASS_MENTION = re.compile(r"[@\uff20](?:everyone|here)", re.IGNORECASE)


def discord_problems(out: str) -> list[str]:
    """What in `out` Discord would turn into formatting, a link or a mention.

    Every markdown character must be escaped ("\\" + punctuation is shown as that character),
    except "_" inside an autolinked URL; block markdown ("#", "-#", ">", "-", "+", "1.") must
    not start a line, even after indentation."""
    found = []
    if MASS_MENTION.search(out):
        found.append("@everyone/@here")
    if mention := MENTION.search(out):
        found.append(f"mention syntax {mention[0]!r}")
    if "](" in out:
        found.append("masked link")
    i, line_start, url_end = 0, True, 0
    while i < len(out):
        ch = out[i]
        if i >= url_end and (url := DISCORD_URL.match(out, i)):
            url_end = url.end()
        if line_start and not ch.isspace():
            line_start = False
            if ch in "#>-+" or re.match(r"\d+[.)]", out[i:]):
                found.append(f"block markdown {out[i:i + 3]!r} at {i}")
        if ch == "\\":
            nxt = out[i + 1:i + 2]
            if not nxt or nxt.isalnum() or nxt.isspace():
                found.append(f"stray backslash at {i}")  # shown as is: the text is not literal
            i += 2
            continue
        if ch in INLINE_MARKDOWN and not (ch == "_" and i < url_end):
            found.append(f"unescaped {ch!r} at {i}")
        if ch in LINE_BREAKS:
            line_start = True
        i += 1
    return found


def discord_shows(out: str) -> str:
    """The text a reader sees: escapes and the zero-width spaces that defuse mentions gone."""
    return re.sub(r"\\(.)", r"\1", out.replace("\u200b", ""), flags=re.DOTALL)


PIECES = list("*_~|`[]()<>#-+.:@/\\ \n\t\r1aZ!\u2028") + [
    "everyone", "HERE", "\uff20", "https://", "http://x.com/a_b", "t:", "a:", "id:", "||", "**",
    "```", "-# ", "> ", ">>> ", "1. ", "</ban:1>", "<t:1700000000:R>", "<:pepe:1>", "[x](y)",
]
TEXTS = st.one_of(st.text(), st.lists(st.sampled_from(PIECES), max_size=40).map("".join))


@settings(max_examples=400, deadline=None)
@given(TEXTS)
@example("[Breaking](news) ||spoiler @here|| **BOLD** `code` ~~strike~~ __under__ (end)")
@example("[Источник](https://t.me/x) ||СПОЙЛЕР|| **жирный** ~~зачёркнуто~~ ``` (конец)")
@example("</ban:123456789012345678> <t:1700000000:R> <:pepe:1> <a:dance:2> <id:customize>")
@example("# h1\n## h2\n-# sub\n> quote\n>>> all\n* item\n- item\n+ item\n1. first\n  2) second")
@example("_https://t.me/kursk_frontline/1_ **https://a.com/x** ＠Everyone @HeRe")
def test_discord_escaped_text_never_formats_links_or_mentions(text: str) -> None:
    out = safe(text)
    assert discord_problems(out) == []
    if "\u200b" not in text:
        assert discord_shows(out) == text  # shown literally: nothing lost, nothing added


def test_discord_escaping_keeps_urls_clickable() -> None:
    text = "Источник: https://t.me/kursk_frontline/123 (оригинал)"
    assert safe(text) == text


def test_discord_escaping_examples() -> None:
    assert safe("[a](b) ||x|| **y**") == "\\[a\\]\u200b(b) \\|\\|x\\|\\| \\*\\*y\\*\\*"
    assert safe("</ban:1> <t:1:R>") == "<\u200b/ban:1> <\u200bt:1:R>"
    assert safe("1. one\n-# sub") == "1\\. one\n\\-# sub"


# -- Slack ----------------------------------------------------------------------------------

SLACK_CONTROL = re.compile(r"<[^>]*>")  # <!channel>, <@U123>, <#C1>, <url|label>


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["<!channel>", "<!everyone>", "<@U024BE7LH>", "<https://e.x|t.me>",
                                 "&", "&lt;", "<", ">", "a", " "]), max_size=20).map("".join))
def test_slack_text_has_no_control_sequences(text: str) -> None:
    out = slack_escape(text)
    assert not SLACK_CONTROL.search(out)
    # Slack decodes exactly these three entities: the reader sees the text as it was.
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


# -- console --------------------------------------------------------------------------------


def test_console_strips_escape_sequences_from_headline_and_source() -> None:
    buf = io.StringIO()
    platform = ConsolePlatform(Renderer(), Console(file=buf, force_terminal=True, width=100))
    post = Post("src", "telegram", "-1001", "1", "\x1b[2J\x1b[31mFAKE HEADLINE\nbody \x9b31m",
                date=datetime.now(UTC), origin="\x1b]0;pwned\x07")
    alert = Alert(post=post, room_id="r", subscription_id="s1", analysis=Analysis(lang="en"))
    asyncio.run(platform.send(Room("r", "console", "", None, "en"), alert))
    out = buf.getvalue()
    assert "FAKE HEADLINE" in out and "pwned" in out
    for sequence in ("\x1b[2J", "\x1b[31mFAKE", "\x1b]0;", "\x07", "\x9b"):
        assert sequence not in out
