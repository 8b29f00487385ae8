"""This module contains the tests of the compact word-frequency tables (bot.pipeline.wordtable):
the same frequencies as wordfreq's own reader, built once into the cache, rebuilt when damaged.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import wordfreq

from bot.pipeline import wordtable
from bot.pipeline.language import DEFAULT_CANDIDATES, FREQ_MIN_ZIPF, freq_table
from bot.pipeline.wordtable import WordTable

MIN_CENTIZIPF = round(100 * FREQ_MIN_ZIPF)
# Frequencies only weigh in where candidates share a script (Korean is alone in Hangul).
LISTED = [lang for lang in DEFAULT_CANDIDATES if lang in wordtable.wordfreq_files() and lang != "ko"]


def _centizipf(freq: float) -> int:
    return round(100 * wordfreq.freq_to_zipf(freq))


@pytest.mark.parametrize("lang", LISTED)
def test_same_frequencies_as_wordfreq(lang: str) -> None:
    found = freq_table(lang)  # the detector's own table: from the cache, built there if need be
    assert found is not None
    table = found.table
    assert table.lang == lang
    # wordfreq's public reader: each word at the first (highest) frequency it is listed with.
    expected = {w: _centizipf(f) for w, f in wordfreq.get_frequency_dict(lang, "best").items()}
    kept = [w for w, c in expected.items() if c >= MIN_CENTIZIPF]
    dropped = [w for w, c in expected.items() if c < MIN_CENTIZIPF]
    rng = random.Random(lang)  # a sample at every rank
    for word in rng.sample(kept, 500) + kept[:100]:
        assert table.centizipf(word) == expected[word], word
    for word in rng.sample(dropped, min(200, len(dropped))):
        assert table.centizipf(word) is None, word
    assert table.centizipf("qxzjvqxzjv") is None
    assert len(table) == len(kept)
    wordfreq.get_frequency_dict.cache_clear()  # ~30 MB a list: not for the rest of the suite


def _fake(buckets: list[list[str]], reads: list[str]):
    def read(path: str) -> Iterator[list[str]]:
        reads.append(path)
        return iter(buckets)
    return read


def test_built_once_then_memory_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    monkeypatch.setenv("WIREWATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(wordtable, "read_buckets", _fake([["a"], [], ["b", "c"]], reads))
    first = wordtable.load("en", 800)
    second = wordtable.load("en", 800)
    assert len(reads) == 1  # the second process-alike opened the files
    assert first is not None and second is not None
    assert [second.centizipf(w) for w in ("a", "b", "c", "d")] == [900, 898, 898, None]
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".marisa", ".u16"]
    wordtable.load("en", 850)  # another threshold is another table
    assert len(reads) == 2


def test_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    monkeypatch.setenv("WIREWATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(wordtable, "read_buckets", _fake([["a", "b"], ["c"]], reads))
    wordtable.load("de", 800)
    for path in tmp_path.iterdir():
        if path.suffix == ".u16":
            path.write_bytes(b"\x01")  # truncated: no longer one value per word
    table = wordtable.load("de", 800)
    assert len(reads) == 2
    assert table is not None and table.centizipf("c") == 899
    for path in tmp_path.iterdir():
        if path.suffix == ".marisa":
            path.write_bytes(b"not a trie")
    table = wordtable.load("de", 800)
    assert len(reads) == 3
    assert table is not None and table.centizipf("a") == 900


def test_unwritable_cache_keeps_the_table_in_memory(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("WIREWATCH_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(wordtable, "read_buckets", _fake([["x"]], []))
    table = wordtable.load("fr", 800)
    assert isinstance(table, WordTable) and table.centizipf("x") == 900


def test_no_list_is_none() -> None:
    assert wordtable.load("be", MIN_CENTIZIPF) is None  # wordfreq would hand out Russian's


def test_not_a_cbpack_file_is_a_clear_error(tmp_path: Path) -> None:
    import gzip

    import msgpack

    path = tmp_path / "large_xx.msgpack.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(msgpack.packb([{"format": "other"}, ["a"]]))
    with pytest.raises(ValueError, match="not a wordfreq cBpack"):
        list(wordtable.read_buckets(str(path)))


@pytest.mark.parametrize("lang", ["en", "de", "fr", "pl"])
def test_zipf_frequency_is_wordfreqs(lang: str) -> None:
    # The whole list (rare words too), as bot.pipeline.wordforms asks of Latin query words.
    words = [w for w in wordfreq.iter_wordlist(lang) if w.isalpha() and w.isascii() and w.islower()]
    rng = random.Random(lang)
    for word in words[:50] + rng.sample(words, 300) + words[-50:]:
        assert wordtable.zipf_frequency(word, lang) == pytest.approx(
            wordfreq.zipf_frequency(word, lang), abs=0.011), word
    assert wordtable.zipf_frequency("qxzjvqxzjv", lang) == 0.0
    wordfreq.get_frequency_dict.cache_clear()
    getattr(wordfreq.get_frequency_list, "cache_clear", lambda: None)()
