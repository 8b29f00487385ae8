from hypothesis import given
from hypothesis import strategies as st

from bot.text import clean_for_language, fold, fold_word, nfc


def test_fold_keeps_length_and_lowercases():
    text = "Pentagon SAYS: Курской области"
    folded = fold(text)
    assert len(folded.folded) == len(text)
    assert folded.words() == ["pentagon", "says", "курской", "области"]


def test_links_and_markup_are_blanked_for_analysis():
    text = "**Курск** [Читать](https://example.com/kursk) https://t.me/kursk_news/1"
    folded = fold(text)
    assert folded.words() == ["курск", "читать"]


def test_latin_homoglyph_inside_cyrillic_word_is_folded():
    assert fold("Kурск").words() == ["курск"]  # Latin K
    assert fold("Pеntagon").words() == ["pentagon"]  # Cyrillic е inside a Latin word


def test_pure_words_are_not_touched_by_homoglyph_folding():
    assert fold("Kursk курс").words() == ["kursk", "курс"]


def test_diacritics_stripped_for_latin_only():
    assert fold_word("Sécurité") == "securite"
    assert fold_word("Łódź") == "lodz"
    assert fold_word("Київ") == "київ"  # ї stays a letter
    assert fold_word("ёлка") == "елка"


def test_invisible_characters_removed_with_offset_map():
    text = "Кур\u200bск и Курс"
    folded = fold(text)
    assert folded.words() == ["курск", "и", "курс"]
    start = folded.folded.index("курск")
    a, b = folded.span(start, start + 5)
    assert text[a:b] == "Кур\u200bск"


def test_nfc_composes():
    assert nfc("e\u0301") == "é"


def test_clean_for_language_drops_noise():
    cleaned = clean_for_language("@user #Kursk https://x.y/z <b>Привет</b> мир")
    assert "Привет" in cleaned and "user" not in cleaned and "http" not in cleaned
    assert "Kursk" not in cleaned


@given(st.text(max_size=200))
def test_fold_never_fails_and_spans_map_inside(text):
    folded = fold(text)
    for word_start in range(len(folded.folded)):
        a, b = folded.span(word_start, word_start + 1)
        assert 0 <= a < b <= len(text)
