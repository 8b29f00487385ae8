"""This module contains compact word-frequency tables built from wordfreq's lists.

wordfreq's own readers hold a list as a Python dict (about 30 MB per large list, 214 MB for the
default candidates). Here a list becomes a MARISA trie (word -> index, ~1.3 MB for 450,000
Russian words) and an array of 16-bit frequencies in centi-Zipf (Zipf x 100) by that index.
Both are written once to the cache folder (``$WIREWATCH_CACHE_DIR``, else
``$XDG_CACHE_HOME/wirewatch``, else ``~/.cache/wirewatch``) and the trie is memory-mapped from
there, so every later process, and every process at once, shares the same pages.

The files are derived data: named after the wordfreq file they come from (its size and
modification time), the frequency threshold and the format, so a new wordfreq release or a new
threshold builds new ones. A cache folder that cannot be written only costs the build in every
process (the tables then stay in memory, still compact); a damaged file is rebuilt.

wordfreq's files are read directly (the "cBpack" format its `read_cBpack` documents: a gzipped
msgpack list of a header and then one list of words per centibel of frequency), streamed bucket
by bucket, and only down to the threshold: neither wordfreq's import nor its whole list is ever
in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import marisa_trie
import msgpack

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the files' layout changes
TOP_CENTIZIPF = 900  # bucket 0 of a cBpack holds the words of Zipf 9.0 (probability 1)


@dataclass(frozen=True, slots=True)
class WordTable:
    """One language's list: the Zipf frequency x 100 of each word kept, by lookup."""

    lang: str
    kind: str  # wordfreq's list size: "large" or "small"
    trie: marisa_trie.Trie
    centizipfs: array  # array('H'), indexed by the trie's key id

    def centizipf(self, word: str) -> int | None:
        """The word's Zipf frequency x 100, or None when the table does not hold it."""
        key = self.trie.get(word)
        return None if key is None else self.centizipfs[key]

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word in self.trie

    def __len__(self) -> int:
        return len(self.centizipfs)

    def lowest(self) -> int:
        """The lowest frequency kept (x 100): every rarer word was left out."""
        return min(self.centizipfs) if self.centizipfs else TOP_CENTIZIPF


@lru_cache(maxsize=1)
def wordfreq_files() -> dict[str, tuple[str, str]]:
    """Language -> (list kind, file) of wordfreq's installed lists; the large list where there
    are both. Exact codes only (wordfreq's own lookup maps a code it lacks to a neighbour's
    list, be -> ru), found without importing wordfreq."""
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        return {}
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    files: dict[str, tuple[str, str]] = {}
    for kind in ("small", "large"):  # large last: it wins
        for path in sorted(data.glob(f"{kind}_*.msgpack.gz")):
            lang = path.name.split(".")[0].split("_", 1)[1]
            files[lang] = (kind, str(path))
    return files


def read_buckets(path: str) -> Iterator[list[str]]:
    """The word lists of a cBpack file in order (bucket i: frequency 10^(-i/100)), streamed."""
    with gzip.open(path, "rb") as fh:
        unpacker = msgpack.Unpacker(fh, raw=False)
        count = unpacker.read_array_header()
        header = unpacker.unpack() if count else None
        if not isinstance(header, dict) or header.get("format") != "cB" \
                or header.get("version") != 1:
            raise ValueError(f"{path}: not a wordfreq cBpack file (header {header!r})")
        for _ in range(count - 1):
            yield unpacker.unpack()


def cache_dir() -> Path:
    """Where the built tables go (read at each call: tests and deployments may set it)."""
    explicit = os.environ.get("WIREWATCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "wirewatch"


def _stem(lang: str, path: str, min_centizipf: int) -> str:
    """A name that changes whenever the source file, the threshold or the format does."""
    st = os.stat(path)
    ident = f"{FORMAT}|{os.path.basename(path)}|{st.st_size}|{st.st_mtime_ns}|{min_centizipf}"
    return f"wordfreq-{lang}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}"


def build(lang: str, kind: str, path: str, min_centizipf: int) -> WordTable:
    """Read a wordfreq file down to `min_centizipf` into an in-memory table."""
    words: list[str] = []
    values: list[int] = []
    keep = TOP_CENTIZIPF - min_centizipf + 1  # buckets at or above the threshold
    for index, bucket in enumerate(read_buckets(path)):
        if index >= keep:
            break  # the rest of the file is rarer: never even decoded
        words.extend(bucket)
        values.extend([TOP_CENTIZIPF - index] * len(bucket))
    trie = marisa_trie.Trie(words)
    centizipfs = array("H", bytes(2 * len(trie)))
    for word, value in zip(words, values, strict=True):
        key = trie[word]
        if not centizipfs[key]:  # a word listed twice keeps its first, higher, frequency
            centizipfs[key] = value
    return WordTable(lang, kind, trie, centizipfs)


def _write(table: WordTable, folder: Path, stem: str) -> None:
    """Both files, each atomically (a reader sees a whole file or none); values first, as the
    trie's presence is what says the pair is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, write in ((".u16", lambda p: Path(p).write_bytes(table.centizipfs.tobytes())),
                          (".marisa", table.trie.save)):
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}", suffix=suffix, dir=folder)
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, folder / f"{stem}{suffix}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _open(lang: str, kind: str, folder: Path, stem: str) -> WordTable | None:
    """The cached table, memory-mapped; None when missing or damaged."""
    trie_path, values_path = folder / f"{stem}.marisa", folder / f"{stem}.u16"
    if not trie_path.is_file() or not values_path.is_file():
        return None
    try:
        trie = marisa_trie.Trie()
        trie.mmap(str(trie_path))
        centizipfs = array("H")
        centizipfs.frombytes(values_path.read_bytes())
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("word-frequency cache %s is unreadable (%s); rebuilding it", trie_path, exc)
        return None
    if len(centizipfs) != len(trie):
        log.warning("word-frequency cache %s does not match its values; rebuilding it", trie_path)
        return None
    return WordTable(lang, kind, trie, centizipfs)


def load(lang: str, min_centizipf: int) -> WordTable | None:
    """`lang`'s table from the cache, built there first if need be; None if wordfreq has no
    list for `lang`."""
    found = wordfreq_files().get(lang)
    if found is None:
        return None
    kind, path = found
    folder, stem = cache_dir(), _stem(lang, path, min_centizipf)
    table = _open(lang, kind, folder, stem)
    if table is not None:
        return table
    log.info("building the %s word-frequency table from %s into %s", lang, path, folder)
    table = build(lang, kind, path, min_centizipf)
    try:
        _write(table, folder, stem)
    except OSError as exc:
        log.warning("cannot cache word frequencies in %s (%s); keeping them in memory",
                    folder, exc)
        return table
    return _open(lang, kind, folder, stem) or table


_whole: dict[str, WordTable | None] = {}
_whole_lock = threading.Lock()


def zipf_frequency(word: str, lang: str) -> float:
    """What `wordfreq.zipf_frequency(word, lang)` says of one lower-case token of letters
    (0.0 when the list lacks it; within 0.01, wordfreq rounds to three significant digits),
    from a whole list kept compact and memory-mapped instead of wordfreq's dict."""
    table = _whole.get(lang)
    if table is None and lang not in _whole:
        with _whole_lock:
            if lang not in _whole:
                _whole[lang] = load(lang, 0)
        table = _whole[lang]
    value = table.centizipf(word) if table is not None else None
    return value / 100.0 if value else 0.0
