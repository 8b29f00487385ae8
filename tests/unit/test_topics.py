"""Tests of topics: the bundled defaults on realistic posts, ordering, and file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.pipeline.query import Doc
from bot.pipeline.topics import Topics, bundled_path
from bot.text import fold

KNOWN = {
    "north_korea", "russia", "ukraine", "kursk", "zelensky", "gur", "pentagon", "pat_ryder",
    "kremlin", "russian_mod", "eu", "united_kingdom", "united_states", "australia",
    "south_korea", "us_treasury", "plekhovo", "vorobzha", "martynovka", "putin", "kim_jong_un",
}


@pytest.fixture(scope="module")
def topics() -> Topics:
    return Topics.load(known_entities=KNOWN)


def doc(text: str, *entities: str) -> Doc:
    return Doc(fold(text).words(), entities=frozenset(entities))


# Entities are given by hand, as the tagger would find them.
NK_TROOPS_POSTS = [
    ("⚡️ Северокорейские военные замечены в Курской области. По данным источников, "
     "подразделения КНДР размещены вблизи Плехово.", ["north_korea", "kursk", "plekhovo"]),
    ("ГУР: північнокорейські військові вже беруть участь у боях на Курщині. Війська КНДР "
     "зазнали перших втрат.", ["gur", "north_korea", "kursk"]),
    ('국정원 "북한군, 러시아 쿠르스크에서 우크라이나군과 교전 시작"…일부 사상자 발생',
     ["north_korea", "russia", "kursk", "ukraine"]),
    ("Pentagon press secretary Pat Ryder said North Korean troops have moved into Russia's "
     "Kursk region.", ["pentagon", "pat_ryder", "north_korea", "russia", "kursk"]),
    ("Nordkoreanische Soldaten kämpfen nach Angaben Kiews bereits in der russischen Region "
     "Kursk.", ["north_korea", "ukraine", "russia", "kursk"]),
    ("Zelensky: first clashes with North Korean units in Kursk oblast.",
     ["zelensky", "north_korea", "kursk"]),
]

QUIET_POSTS = [
    ("[리뷰] 드라마 '사랑의 불시착' 다시 보기: 북한군 장교 리정혁 캐릭터의 매력은 여전하다. "
     "전쟁 같은 사랑 이야기.", ["north_korea"]),
    ("Вышел Python 3.13: свободный от GIL режим. В России вакансии по фронтенду и бэкенду "
     "растут, организация Meta запрещена на территории РФ.", ["russia"]),
    ("Центробанк России повысил ключевую ставку до 21%. Инфляция в России ускорилась, "
     "курс рубля упал, рынок акций снизился.", ["russia"]),
    ("Библиотека робототехники и беспилотников: роботы, ИИ, дроны. Сделано в России.",
     ["russia"]),
    ("Федерация бокса России лишила промоушн лицензии в дисциплинах «кулачные бои».",
     ["russia"]),
    ("Курс рубля к доллару на открытии торгов опустился ниже 98 рублей.", []),
]


@pytest.mark.parametrize("text, entities", NK_TROOPS_POSTS)
def test_conflict_and_nk_troops_fire_across_languages(topics, text, entities):
    found = topics.classify(doc(text, *entities))
    assert "conflict" in found
    assert "nk_troops" in found


@pytest.mark.parametrize("text, entities", QUIET_POSTS)
def test_conflict_stays_quiet_on_near_misses(topics, text, entities):
    found = topics.classify(doc(text, *entities))
    assert "conflict" not in found
    assert "nk_troops" not in found


def test_conflict_without_north_korea_is_not_nk_troops(topics):
    d = doc("ВСУ обстреляли Белгородскую область, ПВО сбила беспилотники.", "ukraine", "russia")
    assert topics.classify(d) == ("conflict",)


def test_drama_review_needs_a_party_to_the_war(topics):
    text = QUIET_POSTS[0][0]
    assert topics.classify(doc(text, "north_korea")) == ()
    # the same words with Russia tagged, and no review marker, would be war news: the entity
    # is what gates it
    news = text.replace("[리뷰] 드라마 '사랑의 불시착' 다시 보기: ", "")
    assert "conflict" in topics.classify(doc(news, "north_korea", "russia"))


def test_sanctions_and_diplomacy(topics):
    eu = doc("The EU and the United Kingdom announced new sanctions against Russia and North "
             "Korea over the deployment of troops to the Kursk region.",
             "eu", "united_kingdom", "russia", "north_korea", "kursk")
    assert topics.classify(eu) == ("conflict", "nk_troops", "sanctions")
    assert "sanctions" in topics.classify(doc("Новые санкции против банков", "russia"))
    assert "sanctions" not in topics.classify(doc("Суд санкционировал арест", "russia"))
    envoy = doc("Посол России в Сеуле вызван в МИД Южной Кореи", "russia", "south_korea")
    assert topics.classify(envoy) == ("diplomacy",)
    business = doc("После переговоров с поставщиками сеть снизила цены в России", "russia")
    assert "diplomacy" not in topics.classify(business)


def test_classify_order_ids_descriptions_and_queries(topics):
    assert topics.ids[:2] == ["conflict", "nk_troops"]
    assert set(topics.ids) >= {"conflict", "nk_troops", "sanctions", "diplomacy"}
    assert "war" in topics.description("conflict").lower()
    assert topics["nk_troops"].topics() == {"conflict"}
    assert topics["conflict"].entities() <= KNOWN
    assert "conflict" in topics and len(topics) == len(topics.ids)


def test_bundled_file_is_found_through_the_config_package(topics):
    assert bundled_path().name == "topics.yaml" and bundled_path().is_file()
    assert Topics.load().ids == topics.ids


def test_later_topics_see_earlier_ones_and_doc_is_left_alone(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "topics:\n"
        "  - id: base\n    query: kursk\n"
        "  - id: derived\n    query: topic:base AND troops\n"
        "  - id: other\n    query: NOT topic:derived\n",
        encoding="utf-8",
    )
    t = Topics.load(path)
    d = Doc(["kursk", "troops"], topics=frozenset({"given"}))
    assert t.classify(d) == ("base", "derived")
    assert d.topics == {"given"}
    assert t.classify(Doc(["kursk"])) == ("base", "other")
    assert t.classify(Doc(["troops"])) == ("other",)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_query_names_topic_line_and_column(tmp_path: Path):
    path = write(tmp_path, "topics:\n  - id: ok\n    query: kursk\n"
                           "  - id: broken\n    query: (kursk AND\n")
    with pytest.raises(ConfigError) as info:
        Topics.load(path)
    message = str(info.value)
    assert "'broken'" in message and "line 5" in message and "column 11" in message
    assert "expected" in message


def test_forward_topic_reference_is_an_error(tmp_path: Path):
    path = write(tmp_path, "topics:\n  - id: a\n    query: topic:b\n  - id: b\n    query: x\n")
    with pytest.raises(ConfigError, match=r"topic:b at column 1 is not defined above"):
        Topics.load(path)


def test_unknown_entity_duplicate_id_and_missing_query(tmp_path: Path):
    path = write(tmp_path, "topics:\n"
                           "  - id: a\n    query: entity:atlantis\n"
                           "  - id: a\n    query: x\n"
                           "  - id: c\n"
                           "  - id: Bad Id\n    query: x\n"
                           "  - id: d\n    query: x\n    colour: red\n")
    with pytest.raises(ConfigError) as info:
        Topics.load(path, known_entities=KNOWN)
    problems = "\n".join(info.value.problems)
    assert "unknown entity 'atlantis'" in problems
    assert "duplicate topic id" in problems
    assert "'c'" in problems and "expected a query" in problems
    assert "expected an id" in problems
    assert "unknown key(s) colour" in problems
    assert len(info.value.problems) == 5


@pytest.mark.parametrize("text, fragment", [
    ("topics: [a, {id: x\n", "not valid YAML at line"),
    ("- id: a\n  query: x\n", "top-level `topics:`"),
    ("topics: 3\n", "expected a list of topics"),
])
def test_malformed_files(tmp_path: Path, text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        Topics.load(write(tmp_path, text))


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read topics"):
        Topics.load(tmp_path / "nope.yaml")


def test_empty_topics_list(tmp_path: Path):
    t = Topics.load(write(tmp_path, "topics:\n"))
    assert t.ids == [] and t.classify(Doc(["x"])) == ()
