"""This module contains the entity watchlist and the tagger that finds its entities in posts.

The watchlist (``config/entities.yaml``) lists people, places, organisations and countries with
aliases per language, written in the pattern language of `bot.pipeline.inflection` so one line
covers every case ending. Loading expands all aliases to folded keys and rejects conflicts.

The tagger runs one Aho-Corasick pass (pyahocorasick) over the folded text, so its cost grows
with the text, not with the watchlist; each hit then passes cheap checks (word boundaries, case
for case-sensitive aliases) and overlaps are resolved longest-first.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

import config
from bot.errors import ConfigError
from bot.files import read_text
from bot.model import Mention
from bot.pipeline.inflection import (
    PatternError,
    SuffixClass,
    Suffixes,
    display_form,
    expand,
)
from bot.text import CYR_LOOKALIKES, LAT_LOOKALIKES, Folded, fold, fold_word, nfc
from bot.yamlio import YamlDoc, format_path, load_yaml, problems_error

log = logging.getLogger(__name__)

ENTITY_TYPES = ("person", "place", "organisation", "country")
BUNDLED_PATH = Path(config.__file__).parent / "entities.yaml"

_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_HASHTAG_RE = re.compile(r"^[^\W_][\w]*$")
_APOSTROPHES = ("'", "\u2019")
_ENTITY_KEYS = {"id", "type", "name", "hashtag", "aliases", "not_in", "implies"}

# pyahocorasick finds a node's child by a linear scan in insertion order, and every character of
# the text that starts no key is looked up at the root. Planting the most frequent characters of
# news text first (space, then Cyrillic, Latin, punctuation, Hangul by corpus frequency) cuts the
# scan of Russian posts by a third; measured in benchmarks/entities.py.
_ROOT_ORDER = (" оаниетврслeaintsrold.,0-12іuкcдmуhмpпzяwзgьbгyбfчkйvхjжqюxцßышїщєфэъґ"
               "이다는에의을가고지로)(:3594'867\"«»—?!/#")
_SPACES = ("\n", "\xa0", "\r", "\t", "\u202f")  # read as plain spaces between alias words
_UNMATCHABLE = "A"  # folded text is lower case: a key ending in "A" never matches
_DUMMY = (None, 2, 2, None, False, True, True)  # a block of no entity: inert even if it matched


@dataclass(frozen=True)
class Entity:
    """One watched entity; `aliases` holds readable forms per language ('Зеленский', 'US')."""

    id: str
    type: str
    name: str
    aliases: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)
    tag: str | None = None  # explicit hashtag, when the name does not make a good one
    implies: tuple[str, ...] = ()  # ids a mention of this entity also counts as, for matching

    @property
    def hashtag(self) -> str:
        """The entity as a Telegram hashtag body: 'North Korea' -> 'NorthKorea'."""
        if self.tag:
            return self.tag
        return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[^\W_]+", self.name))


@dataclass(frozen=True, slots=True)
class Rule:
    """What one folded key means: an alias form of an entity, or a phrase that blocks one."""

    entity_id: str
    alias: str  # the alias as written in the watchlist, for error messages and debugging
    lang: str
    surface_len: int
    open: bool
    case: tuple[tuple[int, bool], ...] | None
    block: bool = False


class _Problems:
    """Problems found while loading, each as `file: key.path (line N): message`."""

    def __init__(self, source: str, doc: YamlDoc | None = None) -> None:
        self.source = source
        self.doc = doc
        self.items: list[str] = []

    def add(self, path: tuple[Any, ...], message: str) -> None:
        if self.doc is not None:
            self.items.append(self.doc.problem(path, message))
        else:
            self.items.append(f"{self.source}: {format_path(path)}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise problems_error(self.items)


class Watchlist:
    """The entities to tag, with every alias expanded to folded keys."""

    def __init__(self, entities: list[Entity], rules: dict[str, Rule], source: str = "<watchlist>"):
        self._entities = {e.id: e for e in entities}
        self._implied = _implied_closure(self._entities)
        self._rules = rules
        self.source = source

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None) -> Watchlist:
        """Read a watchlist file; None means the bundled ``config/entities.yaml``."""
        path = Path(path) if path is not None else BUNDLED_PATH
        text = read_text(path, "watchlist")
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "<watchlist>") -> Watchlist:
        """Build a watchlist from YAML text; `source` names it in error messages."""
        doc = load_yaml(text, source)
        return cls.from_data(doc.data, source, doc)

    @classmethod
    def from_data(cls, data: Any, source: str = "<watchlist>",
                  doc: YamlDoc | None = None) -> Watchlist:
        """Build a watchlist from plain data; `doc` (from `parse`) gives problems their lines."""
        problems = _Problems(source, doc)
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping with `entities:`")
        for key in data:
            if key not in ("version", "suffixes", "entities"):
                problems.add((key,), f"unknown top-level key {key!r}; expected entities, "
                             "suffixes, version")
        suffixes = _load_suffixes(data.get("suffixes") or {}, problems)
        raw_entities = data.get("entities")
        if not isinstance(raw_entities, list) or not raw_entities:
            problems.add(("entities",), "`entities:` must be a non-empty list")
            problems.raise_if_any()
        entities: list[Entity] = []
        rules: dict[str, Rule] = {}
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_entities):
            entity = _load_entity(raw, index, suffixes, problems, rules)
            if entity is None:
                continue
            if entity.id in seen:
                first = seen[entity.id]
                line = doc.line(("entities", first)) if doc else None
                problems.add(("entities", index, "id"),
                             f"duplicate entity id {entity.id!r} (also entities[{first}]"
                             + (f", line {line})" if line else ")"))
                continue
            seen[entity.id] = index
            entities.append(entity)
        _check_implies(entities, problems)
        problems.raise_if_any()
        log.debug("watchlist %s: %d entities, %d keys", source, len(entities), len(rules))
        return cls(entities, rules, source)

    # -- access --------------------------------------------------------------------------------

    def __getitem__(self, entity_id: str) -> Entity:
        return self._entities[entity_id]

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._entities

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._entities.values())

    def __len__(self) -> int:
        return len(self._entities)

    @property
    def ids(self) -> list[str]:
        return list(self._entities)

    def implied(self, entity_ids: Iterable[str]) -> tuple[str, ...]:
        """The ids that the given ones imply (`implies:`, followed through), less those given:
        `russian_mod` implies `russia`, so `entity:russia` finds posts about the Russian MoD."""
        given = set(entity_ids)
        out: dict[str, None] = {}
        for eid in given:
            for implied in self._implied.get(eid, ()):
                if implied not in given:
                    out.setdefault(implied)
        return tuple(out)

    @property
    def rules(self) -> Mapping[str, Rule]:
        """Folded key -> rule, for the tagger and for debugging a match."""
        return self._rules


def _load_suffixes(raw: Any, problems: _Problems) -> Suffixes:
    classes: dict[str, SuffixClass] = {}
    if not isinstance(raw, dict):
        problems.add(("suffixes",), "`suffixes:` must map class names to lists of endings")
        return Suffixes({})
    for name, spec in raw.items():
        where = f"suffix class {name!r}"
        path: tuple[Any, ...] = ("suffixes", name)
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
            problems.add(path, f"{where}: names use lower-case letters, digits and _")
            continue
        flags = {"detached": False, "open": False}
        if isinstance(spec, dict):
            unknown = set(spec) - {"forms", "detached", "open"}
            if unknown:
                problems.add(path, f"{where}: unknown keys {sorted(unknown)}; expected forms, "
                             "detached, open")
            for flag in flags:
                value = spec.get(flag, False)
                if not isinstance(value, bool):
                    problems.add((*path, flag), f"{where}: `{flag}` must be true or false, "
                                 f"got {value!r}")
                flags[flag] = bool(value)
            spec = spec.get("forms")
            path = (*path, "forms")
        if (not isinstance(spec, list) or not spec
                or not all(isinstance(f, str) or f is None for f in spec)):
            problems.add(path, f"{where}: needs a non-empty list of endings (strings)")
            continue
        forms = tuple("" if f is None else f for f in spec)
        classes[name] = SuffixClass(name, forms, flags["detached"], flags["open"])
    try:
        return Suffixes(classes)
    except PatternError as exc:
        problems.add(("suffixes",), str(exc))
        return Suffixes({})


def _load_entity(raw: Any, index: int, suffixes: Suffixes, problems: _Problems,
                 rules: dict[str, Rule]) -> Entity | None:
    at: tuple[Any, ...] = ("entities", index)
    where = f"entities[{index}]"
    if not isinstance(raw, dict):
        problems.add(at, f"{where}: each entity is a mapping with id, type, name, aliases")
        return None
    eid = raw.get("id")
    if not isinstance(eid, str) or not _ID_RE.match(eid):
        problems.add((*at, "id"), f"{where}: `id` must be lower_snake_case, got {eid!r}")
        return None
    where = f"entity {eid!r}"
    for key in sorted(set(raw) - _ENTITY_KEYS, key=str):
        problems.add((*at, key), f"{where}: unknown key {key!r}; expected one of "
                     f"{', '.join(sorted(_ENTITY_KEYS))}")
    etype = raw.get("type")
    if etype not in ENTITY_TYPES:
        problems.add((*at, "type"),
                     f"{where}: `type` must be one of {', '.join(ENTITY_TYPES)}, got {etype!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add((*at, "name"), f"{where}: needs a canonical English `name`")
        name = eid
    tag = raw.get("hashtag")
    if tag is not None and (not isinstance(tag, str) or not _HASHTAG_RE.match(tag)):
        problems.add((*at, "hashtag"), f"{where}: `hashtag` must be letters and digits, got {tag!r}")
        tag = None
    raw_aliases = raw.get("aliases")
    if not isinstance(raw_aliases, dict) or not raw_aliases:
        problems.add((*at, "aliases"),
                     f"{where}: `aliases` must map language codes to lists of aliases")
        return None

    aliases: dict[str, list[str]] = {}
    for lang, items in raw_aliases.items():
        path = (*at, "aliases", lang)
        if not isinstance(lang, str) or not _LANG_RE.match(lang):
            problems.add(path, f"{where}: {lang!r} is not a language code (en, ru, uk, ...)")
            continue
        if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
            problems.add(path, f"{where}: aliases for {lang!r} must be a list of strings"
                         + _not_text(items))
            continue
        shown = aliases.setdefault(lang, [])
        for i, alias in enumerate(items):
            try:
                readable = display_form(alias, suffixes)
                forms = expand(alias, suffixes)
            except PatternError as exc:
                problems.add((*path, i), f"{where}, alias {alias!r} ({lang}): {exc}")
                continue
            if readable not in shown:
                shown.append(readable)
            for form in forms:
                rule = Rule(eid, alias, lang, form.surface_len, form.open, form.case)
                _add_rule(rules, form.text, rule, problems, (*path, i))

    not_in = raw.get("not_in") or []
    if not isinstance(not_in, list) or not all(isinstance(a, str) for a in not_in):
        problems.add((*at, "not_in"), f"{where}: `not_in` must be a list of phrases"
                     + _not_text(not_in))
        not_in = []
    for i, phrase in enumerate(not_in):
        try:
            forms = expand(phrase, suffixes)
        except PatternError as exc:
            problems.add((*at, "not_in", i), f"{where}, not_in phrase {phrase!r}: {exc}")
            continue
        for form in forms:
            rule = Rule(eid, phrase, "", len(form.text), form.open, form.case, block=True)
            _add_rule(rules, form.text, rule, problems, (*at, "not_in", i))
    implies = raw.get("implies") or []
    if not isinstance(implies, list) or not all(isinstance(i, str) for i in implies):
        problems.add((*at, "implies"), f"{where}: `implies` must be a list of entity ids"
                     + _not_text(implies))
        implies = []
    return Entity(eid, etype if isinstance(etype, str) else "", name.strip(), aliases, tag,
                  tuple(dict.fromkeys(implies)))


def _check_implies(entities: list[Entity], problems: _Problems) -> None:
    ids = {e.id for e in entities}
    for index, entity in enumerate(entities):
        for implied in entity.implies:
            if implied == entity.id:
                problems.add(("entities", index, "implies"),
                             f"entity {entity.id!r}: `implies` names the entity itself")
            elif implied not in ids:
                problems.add(("entities", index, "implies"),
                             f"entity {entity.id!r}: implies {implied!r}, which is not an entity "
                             "of this watchlist")


def _implied_closure(entities: Mapping[str, Entity]) -> dict[str, tuple[str, ...]]:
    """Each entity's implied ids, followed through (a implies b implies c: a implies b, c)."""
    closure: dict[str, tuple[str, ...]] = {}
    for eid, entity in entities.items():
        seen: dict[str, None] = {}
        todo = list(entity.implies)
        while todo:
            nxt = todo.pop(0)
            if nxt in seen or nxt == eid or nxt not in entities:
                continue
            seen[nxt] = None
            todo.extend(entities[nxt].implies)
        if seen:
            closure[eid] = tuple(seen)
    return closure


def _not_text(items: Any) -> str:
    """Which item of a list is not text: YAML reads `yes`, `1984` or `2024-01-01` as others."""
    if not isinstance(items, list):
        return f", got {items!r}"
    bad = next((a for a in items if not isinstance(a, str)), None)
    return f", got {bad!r} (put it in quotes to make it text)"


def _add_rule(rules: dict[str, Rule], text: str, rule: Rule, problems: _Problems,
              path: tuple[Any, ...] = ()) -> None:
    key = fold_word(text)
    if len(key) != len(text):  # offsets into the text rely on folding keeping lengths
        problems.add(path, f"entity {rule.entity_id!r}, alias {rule.alias!r}: form {text!r} "
                     "changes length when folded")
        return
    variants = [key]
    for a, b in (_APOSTROPHES, _APOSTROPHES[::-1]):
        if a in key:
            variants.append(key.replace(a, b))
    for key in variants:
        old = rules.get(key)
        if old is None:
            rules[key] = rule
            continue
        if old.entity_id != rule.entity_id or old.block != rule.block:
            what = "not_in phrase" if rule.block else "alias"
            old_what = "not_in phrase" if old.block else "alias"
            problems.add(path,
                f"entity {rule.entity_id!r}, {what} {rule.alias!r}: form {text!r} is also a form "
                f"of {old_what} {old.alias!r} of entity {old.entity_id!r}")
            continue
        # Same entity twice: keep the most permissive reading of the key.
        if (old.case is not None and rule.case is None) or (rule.open and not old.open):
            rules[key] = rule


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def _lookalike_variant(key: str) -> str | None:
    """The key spelled wholly in the other script's look-alike letters ("курск" -> "kypck"),
    when every letter has a twin and there are enough of them to make a coincidence with a
    real word of the other script unlikely; None otherwise."""
    letters = [c for c in key if c.isalpha()]
    if len(letters) < _MIN_VARIANT_LETTERS:
        return None
    for twins, table in ((CYR_LOOKALIKES, _CYR_TO_LAT_KEY), (LAT_LOOKALIKES, _LAT_TO_CYR_KEY)):
        if all(c in twins for c in letters):
            return key.translate(table)
    return None


_MIN_VARIANT_LETTERS = 4
_CYR_TO_LAT_KEY = str.maketrans(CYR_LOOKALIKES, "aceopxykmtbhii")
_LAT_TO_CYR_KEY = str.maketrans(LAT_LOOKALIKES, "асеорхукмтвні")
# Hyphens and dashes read as a plain space between alias words ("North-Korean"), like the
# frequent spaces; `bot.text.fold` has already made every rarer space and hyphen a space.
# Same length, so offsets stay valid.
_FREQUENT_SEPARATORS = (*_SPACES, "-", "\u2013", "\u2014")


def _plain_spaces(text: str) -> str:
    for space in _FREQUENT_SEPARATORS:  # plain replaces run in C; str.translate is far slower
        if space in text:
            text = text.replace(space, " ")
    return text


class Tagger:
    """Finds watchlist entities in folded text.

    Besides each folded key, the automaton holds the key with its hyphens read as spaces
    (as the text is read) and, for a key written wholly in letters Latin and Cyrillic share,
    its look-alike spelling in the other script ("Kypck" for Курск): such a word is folded to
    neither script by `bot.text.fold`, and only a watchlist form makes it worth reading as
    the other script. A look-alike spelling that is itself a key keeps its own meaning."""

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        # Which entities may be reported inside another's mention, and inside which.
        self._inner_ok = frozenset(e.id for e in watchlist if e.type in ("country", "place"))
        self._outer_ok = frozenset(e.id for e in watchlist if e.type in ("organisation", "person"))
        self._automaton: ahocorasick.Automaton | None = None
        keys: dict[str, Rule] = {}
        for key, rule in watchlist.rules.items():
            plain = _plain_spaces(key)
            old = keys.setdefault(plain, rule)
            if old is not rule and (old.entity_id, old.block) != (rule.entity_id, rule.block):
                log.warning("watchlist %s: %r and another form read alike once hyphens are "
                            "spaces; keeping %s's", watchlist.source, key, old.entity_id)
        for key, rule in list(keys.items()):
            variant = _lookalike_variant(key)
            if variant is not None:
                keys.setdefault(variant, rule)
        automaton = ahocorasick.Automaton()
        for ch in dict.fromkeys(_ROOT_ORDER):
            automaton.add_word(ch + _UNMATCHABLE, _DUMMY)
        for key, rule in keys.items():
            # A Latin/Cyrillic key may be followed directly by a Korean particle ("EU는").
            script_tail = not _is_hangul(key[-1])
            automaton.add_word(key, (rule.entity_id, len(key), rule.surface_len, rule.case,
                                     rule.open, script_tail, rule.block))
        self.keys = len(keys)
        if keys:
            automaton.make_automaton()
            self._automaton = automaton

    def tag_text(self, text: str) -> list[Mention]:
        """Fold and tag; offsets index `text` after NFC normalisation."""
        return self.tag(fold(nfc(text)))

    def tag(self, folded: Folded) -> list[Mention]:
        """Mentions sorted by start. The longest match wins; a country or place wholly inside
        an organisation's or person's name is kept too («Минобороны России»: russian_mod, russia).

        Linear in the text: one automaton pass, a word-end lookup cached per word, and the
        overlap and block checks done on sorted spans rather than pair by pair."""
        if self._automaton is None:
            return []
        s = _plain_spaces(folded.folded)  # aliases are keyed with plain spaces
        n = len(s)
        found: list[tuple[int, int, int, str]] = []
        blocks: list[tuple[int, int, str]] | None = None
        open_end = -1, -1  # (from, to): the end of the word last scanned by an open key
        for last, (eid, klen, slen, case, is_open, script_tail, block) in self._automaton.iter(s):
            start = last - klen + 1
            if start and s[start - 1].isalnum():
                continue
            end = last + 1
            if end < n and s[end].isalnum():
                if is_open:
                    if not open_end[0] <= end < open_end[1]:  # not inside the word last scanned
                        open_end = end, _WORD_END_RE.match(s, end).end()  # type: ignore[union-attr]
                    end = open_end[1]
                    slen = end - start
                elif not (script_tail and "\uac00" <= s[end] <= "\ud7a3"):
                    continue
            if case is not None and not _case_matches(folded, start, case):
                continue
            if block:
                if blocks is None:
                    blocks = []
                blocks.append((start, end, eid))
            else:
                found.append((end - start, start, start + slen, eid))
        if not found:
            return []
        if blocks:
            found = _unblocked(found, blocks)
        if len(found) > 1:
            found = _longest_first(found, n, self._outer_ok, self._inner_ok)
        text = folded.text
        mentions = []
        for _, start, end, eid in found:
            a, b = folded.span(start, end)
            mentions.append(Mention(eid, text[a:b], a, b))
        return mentions


# isalnum() characters exactly: \w is isalnum() plus the underscore.
_WORD_END_RE = re.compile(r"[^\W_]*")


def _unblocked(found: list[tuple[int, int, int, str]],
               blocks: list[tuple[int, int, str]]) -> list[tuple[int, int, int, str]]:
    """The hits no `not_in` phrase of their own entity covers. Per entity the blocks are
    sorted by start with a running maximum of their ends, so each hit costs one bisect."""
    by_entity: dict[str, tuple[list[int], list[int]]] = {}
    for b_start, b_end, eid in sorted(blocks):
        starts, ends = by_entity.setdefault(eid, ([], []))
        starts.append(b_start)
        ends.append(max(b_end, ends[-1]) if ends else b_end)
    kept = []
    for hit in found:
        table = by_entity.get(hit[3])
        if table is not None:
            i = bisect_right(table[0], hit[1])  # blocks starting at or before the hit
            if i and table[1][i - 1] >= hit[2]:
                continue
        kept.append(hit)
    return kept


def _longest_first(found: list[tuple[int, int, int, str]], size: int,
                   outer_ok: frozenset[str] = frozenset(),
                   inner_ok: frozenset[str] = frozenset()) -> list[tuple[int, int, int, str]]:
    """Greedy overlap resolution, longest (then leftmost) first, sorted back by start.

    A hit overlapping a chosen one is dropped, except a hit of `inner_ok` (countries, places)
    lying wholly inside mentions of `outer_ok` (organisations, people): «Минобороны России» is
    also a mention of Russia. An organisation inside another name («Минобороны» in «Минобороны
    США») and a country inside another country's name stay part of that name.

    A bytearray marks the characters already taken (2: by an outer-capable mention, 1: by any
    other), so testing a candidate costs its own length, not the mentions chosen before it."""
    found.sort(key=lambda f: (-f[0], f[1]))
    taken = bytearray(size + 1)
    chosen = []
    for cand in found:
        start, end, eid = cand[1], cand[2], cand[3]
        if taken.find(1, start, end) == -1 and taken.find(2, start, end) == -1:
            mark = b"\x02" if eid in outer_ok else b"\x01"
        elif (eid in inner_ok and taken.find(0, start, end) == -1
              and taken.find(1, start, end) == -1):
            mark = b"\x01"  # nested inside outer names only; blocks other inner hits here
        else:
            continue
        taken[start:end] = mark * (end - start)
        chosen.append(cand)
    chosen.sort(key=lambda f: f[1])
    return chosen


def _case_matches(folded: Folded, start: int, case: tuple[tuple[int, bool], ...]) -> bool:
    text = folded.text
    for offset, upper in case:
        i = folded.span(start + offset, start + offset + 1)[0]
        if text[i].isupper() != upper:
            return False
    return True
