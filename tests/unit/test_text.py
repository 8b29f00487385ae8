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


# --- look-alikes, styled letters, accents: folded one for one, offsets kept ----------------


def _maps_back(text: str, word: str) -> str:
    folded = fold(text)
    start = folded.folded.index(word)
    a, b = folded.span(start, start + len(word))
    return text[a:b]


def test_word_mostly_in_latin_lookalikes_with_one_cyrillic_only_letter_turns_cyrillic():
    assert fold("Poccия").words() == ["россия"]  # и and я have no Latin twin
    assert fold("Pеntagon").words() == ["pentagon"]  # r, n, g have no Cyrillic twin


def test_plain_english_words_stay_latin():
    text = "The Pentagon met Kim to talk about Mexico"
    assert fold(text).words() == text.lower().split()


def test_greek_lookalikes_inside_latin_and_cyrillic_words():
    assert fold("Κursk ΚREMLIN").words() == ["kursk", "kremlin"]  # Greek capital kappa
    assert fold("Πутин").words() == ["путин"]  # Greek capital pi: a Cyrillic П
    assert fold("ΝΑΤΟ").words() == ["nato"]  # only look-alike letters: Latin
    assert fold("вοεннοε").words() == ["военное"]  # Greek ο ε outnumber в н н: still Cyrillic
    assert fold("Καλημέρα κόσμε").words() == ["καλημέρα", "κόσμε"]  # real Greek stays


def test_fullwidth_and_mathematical_letters_fold_to_plain_ones():
    assert fold("ＫＵＲＳＫ").words() == ["kursk"]
    assert fold("𝐊𝐮𝐫𝐬𝐤 𝔎𝔲𝔯𝔰𝔨 𝟙𝟚").words() == ["kursk", "kursk", "12"]
    assert len(fold("𝐊𝐮𝐫𝐬𝐤").folded) == len("𝐊𝐮𝐫𝐬𝐤")


def test_combining_stress_accent_is_removed_with_offsets_kept():
    text = "в Ку\u0301рской области"
    assert fold(text).words() == ["в", "курской", "области"]
    assert _maps_back(text, "курской") == "Ку\u0301рской"


def test_joiners_and_soft_hyphens_inside_a_word_are_removed():
    for mark in ("\u00ad", "\u200c", "\u200d", "\u2060", "\ufeff"):
        text = f"Кур{mark}ская"
        assert fold(text).words() == ["курская"], repr(mark)
        assert _maps_back(text, "курская") == text


def test_removal_that_joins_a_mixed_word_folds_it_again():
    assert fold("Po\u200bссия").words() == ["россия"]


def test_greek_letter_at_the_end_of_a_long_latin_word():
    text = "a" * 50_000 + "α"
    assert fold(text).folded == text[:-1] + "a"


def test_every_character_a_rare_step_handles_opens_the_rare_path():
    import re

    import bot.text as T
    handled = set(T._INVISIBLE) | {chr(c) for c in T._STYLED_TABLE}
    handled |= {chr(c) for c in range(0x370, 0x400)}
    for body in (T._COMBINING, T._RARE_SPACES):
        cls = re.compile(f"[{body}]")
        handled |= {chr(c) for c in range(0x30000) if cls.match(chr(c))}
    assert [hex(ord(c)) for c in sorted(handled) if not T._UNUSUAL_RE.match(c)] == []
