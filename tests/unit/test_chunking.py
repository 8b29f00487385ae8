"""Tests of the text splitter that keeps chunks under a provider's request limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline.chunking import URL_RE, Split, split_text, url_encoded_size


def check_invariants(text: str, split: Split) -> None:
    assert split.join(split.chunks) == text
    assert len(split.separators) == len(split.chunks) + 1
    for chunk in split.chunks:
        assert chunk and chunk == chunk.strip()
    for sep in split.separators:
        assert sep.strip() == ""


def test_short_text_is_one_chunk_with_outer_whitespace_kept() -> None:
    text = "\n  Северокорейские войска в Курской области.  \n"
    split = split_text(text, 100)
    assert split.chunks == ("Северокорейские войска в Курской области.",)
    assert split.separators == ("\n  ", "  \n")
    check_invariants(text, split)


def test_whitespace_only_text_has_no_chunks() -> None:
    split = split_text(" \n\t ", 10)
    assert split.chunks == ()
    assert split.join([]) == " \n\t "


def test_prefers_paragraph_boundaries_over_lines() -> None:
    first = "Line one of the first paragraph\nline two"
    second = "Second paragraph here\nwith two lines"
    text = f"{first}\n\n{second}"
    split = split_text(text, max(len(first), len(second)))
    assert split.chunks == (first, second)
    assert split.separators == ("", "\n\n", "")


def test_paragraph_separator_keeps_surrounding_spaces() -> None:
    text = "alpha beta  \r\n \r\n  gamma delta"
    split = split_text(text, 12)
    assert split.chunks == ("alpha beta", "gamma delta")
    assert split.separators[1] == "  \r\n \r\n  "
    check_invariants(text, split)


def test_falls_back_to_lines_then_sentences_then_words() -> None:
    text = "One. Two three.\nFour five six seven"
    assert split_text(text, 16).chunks == ("One. Two three.", "Four five six", "seven")
    sentences = split_text("Войска вошли. Бои идут! Что дальше?", 15)
    assert sentences.chunks == ("Войска вошли.", "Бои идут!", "Что дальше?")
    assert split_text("a b c d e f", 3).chunks == ("a b", "c d", "e f")


def test_sentence_end_after_closing_quote() -> None:
    text = 'He said "stop." Then left.'
    assert split_text(text, 16).chunks == ('He said "stop."', "Then left.")


def test_packs_small_units_up_to_the_limit() -> None:
    text = "\n".join(f"line {i}" for i in range(10))  # 6 chars a line
    split = split_text(text, 20)
    assert all(len(c) <= 20 for c in split.chunks)
    assert len(split.chunks) == 4  # 3 lines (20 chars) a chunk, the last alone
    check_invariants(text, split)


def test_long_word_is_cut_but_url_never() -> None:
    url = "https://t.me/rybar/65432?single&comment=1"
    text = f"{'x' * 25} {url} end"
    split = split_text(text, 10)
    assert url in split.chunks
    assert all(len(c) <= 10 for c in split.chunks if c != url)
    assert split.join(split.chunks) == text


def test_url_glued_to_text_stays_whole_in_hard_split() -> None:
    url = "https://example.org/a/b/c"
    text = f"(см.{url})"
    split = split_text(text, 8)
    assert any(url in chunk for chunk in split.chunks)
    assert split.join(split.chunks) == text


def test_cjk_sentences_split_without_spaces() -> None:
    text = "部队进入库尔斯克。战斗仍在继续。"
    split = split_text(text, 10)
    assert split.chunks == ("部队进入库尔斯克。", "战斗仍在继续。")


def test_combining_marks_stay_with_their_letter() -> None:
    text = "e\u0301" * 6  # no boundary at all
    split = split_text(text, 4)
    assert all(not c.startswith("\u0301") for c in split.chunks)
    assert split.join(split.chunks) == text


def test_url_encoded_measure_limits_request_size() -> None:
    text = " ".join(["Северокорейские"] * 200)
    split = split_text(text, 600, url_encoded_size)
    assert len(split.chunks) > 1
    assert all(url_encoded_size(c) <= 600 for c in split.chunks)
    assert url_encoded_size("ж") == 6 and url_encoded_size("a b") == 3


def test_join_checks_the_number_of_parts() -> None:
    split = split_text("a b c", 1)
    with pytest.raises(ValueError):
        split.join(["x"])
    with pytest.raises(ValueError):
        split_text("abc", 0)


_URLS = ["https://t.me/x/1", "http://ex.am/ple?a=b&c=d", "www.kursk.ru/news/2024/12/01/long-path"]
_tokens = st.one_of(
    st.text(alphabet="abcжщ.!?,", min_size=1, max_size=12),
    st.sampled_from(_URLS),
)
_separators = st.sampled_from([" ", "  ", "\n", "\n\n", " \n \n", "\t", "\r\n"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(_tokens, min_size=1, max_size=40))
    out = [draw(st.sampled_from(["", " ", "\n"]))]
    for token in tokens:
        out += [token, draw(_separators)]
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(text=texts(), limit=st.integers(1, 60), encoded=st.booleans())
def test_split_properties(text: str, limit: int, encoded: bool) -> None:
    measure = url_encoded_size if encoded else len
    split = split_text(text, limit, measure)
    check_invariants(text, split)
    for chunk in split.chunks:
        # Over the limit only when one link (or one character) alone is longer.
        assert measure(chunk) <= limit or URL_RE.fullmatch(chunk) or len(chunk) == 1
    for m in URL_RE.finditer(text):
        assert any(m.group() in chunk for chunk in split.chunks)
    if all(measure(word) <= limit for word in text.split()):
        # No word was cut: every inner separator is whitespace.
        assert all(sep for sep in split.separators[1:-1])
