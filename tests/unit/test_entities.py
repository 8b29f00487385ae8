"""Tests of the entity watchlist and tagger: inflections, traps, offsets, bad files, evaluation."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.model import Mention
from bot.pipeline.entities import BUNDLED_PATH, Entity, Tagger, Watchlist
from bot.pipeline.inflection import (
    PatternError,
    SuffixClass,
    Suffixes,
    display_form,
    expand,
)
from bot.text import fold

REQUIRED_IDS = [
    "north_korea", "russia", "ukraine", "kursk", "zelensky", "gur", "pentagon", "pat_ryder",
    "kremlin", "russian_mod", "eu", "united_kingdom", "united_states", "australia",
    "south_korea", "us_treasury", "plekhovo", "vorobzha", "martynovka", "putin", "kim_jong_un",
]
REQUIRED_LANGS = ["en", "ru", "uk", "ko", "de", "fr", "pl"]
EVAL_PATH = Path(__file__).resolve().parent.parent / "data" / "entities_eval.yaml"


@pytest.fixture(scope="module")
def watchlist() -> Watchlist:
    return Watchlist.load()


@pytest.fixture(scope="module")
def tagger(watchlist: Watchlist) -> Tagger:
    return Tagger(watchlist)


def ids(tagger: Tagger, text: str) -> list[str]:
    return [m.entity_id for m in tagger.tag_text(text)]


def surfaces(tagger: Tagger, text: str) -> list[tuple[str, str]]:
    return [(m.entity_id, m.surface) for m in tagger.tag_text(text)]


# ------------------------------------------------------------------------------ the bundled file


def test_bundled_watchlist_has_every_required_entity_in_every_language(watchlist: Watchlist):
    assert BUNDLED_PATH.name == "entities.yaml" and BUNDLED_PATH.parent.name == "config"
    for entity_id in REQUIRED_IDS:
        assert entity_id in watchlist
        entity = watchlist[entity_id]
        assert entity.id == entity_id
        assert entity.type in ("person", "place", "organisation", "country")
        assert entity.name
        missing = [lang for lang in REQUIRED_LANGS if not entity.aliases.get(lang)]
        assert not missing, f"{entity_id} has no aliases in {missing}"


def test_watchlist_container_interface(watchlist: Watchlist):
    assert watchlist.ids == [e.id for e in watchlist]
    assert len(watchlist) == len(watchlist.ids) >= len(REQUIRED_IDS)
    assert "atlantis" not in watchlist
    with pytest.raises(KeyError):
        watchlist["atlantis"]
    assert watchlist["kursk"].type == "place"
    assert watchlist["putin"].type == "person"
    assert watchlist["north_korea"].type == "country"
    assert watchlist["gur"].type == "organisation"


def test_aliases_are_shown_in_readable_form(watchlist: Watchlist):
    assert "Зеленский" in watchlist["zelensky"].aliases["ru"]
    assert "Курск" in watchlist["kursk"].aliases["ru"]
    assert "Северная Корея" in watchlist["north_korea"].aliases["ru"]
    assert "US" in watchlist["united_states"].aliases["en"]  # no '=' marker
    assert not any("{" in a or a.startswith("=")
                   for e in watchlist for forms in e.aliases.values() for a in forms)


def test_hashtags(watchlist: Watchlist):
    assert watchlist["north_korea"].hashtag == "NorthKorea"
    assert watchlist["kursk"].hashtag == "Kursk"
    assert watchlist["gur"].hashtag == "HUR"  # explicit in the file
    assert Entity("x", "place", "Kursk oblast-region", {}).hashtag == "KurskOblastRegion"
    for entity in watchlist:
        assert entity.hashtag.isalnum(), entity.hashtag


def test_load_none_is_the_bundled_file(watchlist: Watchlist):
    assert Watchlist.load(BUNDLED_PATH).ids == watchlist.ids
    assert Watchlist.load(str(BUNDLED_PATH)).ids == watchlist.ids


# ------------------------------------------------------------------------------ inflection


@pytest.mark.parametrize("text, entity_id, surface", [
    # Russian cases
    ("Взрывы прогремели в Курске.", "kursk", "Курске"),
    ("Жители Курска остались без света.", "kursk", "Курска"),
    ("Над Курском сбили дрон.", "kursk", "Курском"),
    ("Бои в Курской области продолжаются.", "kursk", "Курской"),
    ("Бои на Курщине продолжаются.", "kursk", "Курщине"),
    ("Зеленский выступил в Раде.", "zelensky", "Зеленский"),
    ("Послание Зеленского опубликовано.", "zelensky", "Зеленского"),
    ("Письмо Зеленскому передали вчера.", "zelensky", "Зеленскому"),
    ("Бои идут у Плехово.", "plekhovo", "Плехово"),
    ("Войска отошли от Плехового.", "plekhovo", "Плехового"),
    ("Встреча с Путиным прошла в Кремле.", "putin", "Путиным"),
    ("Встреча прошла в Кремле.", "kremlin", "Кремле"),
    ("Переговоры с Ким Чен Ыном.", "kim_jong_un", "Ким Чен Ыном"),
    ("Военные из Северной Кореи прибыли.", "north_korea", "Северной Кореи"),
    ("Под Мартыновкой идут бои.", "martynovka", "Мартыновкой"),
    ("Штурм Воробжи продолжается.", "vorobzha", "Воробжи"),
    ("Представитель ГУРа заявил.", "gur", "ГУРа"),
    # Ukrainian cases
    ("Вибухи в Курську.", "kursk", "Курську"),
    ("Бої в Курській області.", "kursk", "Курській"),
    ("Межі Курської області.", "kursk", "Курської"),
    ("Мапа Курська і області.", "kursk", "Курська"),
    ("Бої на Курщині.", "kursk", "Курщині"),
    ("Бої біля Плехового.", "plekhovo", "Плехового"),
    ("Звернення Зеленського.", "zelensky", "Зеленського"),
    ("Війська Північної Кореї.", "north_korea", "Північної Кореї"),
    ("Санкції проти Росії.", "russia", "Росії"),
    # Polish cases
    ("Walki trwają w obwodzie kurskim.", "kursk", "obwodzie kurskim"),
    ("Alarm w Kursku.", "kursk", "Kursku"),
    ("Spotkanie z Zełenskim.", "zelensky", "Zełenskim"),
    ("Wojska Korei Północnej są w Rosji.", "north_korea", "Korei Północnej"),
    ("Spotkanie z Kim Dzong Unem.", "kim_jong_un", "Kim Dzong Unem"),
    ("Walki pod Martynówką.", "martynovka", "Martynówką"),
    # Korean particles, attached without a space; the surface is the noun
    ("쿠르스크에서 교전이 벌어졌다.", "kursk", "쿠르스크"),
    ("북한군은 전선에 투입됐다.", "north_korea", "북한군"),
    ("북한의 파병이 확인됐다.", "north_korea", "북한"),
    ("러시아와 협력한다.", "russia", "러시아"),
    ("김정은은 공장을 둘러봤다.", "kim_jong_un", "김정은"),
    ("미국 국방부는 밝혔다.", "pentagon", "미국 국방부"),
    # German
    ("Die Rolle Nordkoreas wächst.", "north_korea", "Nordkoreas"),
    ("Nordkoreanische Soldaten kämpfen.", "north_korea", "Nordkoreanische"),
    ("Kremlsprecher Peskow schwieg.", "kremlin", "Kremlsprecher"),
    ("Die russischen Truppen rücken vor.", "russia", "russischen"),
    ("Der Sprecher des Pentagons sagte.", "pentagon", "Pentagons"),
    ("Die Vereinigten Staaten helfen.", "united_states", "Vereinigten Staaten"),
    # French
    ("Des soldats nord-coréens combattent.", "north_korea", "nord-coréens"),
    ("Des unités nord-coréennes sont arrivées.", "north_korea", "nord-coréennes"),
    ("Dans la région de Koursk.", "kursk", "Koursk"),
    ("Le Royaume-Uni a réagi.", "united_kingdom", "Royaume-Uni"),
])
def test_inflected_forms(tagger: Tagger, text: str, entity_id: str, surface: str):
    assert (entity_id, surface) in surfaces(tagger, text)


def test_longest_alias_wins_and_keeps_the_countries_inside_it(tagger: Tagger):
    assert ids(tagger, "The Russian Defence Ministry said so.") == ["russian_mod", "russia"]
    assert ids(tagger, "The US Treasury sanctioned them.") == ["us_treasury", "united_states"]
    assert ids(tagger, "В ГУР Минобороны Украины заявили.") == ["gur", "ukraine"]
    assert ids(tagger, "Democratic People's Republic of Korea") == ["north_korea"]
    assert ids(tagger, "Минобороны США сообщило.") == ["pentagon", "united_states"]


# ------------------------------------------------------------------------------ precision traps


@pytest.mark.parametrize("text", [
    "Курс рубля к доллару упал.",
    "Студенты курсов сдали экзамен.",
    "The museum has a pentagonal atrium.",
    "Kremlinology is back in fashion.",
    "Let us be clear: none of us expected it.",
    "Us and them.",
    "Гуру медитации провел семинар.",
    "Мавзолей Гур-Эмир в Самарканде.",
    "гур лежал на столе.",
    "ГУРТОВЩИКИ вышли на протест.",
    "Елена Зеленская выступила на саммите.",
    "Олена Зеленська відвідала школу.",
    "Kim Jong Il's birthday is a holiday.",
    "Z kim rozmawiał premier?",
    "Jacek Kurski skomentował wybory.",
    "Nach der Kurskorrektur der Zentralbank.",
    "Au Québec, la poutine reste populaire.",
    "호주머니에서 휴대전화를 꺼냈다.",
    "새 한국어 교재가 나왔다.",
    "Latin America is divided.",
    "A British Columbia court ruled.",
    "Pro-Russian bloggers claimed it.",
    "Relatives mourned the Kursk submarine crew.",
    "Встреча у Курского вокзала.",
    "Пророссийские блогеры сообщают.",
    "Настало время открыть Америку!",
])
def test_traps_stay_quiet(tagger: Tagger, text: str):
    assert tagger.tag_text(text) == []


def test_case_sensitive_aliases(tagger: Tagger):
    assert ids(tagger, "US officials said") == ["united_states"]
    assert ids(tagger, "the US-led coalition") == ["united_states"]
    assert ids(tagger, "us officials said") == []
    assert ids(tagger, "Сообщает ГУР.") == ["gur"]
    assert ids(tagger, "Сообщает Гур.") == []
    assert ids(tagger, "Vladimir Poutine a parlé.") == ["putin"]
    assert ids(tagger, "w obwodzie kurskim") == ["kursk"]
    assert ids(tagger, "Kurski") == []
    assert ids(tagger, "EU und ЕС und ЄС und UE") == ["eu"] * 4
    assert ids(tagger, "eu") == []


def test_whole_words_only(tagger: Tagger):
    assert ids(tagger, "ГУРовцы") == []  # a longer word, not GUR
    assert ids(tagger, "пророссийских") == []
    assert ids(tagger, "Russia-Ukraine war") == ["russia", "ukraine"]  # hyphen is a boundary
    assert ids(tagger, "Russia's war") == ["russia"]
    assert ids(tagger, "«Курск»") == ["kursk"]
    assert ids(tagger, "Kursk2") == []


def test_homoglyphs_still_match(tagger: Tagger):
    text = "Взрывы в Kурске (латинская K)."
    [mention] = [m for m in tagger.tag_text(text) if m.entity_id == "kursk"]
    assert mention.surface == "Kурске"
    assert text[mention.start:mention.end] == mention.surface


def test_not_in_blocks_only_its_own_entity(tagger: Tagger):
    assert ids(tagger, "Минобороны Украины опровергло.") == ["ukraine"]
    assert ids(tagger, "сообщило сирийское минобороны") == []
    assert ids(tagger, "Минобороны сообщило об ударе.") == ["russian_mod"]
    assert ids(tagger, "представитель американского Минобороны") == ["pentagon", "united_states"]
    assert ids(tagger, "South America and Russia") == ["russia"]


def test_korean_particle_after_latin_acronym(tagger: Tagger):
    assert surfaces(tagger, "EU는 우려를 표명했다.") == [("eu", "EU")]
    assert ids(tagger, "EU는 북·러 협력에 우려") == ["eu", "north_korea", "russia"]


# ------------------------------------------------------------------------------ offsets, surfaces


def test_mentions_report_surface_and_offsets_into_the_original(tagger: Tagger):
    text = "**Срочно**: Зеленский и КНДР.\nВ Курской\u00a0области — ГУР; [ссылка](https://kursk.ru)"
    mentions = tagger.tag_text(text)
    assert [(m.entity_id, m.surface) for m in mentions] == [
        ("zelensky", "Зеленский"), ("north_korea", "КНДР"), ("kursk", "Курской"), ("gur", "ГУР")]
    for m in mentions:
        assert text[m.start:m.end] == m.surface
    assert mentions == sorted(mentions, key=lambda m: m.start)


def test_offsets_survive_invisible_characters(tagger: Tagger):
    # A soft hyphen inside a word sends fold down its offset-map path.
    text = "Бои у Кур\u00adска и в Северной\u200b Корее."
    mentions = tagger.tag_text(text)
    assert [m.entity_id for m in mentions] == ["kursk", "north_korea"]
    assert mentions[0].surface == "Кур\u00adска"
    for m in mentions:
        assert text[m.start:m.end] == m.surface


def test_multi_word_aliases_across_line_breaks_and_no_break_spaces(tagger: Tagger):
    assert surfaces(tagger, "Северная\nКорея") == [("north_korea", "Северная\nКорея")]
    assert ids(tagger, "Пэт\u00a0Райдер заявил") == ["pat_ryder"]
    assert ids(tagger, "Corée\tdu\u202fNord\r\n") == ["north_korea"]


def test_links_are_not_tagged_but_hashtags_are(tagger: Tagger):
    assert ids(tagger, "https://example.com/kursk-putin") == []
    assert ids(tagger, "#Курск #Путин") == ["kursk", "putin"]


def test_tag_takes_a_folded_text(tagger: Tagger):
    folded = fold("Путин и Зеленский")
    assert tagger.tag(folded) == [Mention("putin", "Путин", 0, 5),
                                  Mention("zelensky", "Зеленский", 8, 17)]


_WORDS = ["Курск", "Курской", "Путин", "US", "us", "ГУР", "Pentagon", "북한군은", "Kremlin",
          "курс", "Russian Defence Ministry", "Минобороны", "Украины", "Kremlinology", "EU"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), max_size=12),
       st.sampled_from([" ", "", "\n", "-", "«", "**", "\u00ad"]))
def test_mentions_are_sorted_nested_only_and_point_at_their_surface(parts, sep):
    tagger = _shared_tagger()
    text = sep.join(parts)
    mentions = tagger.tag_text(text)
    for m in mentions:
        assert text[m.start:m.end] == m.surface
        assert m.entity_id in tagger.watchlist
    for a, b in zip(mentions, mentions[1:], strict=False):
        assert a.start <= b.start
    # Overlaps are only a country or place inside an organisation's or person's name.
    types = {e.id: e.type for e in tagger.watchlist}
    for a in mentions:
        for b in mentions:
            if a is not b and a.start < b.end and b.start < a.end and a.end - a.start >= b.end - b.start:
                assert a.start <= b.start and b.end <= a.end
                assert types[b.entity_id] in ("country", "place")
                assert types[a.entity_id] in ("organisation", "person")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["Курской", "Зеленского", "Pentagon", "북한군은", "nord-coréens"]),
       st.sampled_from([" ", ". ", ", ", "(", ")", "«", "»", "\n", "!"]),
       st.sampled_from([" ", ". ", ", ", "(", ")", "«", "»", "\n", "!"]))
def test_an_alias_between_separators_is_always_found(word, before, after):
    tagger = _shared_tagger()
    text = f"Начало{before}{word}{after}конец"
    assert any(m.surface.startswith(word[:3]) for m in tagger.tag_text(text))


_TAGGER: Tagger | None = None


def _shared_tagger() -> Tagger:
    # Hypothesis tests cannot take module fixtures; build the tagger once for all examples.
    global _TAGGER
    if _TAGGER is None:
        _TAGGER = Tagger(Watchlist.load())
    return _TAGGER


# ------------------------------------------------------------------------------ alias language


def _suffixes() -> Suffixes:
    return Suffixes({
        "m": SuffixClass("m", ("", "а", "ом")),
        "p": SuffixClass("p", ("", "은", "에서"), detached=True),
        "n": SuffixClass("n", ("{p}", "군{p}")),
        "cmp": SuffixClass("cmp", ("",), open=True),
        "adj": SuffixClass("adj", ("ая", "ой")),
    })


def test_expand_classes_and_display_forms():
    s = _suffixes()
    assert [f.text for f in expand("Курск{m}", s)] == ["Курск", "Курска", "Курском"]
    assert display_form("Северн{adj:ой} Курск{m}", s) == "Северной Курск"
    assert display_form("Северн{adj} Курск{m}", s) == "Северная Курск"
    assert len(expand("Северн{adj} Курск{m}", s)) == 6


def test_detached_endings_are_not_part_of_the_surface():
    forms = {f.text: f.surface_len for f in expand("북한{n}", _suffixes())}
    assert forms == {"북한": 2, "북한은": 2, "북한에서": 2, "북한군": 3, "북한군은": 3, "북한군에서": 3}


def test_case_sensitive_marker_records_the_case_of_written_letters_only():
    [form] = expand("=US", _suffixes())
    assert form.text == "US" and form.case == ((0, True), (1, True))
    forms = expand("=ГУР{m}", _suffixes())
    assert all(f.case == ((0, True), (1, True), (2, True)) for f in forms)
    assert expand("Курск{m}", _suffixes())[0].case is None


def test_open_class_marks_the_form_open():
    assert all(f.open for f in expand("Kreml{cmp}", _suffixes()))


@pytest.mark.parametrize("alias, message", [
    ("Курск{zz}", "unknown suffix class"),
    ("Курск{m}ий", "must end a word"),
    ("Курск{m", "unbalanced"),
    ("Курск}", "unbalanced"),
    ("{p} Курск", "may only end the alias"),
    ("Курск{m:xyz}", "is not an ending"),
    ("", "empty alias"),
    ("=", "empty alias"),
])
def test_bad_alias_patterns(alias: str, message: str):
    with pytest.raises(PatternError, match=message):
        expand(alias, _suffixes())
        display_form(alias, _suffixes())


def test_class_loops_and_unknown_references_are_rejected_naming_the_class():
    with pytest.raises(PatternError, match="suffix class 'a': .*loop: a -> b -> a"):
        Suffixes({"a": SuffixClass("a", ("x{b}",)), "b": SuffixClass("b", ("y{a}",))})
    with pytest.raises(PatternError, match="suffix class 'a': unknown suffix class {zz}"):
        Suffixes({"a": SuffixClass("a", ("x{zz}",))})


# ------------------------------------------------------------------------------ bad files


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
suffixes:
  ru_m: ["", а, у]
entities:
  - id: kursk
    type: place
    name: Kursk
    aliases:
      en: [Kursk]
      ru: ["Курск{ru_m}"]
  - id: putin
    type: person
    name: Vladimir Putin
    aliases:
      en: [Putin]
"""


def test_a_small_custom_file_loads_and_tags(tmp_path: Path):
    watchlist = Watchlist.load(_write(tmp_path, GOOD))
    assert watchlist.ids == ["kursk", "putin"]
    assert watchlist.source.endswith("watch.yaml")
    assert ids(Tagger(watchlist), "Путин в Курску? Putin in Kursk.") == ["kursk", "putin", "kursk"]


@pytest.mark.parametrize("text, fragments", [
    ("entities: [\n  - id: x", ["not valid YAML", "line"]),
    ("- just\n- a list\n", ["top level"]),
    ("entities: []\n", ["non-empty list"]),
    (GOOD + "  - id: kursk\n    type: place\n    name: Kursk again\n    aliases: {en: [Kursk city]}\n",
     ["duplicate entity id 'kursk'"]),
    (GOOD + "  - id: kursk_city\n    type: place\n    name: Kursk\n    aliases: {ru: [Курска]}\n",
     ["entity 'kursk_city'", "'Курска'", "'Курск{ru_m}'", "entity 'kursk'"]),
    (GOOD + "  - id: other\n    type: place\n    name: Other\n    aliases: {de: [PUTIN]}\n",
     ["entity 'other'", "'PUTIN'", "entity 'putin'"]),
    (GOOD.replace("type: place", "type: planet"), ["entity 'kursk'", "type", "planet"]),
    (GOOD.replace("Курск{ru_m}", "Курск{ru_x}"), ["entity 'kursk'", "Курск{ru_x}",
                                                  "unknown suffix class"]),
    (GOOD.replace("en: [Putin]", "en: Putin"), ["entity 'putin'", "list of strings"]),
    (GOOD.replace("name: Kursk", "nmae: Kursk"), ["entity 'kursk'", "unknown key 'nmae'",
                                                  "canonical English `name`"]),
    (GOOD.replace("id: putin", "id: Putin!"), ["`id` must be lower_snake_case"]),
    (GOOD.replace("      en: [Putin]", "      english: [Putin]"), ["'english' is not a language"]),
    (GOOD.replace('ru_m: ["", а, у]', "ru_m: 5"), ["suffix class 'ru_m'", "list of endings"]),
    (GOOD + "    not_in: [Kursk]\n", ["entity 'putin'", "not_in phrase 'Kursk'", "alias 'Kursk'"]),
    (GOOD + "    hashtag: 'Vladimir Putin'\n", ["entity 'putin'", "hashtag"]),
    ("entities: [{id: a, type: place, name: A}]\n", ["entity 'a'", "aliases"]),
    ("wat: 1\nentities: [{id: a, type: place, name: A, aliases: {en: [A]}}]\n",
     ["unknown top-level key 'wat'"]),
])
def test_bad_files_are_rejected_with_a_clear_message(tmp_path: Path, text: str,
                                                     fragments: list[str]):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Watchlist.load(path)
    assert str(path) in str(info.value)
    assert all(str(path) in p for p in info.value.problems)
    everything = "\n".join(info.value.problems)
    for fragment in fragments:
        assert fragment in everything, (fragment, everything)


def test_every_problem_is_listed(tmp_path: Path):
    text = GOOD.replace("type: place", "type: planet").replace("type: person", "type: robot")
    with pytest.raises(ConfigError) as info:
        Watchlist.load(_write(tmp_path, text))
    assert len(info.value.problems) == 2
    assert "1 more problem" in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read watchlist"):
        Watchlist.load(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("entities: [Курск]".encode("cp1251"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        Watchlist.load(bad)


def test_same_form_twice_in_one_entity_is_fine(tmp_path: Path):
    text = GOOD.replace('ru: ["Курск{ru_m}"]', 'ru: ["Курск{ru_m}", Курска, "=КУРСК"]')
    watchlist = Watchlist.load(_write(tmp_path, text))
    # The case-sensitive duplicate does not make the plain alias case-sensitive.
    assert ids(Tagger(watchlist), "курск") == ["kursk"]


# ------------------------------------------------------------------------------ evaluation


def test_labeled_set_meets_the_precision_and_recall_targets(tagger: Tagger):
    items = yaml.safe_load(EVAL_PATH.read_text(encoding="utf-8"))["items"]
    assert len(items) >= 120
    assert len({i["id"] for i in items}) == len(items)
    by_lang = collections.Counter(i["lang"] for i in items)
    assert set(REQUIRED_LANGS) <= set(by_lang)
    for item in items:
        unknown = set(item["expect"]) - set(tagger.watchlist.ids)
        assert not unknown, (item["id"], unknown)

    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for item in items:
        found = {m.entity_id for m in tagger.tag_text(item["text"])}
        expected = set(item["expect"])
        for key in (item["lang"], "all"):
            counts[key][0] += len(found & expected)
            counts[key][1] += len(found - expected)
            counts[key][2] += len(expected - found)

    def scores(key: str) -> tuple[float, float]:
        tp, fp, fn = counts[key]
        return tp / (tp + fp), tp / (tp + fn)

    precision, recall = scores("all")
    assert precision >= 0.98 and recall >= 0.97, (precision, recall)
    for lang in REQUIRED_LANGS:  # no language may hide behind the average
        precision, recall = scores(lang)
        assert precision >= 0.95 and recall >= 0.95, (lang, precision, recall)
