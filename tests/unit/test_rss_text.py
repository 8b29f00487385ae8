"""This module contains tests of feed item text: HTML stripped, entities decoded, scripts
dropped, and markup no publisher should send still read, never a failed feed."""

from __future__ import annotations

from bot.sources.feedparse import MAX_TEXT, _plain, parse_feed


def feed(description: str) -> bytes:
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            '<link>https://site.example/</link><description>d</description><item>'
            '<title>Kursk &amp; Belgorod</title><link>/a</link><guid>1</guid>'
            f'<description><![CDATA[{description}]]></description></item></channel></rss>'
            ).encode()


def test_html_is_stripped_and_scripts_dropped() -> None:
    (item,) = parse_feed(feed('<p>Units <b>moved</b>&nbsp;east.</p><script>x()</script>'
                              '<p>Second&#8230;</p>'), "https://site.example/rss").items
    assert item.text == "Kursk & Belgorod\n\nUnits moved\u00a0east.\n\nSecond…"
    assert item.link == "https://site.example/a"


def test_markup_nested_thousands_deep_is_read_not_fatal() -> None:
    # feedparser-rs escapes markup nested over 100 deep (its text then shows the tags); the
    # stripping itself must survive any depth, for feeds and t.me/s pages alike
    deep = "<b>" * 5000 + "deep words" + "</b>" * 5000
    assert _plain(deep) == "deep words"
    (item,) = parse_feed(feed(deep), "https://site.example/rss").items
    assert item.text.startswith("Kursk & Belgorod") and len(item.text) <= MAX_TEXT
