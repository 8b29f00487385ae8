"""This module contains the tests of language detection on short, noisy chat posts.

Every post here was written for these tests; none comes from the benchmark data.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langdetect.detector_factory import DetectorFactory

from bot.errors import ConfigError
from bot.pipeline import language, wordtable
from bot.pipeline.language import (
    DEFAULT_CANDIDATES,
    FREQ_CAP,
    FREQ_MIN_ZIPF,
    FREQ_WEIGHT,
    NO_LIST_GAP,
    UND,
    Detection,
    LanguageDetector,
    check_candidates,
    clean,
    freq_evidence,
    freq_table,
    repair_mojibake,
)
from bot.pipeline.orthography import split_words


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


SHORT_POSTS = [
    ("ru", "Северокорейские военные прибыли в Курскую область, сообщили источники."),
    ("ru", "Что происходит под Курском?"),
    ("ru", "Сегодня ночью снова была тревога"),
    ("ru", "спасибо, всё понятно"),
    ("uk", "Північнокорейські військові вже воюють на Курщині, повідомила розвідка."),
    ("uk", "Що відбувається біля кордону?"),
    ("uk", "Сьогодні вночі знову була тривога"),
    ("uk", "Як справи?"),
    ("be", "Беларускія вайскоўцы правялі вучэнні каля мяжы."),
    ("be", "Гэта вельмі цікава"),
    ("be", "Што адбываецца на мяжы?"),
    ("bg", "Севернокорейски войници са пристигнали в Русия, съобщиха от разузнаването."),
    ("bg", "Това е много важно"),
    ("bg", "Какво се случва там?"),
    ("ko", "북한군이 러시아 쿠르스크 지역에 배치되었다"),
    ("ko", "북한군 파병"),
    ("ko", "정말요?"),
    ("en", "North Korean troops are fighting alongside Russian forces in Kursk."),
    ("en", "What happened there?"),
    ("en", "thanks, got it"),
    ("de", "Nordkoreanische Soldaten kämpfen an der Seite Russlands."),
    ("de", "Was ist passiert?"),
    ("de", "Danke, alles klar"),
    ("fr", "Des soldats nord-coréens combattent aux côtés de la Russie."),
    ("pl", "Północnokoreańscy żołnierze walczą po stronie Rosji."),
]


@pytest.mark.parametrize(("lang", "text"), SHORT_POSTS)
def test_short_posts(detector: LanguageDetector, lang: str, text: str) -> None:
    found = detector.detect(text)
    assert found.lang == lang
    assert detector.min_confidence <= found.confidence <= 1.0


def test_default_candidates() -> None:
    assert DEFAULT_CANDIDATES == ("ru", "uk", "be", "bg", "en", "de", "fr", "pl", "ko")
    assert LanguageDetector().candidates == DEFAULT_CANDIDATES


# --- mixed script, caps, markup, noise -----------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ru", "Apple представила новый iPhone 16 Pro"),
        ("ru", "Компания Samsung Electronics объявила о запуске Galaxy AI"),
        ("uk", "Новий iPhone вже у продажу"),
        ("ko", "삼성 Galaxy S25 공개"),
        ("ko", "삼성전자가 Galaxy S25 Ultra를 공개했다"),
        ("en", "The Kremlin said «Курск» was under control"),
    ],
)
def test_mixed_script_posts(detector: LanguageDetector, lang: str, text: str) -> None:
    assert detector.detect(text).lang == lang


def test_latin_lookalikes_inside_cyrillic_words(detector: LanguageDetector) -> None:
    # Ukrainian typed with a Latin "i" in place of "і" is common on phone keyboards.
    assert detector.detect("Вiйськовi вже на Курщинi").lang == "uk"


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ru", "СРОЧНО: ВОЙСКА КНДР В КУРСКОЙ ОБЛАСТИ"),
        ("uk", "ТЕРМІНОВО: ВІЙСЬКА КНДР НА КУРЩИНІ"),
        ("en", "BREAKING: EXPLOSIONS REPORTED IN KURSK"),
    ],
)
def test_all_caps(detector: LanguageDetector, lang: str, text: str) -> None:
    assert detector.detect(text).lang == lang
    assert detector.detect(text.lower()).lang == lang


@pytest.mark.parametrize(
    "text",
    ["🔥🔥🔥", "😂👍", "https://t.me/rybar/12345", "www.example.com/news", "rt.com", "12:45 25.11.2024",
     "@rybar", "", "   ", "!!!", "+7 (900) 000-00-00", "ok", "а"],
)
def test_no_evidence_is_und(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text) == Detection(UND, 0.0)


def test_links_mentions_and_markup_do_not_vote(detector: LanguageDetector) -> None:
    post = "**Срочно**: ситуация обостряется @war_reports https://example.com/english/news/update"
    assert detector.detect(post).lang == "ru"
    assert "example" not in clean(post) and "war_reports" not in clean(post)


def test_hashtags(detector: LanguageDetector) -> None:
    # Hashtags are dropped when there is prose; a post of hashtags only still gets a language.
    assert detector.detect("#news #breaking Войска КНДР уже в Курской области").lang == "ru"
    assert detector.detect("#КурскаяОбласть #КНДР").lang == "ru"
    assert detector.detect("#ВійськаКНДР #Курщина").lang == "uk"


def test_emoji_around_text(detector: LanguageDetector) -> None:
    assert detector.detect("😀 Привет 😀").lang == "ru"
    assert detector.detect("🇺🇦 Слава Україні! 🇺🇦").lang == "uk"


def test_mojibake_is_repaired(detector: LanguageDetector) -> None:
    garbled = "Привет мир, как дела?".encode().decode("cp1252", errors="replace")
    assert repair_mojibake(garbled) == "Привет мир, как дела?"
    assert detector.detect(garbled).lang == "ru"
    assert repair_mojibake("Ärger über Österreich") == "Ärger über Österreich"


@pytest.mark.parametrize(("original", "codepage"), [
    (text, codepage)
    for text in ("Привет", "Северокорейские войска в Курской области", "Слава Україні")
    for codepage in ("cp1251", "cp1252", "cp1250")
] + [("Część, jak się masz?", "cp1252"), ("Część, jak się masz?", "cp1250")])
def test_mojibake_from_any_usual_code_page_is_repaired(original: str, codepage: str) -> None:
    try:
        garbled = original.encode().decode(codepage)
    except UnicodeDecodeError:
        pytest.skip(f"{codepage} cannot show every byte of {original!r}")
    assert garbled != original
    assert repair_mojibake(garbled) == original


def test_cp1251_mojibake_is_detected_as_russian(detector: LanguageDetector) -> None:
    assert repair_mojibake("РџСЂРёРІРµС‚") == "Привет"
    assert detector.detect("РЎРµРІРµСЂРѕРєРѕСЂРµР№СЃРєРёРµ РІРѕР№СЃРєР°").lang == "ru"


def test_script_without_candidate_is_und(detector: LanguageDetector) -> None:
    assert detector.detect("日本語のテキストです").lang == UND  # Japanese: not watched
    assert detector.detect("هذا نص عربي قصير").lang == UND


# --- candidates ----------------------------------------------------------------------------


def test_candidate_restriction_is_honoured() -> None:
    ru_en = LanguageDetector(["ru", "en"])
    assert ru_en.candidates == ("ru", "en")
    for text in ("Північнокорейські військові вже воюють на Курщині", "Това е много важно",
                 "Nordkoreanische Soldaten kämpfen an der Seite Russlands", "북한군 파병"):
        assert ru_en.detect(text).lang in ("ru", "en", UND)
    assert ru_en.detect("북한군 파병").lang == UND


def test_single_candidate_per_script() -> None:
    only_uk = LanguageDetector(["uk", "ko"])
    assert only_uk.detect("Що відбувається біля кордону?").lang == "uk"
    assert only_uk.detect("What happened there?").lang == UND


def test_other_langdetect_languages_and_aliases() -> None:
    detector = LanguageDetector(["es", "it", "zh", "ja"])
    assert detector.detect("¿Qué está pasando en la frontera?").lang == "es"
    assert detector.detect("Cosa sta succedendo al confine?").lang == "it"
    assert detector.detect("朝鲜士兵在库尔斯克地区作战").lang == "zh"
    assert detector.detect("北朝鮮の兵士がクルスクで戦っている").lang == "ja"


def test_unknown_candidates_are_rejected() -> None:
    with pytest.raises(ValueError, match="xx"):
        LanguageDetector(["ru", "xx"])
    with pytest.raises(ValueError):
        LanguageDetector([])
    with pytest.raises(ValueError):
        LanguageDetector(min_confidence=1.5)


def test_unknown_candidates_are_a_config_error_listing_the_supported_codes() -> None:
    assert check_candidates(["RU", " uk ", "ru", "zh"]) == ("ru", "uk", "zh")
    assert check_candidates("ru, en") == ("ru", "en")
    with pytest.raises(ConfigError) as caught:
        check_candidates(["ru", "xx", "be-tarask", 7])
    message = str(caught.value)
    assert "'xx', 'be-tarask', '7'" in message
    supported = message.split("supported: ")[1].split()
    assert {"ru", "uk", "be", "bg", "en", "de", "fr", "pl", "ko"} <= set(supported)
    assert "xx" not in supported and caught.value.problems == [message]
    with pytest.raises(ConfigError, match="at least one"):
        check_candidates([])
    with pytest.raises(ConfigError, match="xx"):  # the detector raises the same error
        LanguageDetector(["xx"])


def test_min_confidence_turns_weak_answers_into_und() -> None:
    strict = LanguageDetector(min_confidence=1.0)
    lenient = LanguageDetector(min_confidence=0.0)
    text = "молоко"  # spelt alike in Russian and Ukrainian
    weak = lenient.detect(text)
    assert weak.lang in ("ru", "uk") and weak.confidence < 0.99
    rejected = strict.detect(text)
    assert rejected.lang == UND and rejected.confidence == weak.confidence


# --- word frequencies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        # No letter or spelling rule tells these apart; how often each language uses them does.
        ("uk", "дуже"), ("uk", "треба"), ("uk", "робота"), ("uk", "коли"), ("uk", "бачу"),
        ("uk", "тому що"), ("uk", "дякую"), ("uk", "будь ласка"),
        ("ru", "когда"), ("ru", "сейчас"), ("ru", "нужно"), ("ru", "хорошо"), ("ru", "работа"),
        ("ru", "может быть"), ("ru", "куда"),
        ("bg", "какво"), ("bg", "много добре"), ("bg", "сега"), ("bg", "защо"),
        ("be", "Дзякуй, усё зразумела"), ("be", "Што здарылася?"), ("be", "вельмі дрэнна"),
        ("en", "although"), ("en", "weather"), ("en", "enough"), ("en", "people"),
        ("de", "vielleicht"), ("de", "zusammen"), ("de", "gestern"),
        ("fr", "pourquoi"), ("fr", "toujours"), ("fr", "aujourd'hui"), ("fr", "beaucoup"),
        ("pl", "dobrze"), ("pl", "dlaczego"), ("pl", "jutro"), ("pl", "teraz"),
    ],
)
def test_one_or_two_words(detector: LanguageDetector, lang: str, text: str) -> None:
    assert detector.detect(text).lang == lang


def test_missing_words_get_a_floor_and_belarusian_no_penalty_for_lacking_a_list() -> None:
    assert freq_table("be") is None  # wordfreq would answer with Russian's list
    tables = {lang: freq_table(lang) for lang in ("ru", "uk", "be", "bg")}
    unknown = freq_evidence(split_words("зюмбрыкальщиной", lower_caps=False), tables)
    assert all(-FREQ_WEIGHT * FREQ_CAP <= score <= 0.0 for score in unknown.values())
    assert unknown["be"] == max(unknown.values())  # a word no list knows costs it nothing
    russian = freq_evidence(split_words("это", lower_caps=False), tables)
    assert russian["ru"] == 0.0 and russian["uk"] < -3.0  # frequent Russian, rare Ukrainian
    assert russian["be"] == pytest.approx(-FREQ_WEIGHT * NO_LIST_GAP)  # the benefit of the doubt


def test_list_lookups_follow_wordfreq_tokens() -> None:
    french, german, ukrainian = freq_table("fr"), freq_table("de"), freq_table("uk")
    assert french is not None and german is not None and ukrainian is not None
    # wordfreq splits l'eau at the apostrophe and folds ß to ss; Ukrainian keeps п'ять whole.
    assert french.zipf("l'eau") == french.zipf("eau") > french.floor
    assert german.zipf("straße") == german.zipf("strasse") > german.floor
    assert ukrainian.zipf("п'ять") > 4.0
    assert ukrainian.zipf("ґзіґзаґз") == ukrainian.floor


def test_word_lists_load_once_per_language_and_only_where_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    loaded: list[str] = []

    def fake_read(path: str) -> Iterator[list[str]]:
        loaded.append(path.rsplit("/", 1)[-1])
        return iter([["і", "и"], ["дуже"]])

    monkeypatch.setenv("WIREWATCH_CACHE_DIR", str(tmp_path))  # nothing built yet
    monkeypatch.setattr(language, "_freq_tables", {})  # as in a fresh process
    monkeypatch.setattr(wordtable, "read_buckets", fake_read)
    for candidates in (["ru", "uk", "be"], ["uk", "ru"], ["uk", "ko", "en"]):
        detector = LanguageDetector(candidates, cache_size=0)
        for text in ("дуже добре", "Що там?", "hello there", "북한군 파병", "Што там?"):
            detector.detect(text)
    # Never Belarusian (no list of its own), never Latin or Hangul (one candidate each).
    assert sorted(loaded) == ["large_ru.msgpack.gz", "large_uk.msgpack.gz"]


def test_rare_words_are_dropped_and_score_the_floor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    rarest = 900 - round(100 * FREQ_MIN_ZIPF)  # index of the rarest bucket kept
    buckets: list[list[str]] = [[] for _ in range(rarest + 2)]
    buckets[0], buckets[rarest], buckets[rarest + 1] = ["частый"], ["редкий"], ["редчайший"]
    monkeypatch.setenv("WIREWATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(language, "_freq_tables", {})
    monkeypatch.setattr(wordtable, "read_buckets", lambda path: iter(buckets))
    table = freq_table("ru")
    assert table is not None
    assert table.zipf("частый") == pytest.approx(9.0)
    assert table.zipf("редкий") == pytest.approx(FREQ_MIN_ZIPF)
    assert table.zipf("редчайший") == table.floor
    assert "редчайший" not in table and "редкий" in table


def test_real_lists_keep_nothing_below_the_threshold() -> None:
    table = freq_table("uk")
    assert table is not None
    assert table.table.lowest() == round(100 * FREQ_MIN_ZIPF)


# --- determinism, cache, threads -----------------------------------------------------------

AMBIGUOUS = ["газета работа", "правда", "система", "Мерилин Монро", "union geo", "problem",
             "Работа Н.", "молоко", "hotel", "банк"]


def test_deterministic_across_fresh_detectors_and_global_state() -> None:
    first = [LanguageDetector(cache_size=0).detect(t) for t in AMBIGUOUS]
    # Someone else resetting langdetect's global seed or Python's RNG must not matter.
    DetectorFactory.seed = None
    random.seed(12345)
    second = [LanguageDetector(cache_size=0).detect(t) for t in AMBIGUOUS]
    DetectorFactory.seed = 7
    third = [LanguageDetector(cache_size=0).detect(t) for t in AMBIGUOUS]
    DetectorFactory.seed = None
    assert first == second == third


def test_deterministic_across_repeated_calls() -> None:
    detector = LanguageDetector(cache_size=0)
    for text in AMBIGUOUS:
        answers = {detector.detect(text) for _ in range(5)}
        assert len(answers) == 1


def test_cache_hits_and_bound() -> None:
    detector = LanguageDetector(cache_size=3)
    assert detector.detect("Что происходит под Курском?").lang == "ru"
    assert detector.cache_info() == (0, 1, 1)
    assert detector.detect("Что происходит под Курском?").lang == "ru"
    assert detector.cache_info() == (1, 1, 1)
    for text in ("Як справи?", "What happened there?", "Was ist passiert?", "북한군 파병"):
        detector.detect(text)
    hits, misses, size = detector.cache_info()
    assert size == 3 and misses == 5
    detector.detect("Что происходит под Курском?")  # evicted: least recently used
    assert detector.cache_info()[1] == 6


def test_cache_can_be_disabled() -> None:
    detector = LanguageDetector(cache_size=0)
    detector.detect("Як справи?")
    detector.detect("Як справи?")
    assert detector.cache_info()[2] == 0


def test_threads_agree_with_sequential_answers() -> None:
    texts = [t for _, t in SHORT_POSTS] + AMBIGUOUS
    expected = {t: LanguageDetector(cache_size=0).detect(t) for t in texts}
    shared = LanguageDetector(cache_size=8)
    results: dict[int, list[Detection]] = {}

    def work(n: int) -> None:
        results[n] = [shared.detect(t) for t in texts[n % 3:] + texts[: n % 3]]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, found in results.items():
        order = texts[n % 3:] + texts[: n % 3]
        assert found == [expected[t] for t in order]


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gets_a_well_formed_answer(text: str) -> None:
    detector = _PROPERTY_DETECTOR
    found = detector.detect(text)
    assert found.lang in (*DEFAULT_CANDIDATES, UND)
    assert 0.0 <= found.confidence <= 1.0
    if found.lang == UND:
        assert found.confidence < detector.min_confidence
    assert detector.detect(text) == found


_PROPERTY_DETECTOR = LanguageDetector()


# --- cost bound: only a post's opening is read ----------------------------------------------

RUSSIAN_OPENING = ("Северокорейские военные прибыли в Курскую область, сообщили источники в "
                   "разведке. ") * 8  # 80 words
ENGLISH_TAIL = "North Korean troops are fighting alongside Russian forces in the region. " * 220


def test_only_the_opening_is_read_once_it_holds_enough_words(detector: LanguageDetector) -> None:
    # 80 Russian words, then 16,000 characters of English: the English is never read, so
    # neither the script count nor the cleaning pays for it.
    assert len(ENGLISH_TAIL) > 15_000
    assert detector.detect(RUSSIAN_OPENING + ENGLISH_TAIL).lang == "ru"
    assert detector.detect(ENGLISH_TAIL + RUSSIAN_OPENING).lang == "en"


def test_an_opening_of_noise_is_read_past(detector: LanguageDetector) -> None:
    # Links and emoji fill the first window: detection reads on until it finds words.
    noise = " ".join(f"https://t.me/channel/{n} 🔥" for n in range(150))
    assert len(noise) > language.FIRST_CHARS
    assert detector.detect(noise + " " + RUSSIAN_OPENING).lang == "ru"


@pytest.mark.parametrize("size", [10, 1999, 2000, 2001, 5000])
def test_opening_never_cuts_a_word(size: int) -> None:
    text = ("слово " * 1000).strip()
    part = language.opening(text, size)
    assert len(part) <= size and text.startswith(part)
    assert part.split() == text.split()[: len(part.split())]
    assert part == text[:size] or part.endswith("слово")
