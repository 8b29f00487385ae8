"""Scaling tests: tagging, folding, the language cleaner and NEAR are linear in the text.

Each test times the same work on an input of size n and of size 4n (least CPU time of five
runs, so a busy machine rarely matters) and bounds the ratio: linear work gives about 4, quadratic 16.
The bound is generous; what these tests catch is the quadratic blow-up, not a slow day.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bot.bootstrap import build_engine
from bot.model import Post, Room, Subscription
from bot.pipeline.entities import Tagger, Watchlist
from bot.pipeline.language import LanguageDetector, clean
from bot.pipeline.query import Doc, parse
from bot.pipeline.runner import Pipeline
from bot.settings import Settings
from bot.storage.sqlite import SQLiteStore
from bot.text import clean_for_language, fold

LINEAR_BOUND = 9.0  # 4x the input; a quadratic cost would show 16x


def _best(run: Callable[[object], object], arg: object, repeat: int = 5) -> float:
    """The least CPU time of a few runs: other processes on a busy machine cost wall time."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run(arg)
        times.append(time.process_time() - start)
    return min(times)


def ratio(make: Callable[[int], object], run: Callable[[object], object], n: int) -> float:
    """time(4n) / time(n); n grows until the small run takes a few milliseconds, below
    which timer noise and cache effects swamp the ratio."""
    run(make(n))  # warm caches (automata, lazily compiled regexes)
    base = _best(run, make(n))
    while base < 0.004 and n < 10_000_000:
        n *= 2
        base = _best(run, make(n))
    return _best(run, make(4 * n)) / base


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(Watchlist.load())


TAG_INPUTS = {
    "one alias over and over": "Курск ",
    "many entities": "Kursk Russia США Путин Zelensky North Korea ",
    "hyphen-joined names": "Kursk-Russia-",
    "not_in phrases": "pro-Russian anti-Ukrainian Russian ",
    "open key before a long word": "росси" + "я" * 200 + " ",
}


@pytest.mark.parametrize("unit", TAG_INPUTS.values(), ids=TAG_INPUTS.keys())
def test_tagging_is_linear(tagger: Tagger, unit: str) -> None:
    assert ratio(lambda n: unit * (n // len(unit)), tagger.tag_text, 40_000) < LINEAR_BOUND


def test_an_open_key_before_one_huge_word_is_linear(tagger: Tagger) -> None:
    assert ratio(lambda n: "Росси" + "я" * n, tagger.tag_text, 100_000) < LINEAR_BOUND


FOLD_INPUTS = {
    "markdown link openers": "](",
    "links": "http://x.ru/a ",
    "tag openers": "<a ",
    "mixed-script words": "Kурсk ",
    "invisible characters": "Ку\u00adрск ",
    "combining accents": "Ку\u0301рск ",
    "styled letters": "𝐊𝐮𝐫𝐬𝐤 ＫＵＲＳＫ ",
    "a Greek letter ending a long word": "a" * 2000 + "α ",
}


@pytest.mark.parametrize("unit", FOLD_INPUTS.values(), ids=FOLD_INPUTS.keys())
def test_folding_is_linear(unit: str) -> None:
    assert ratio(lambda n: unit * (n // len(unit)), fold, 50_000) < LINEAR_BOUND


CLEAN_INPUTS = {
    "one long token": lambda n: "Курск " + "a" * n,
    "dotted labels": lambda n: "a." * (n // 2),
    "hyphenated token": lambda n: "a-" * (n // 2),
    "at signs": lambda n: "x@" * (n // 2),
    "markdown link openers": lambda n: "](" * (n // 2),
    "accented capitals": lambda n: "aÃ" * (n // 2),
}


@pytest.mark.parametrize("make", CLEAN_INPUTS.values(), ids=CLEAN_INPUTS.keys())
def test_language_cleaning_is_linear(make: Callable[[int], str]) -> None:
    assert ratio(make, clean, 20_000) < LINEAR_BOUND
    assert ratio(make, clean_for_language, 20_000) < LINEAR_BOUND


def test_detection_of_one_long_token_is_quick_and_still_right() -> None:
    detector = LanguageDetector(cache_size=0)
    text = "Северокорейские войска вступили в бой в Курской области " + "a" * 100_000
    assert ratio(lambda n: text + "a" * n, detector.detect, 100_000) < LINEAR_BOUND
    assert detector.detect(text).lang == "ru"


def test_near_is_linear_in_the_occurrences() -> None:
    query = parse("kursk NEAR/2 troops")
    # Every left occurrence far from every right one: the old pairwise check was quadratic.
    def make(n: int) -> Doc:
        return Doc(["kursk"] * n + ["x"] * 5 + ["troops"] * n)
    assert ratio(make, query.evaluate, 5_000) < LINEAR_BOUND
    assert not query.evaluate(make(10))
    assert query.evaluate(Doc(["kursk", "x", "x", "troops"]))


def test_or_of_many_words_verifies_each_word_once_per_post() -> None:
    query = parse("(курская OR войска OR \"north korea\" OR a1 OR a2 OR a3) AND zz")
    # " курск" occurs everywhere but never with a case ending: each hit used to rescan the text.
    assert ratio(lambda n: Doc(["курскзз"] * n), query.evaluate, 20_000) < LINEAR_BOUND


def test_a_five_megabyte_post_is_stored_whole_and_tagged(tmp_path) -> None:
    engine = build_engine(Settings())
    store = SQLiteStore(tmp_path / "big.db")
    try:
        store.upsert_room(Room("newsroom", "console", "newsroom", None, "en"))
        store.add_subscription(Subscription("near", "newsroom", "troops NEAR/3 kursk"))
        filler = "Обычный текст без особых новостей, просто слова и предложения. " * 15
        unit = filler + "Северокорейские войска в Курской области, troops near Kursk. "
        text = (unit * (5_000_000 // len(unit) + 1))[:5_000_000]
        outcome = Pipeline(store, engine.analyzer).process(Post("gur", "telegram", "-1", "1", text))
        assert outcome.matches == (("newsroom", "near"),)
        mentions = outcome.analysis.mentions
        assert {m.entity_id for m in mentions} >= {"north_korea", "kursk"}
        assert mentions[-1].end > 4_900_000  # the tail is tagged, not only the head
        assert all(text[m.start:m.end] == m.surface for m in mentions[:50])
        assert store.get_post(outcome.post.key).post.text == text
    finally:
        store.close()
