"""This module contains the alias pattern language of the watchlist and its expansion to forms.

An alias is written once and expanded to every surface form the tagger should accept:

- ``Курск{ru_m}``: the stem ``Курск`` followed by each ending of the suffix class ``ru_m``
  (Курск, Курска, Курску, Курском, Курске). A class may follow any word of a multi-word alias:
  ``Северн{ru_adj:ая} Коре{ru_ya}``; ``:ая`` picks the ending shown as the alias's display form
  (default: the class's first ending).
- A word may be a bare class (``Минобороны {ru_foreign_gen}``): its forms are whole words.
- A leading ``=`` makes the alias case-sensitive: every cased letter written in the alias (not in
  its endings) must have that case in the text, so ``=US`` is not the pronoun "us" and ``=ГУР``
  is not «гур».

Suffix classes are data (the ``suffixes:`` section of the watchlist). A class is a list of
endings, or a mapping with ``forms`` and two flags: ``detached`` (the ending is not part of the
mention's surface: Korean particles) and ``open`` (the word may run on after the ending: German
compounds such as ``Kremlsprecher``). A form may end with a reference to another class
(``군{ko_p}``: the suffix 군 followed by any particle); detached and open endings must end the alias.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from bot.text import nfc

MAX_FORMS_PER_ALIAS = 5000  # a typo such as a class on every word of a long name explodes fast

_REF_RE = re.compile(r"\{([^{}]*)\}")
_CLASS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class PatternError(ValueError):
    """An alias or a suffix class is malformed; the watchlist loader adds file and entity."""


@dataclass(frozen=True, slots=True)
class SuffixClass:
    name: str
    forms: tuple[str, ...]
    detached: bool = False
    open: bool = False


@dataclass(frozen=True, slots=True)
class Ending:
    """One fully expanded ending of a class."""

    text: str
    attached: int  # leading characters of `text` that belong to the mention's surface
    open: bool


@dataclass(frozen=True, slots=True)
class Form:
    """One surface form an alias accepts, as written (NFC, not folded)."""

    text: str
    surface_len: int  # the mention ends here (detached endings excluded)
    open: bool
    case: tuple[tuple[int, bool], ...] | None  # (offset, is_upper) per cased literal letter


def _split_ref(raw: str) -> tuple[str, str | None]:
    """Split a form such as '군{ko_p}' into its literal and its trailing class reference."""
    refs = list(_REF_RE.finditer(raw))
    if not refs:
        if "{" in raw or "}" in raw:
            raise PatternError(f"unbalanced braces in {raw!r}")
        return raw, None
    last = refs[-1]
    if len(refs) > 1 or last.end() != len(raw):
        raise PatternError(f"a suffix form may only end with one class reference: {raw!r}")
    name = last.group(1)
    if not _CLASS_NAME_RE.match(name):
        raise PatternError(f"bad class reference {{{name}}} in {raw!r}")
    return raw[: last.start()], name


class Suffixes:
    """The suffix classes of one watchlist, expanded once."""

    def __init__(self, classes: dict[str, SuffixClass]) -> None:
        self._classes = classes
        self._expanded: dict[str, tuple[Ending, ...]] = {}
        for name in classes:  # validate every class (references, loops) up front
            try:
                self.endings(name)
            except PatternError as exc:
                raise PatternError(f"suffix class {name!r}: {exc}") from None

    def endings(self, name: str, _stack: tuple[str, ...] = ()) -> tuple[Ending, ...]:
        if name in self._expanded:
            return self._expanded[name]
        if name not in self._classes:
            raise PatternError(f"unknown suffix class {{{name}}}")
        if name in _stack:
            loop = " -> ".join(_stack + (name,))
            raise PatternError(f"suffix classes refer to each other in a loop: {loop}")
        cls = self._classes[name]
        out: dict[str, Ending] = {}
        for raw in cls.forms:
            literal, ref = _split_ref(nfc(raw))
            if ref is None:
                tails: tuple[Ending, ...] = (Ending("", 0, False),)
            else:
                tails = self.endings(ref, _stack + (name,))
            for tail in tails:
                # A detached class detaches everything after it, whatever its tail says.
                attached = 0 if cls.detached else len(literal) + tail.attached
                ending = Ending(literal + tail.text, attached, cls.open or tail.open)
                out.setdefault(ending.text, ending)
        self._expanded[name] = tuple(out.values())
        return self._expanded[name]


@dataclass(frozen=True, slots=True)
class _Slot:
    literal: str  # text before the class reference
    cls: str | None
    display: str | None


def _parse(alias: str) -> tuple[bool, list[_Slot]]:
    text = nfc(alias.strip())
    case_sensitive = text.startswith("=")
    if case_sensitive:
        text = text[1:].lstrip()
    if not text:
        raise PatternError("empty alias")
    slots: list[_Slot] = []
    pos = 0
    for match in _REF_RE.finditer(text):
        body = match.group(1)
        name, sep, display = body.partition(":")
        if not _CLASS_NAME_RE.match(name):
            raise PatternError(f"bad class reference {{{body}}}")
        after = text[match.end() : match.end() + 1]
        if after and after.isalnum():
            raise PatternError(f"a class reference must end a word: {{{body}}} is followed by {after!r}")
        slots.append(_Slot(text[pos : match.start()], name, display if sep else None))
        pos = match.end()
    tail = text[pos:]
    if "{" in tail or "}" in tail or any("{" in s.literal or "}" in s.literal for s in slots):
        raise PatternError("unbalanced braces")
    slots.append(_Slot(tail, None, None))
    if not "".join(s.literal for s in slots).strip() and all(s.cls is None for s in slots):
        raise PatternError("empty alias")
    return case_sensitive, slots


def display_form(alias: str, suffixes: Suffixes) -> str:
    """The readable form of an alias: 'Зеленск{ru_adj_m}' -> 'Зеленский'."""
    _, slots = _parse(alias)
    parts = []
    for slot in slots:
        parts.append(slot.literal)
        if slot.cls is not None:
            endings = suffixes.endings(slot.cls)
            if slot.display is not None:
                if slot.display not in {e.text for e in endings}:
                    raise PatternError(f"{slot.display!r} is not an ending of {{{slot.cls}}}")
                parts.append(slot.display)
            else:
                parts.append(endings[0].text)
    return "".join(parts)


def expand(alias: str, suffixes: Suffixes) -> list[Form]:
    """Every form an alias accepts. Raises PatternError on a malformed alias."""
    case_sensitive, slots = _parse(alias)
    choices: list[tuple[Ending, ...]] = []
    for i, slot in enumerate(slots):
        if slot.cls is None:
            continue
        endings = suffixes.endings(slot.cls)
        is_last = i == len(slots) - 2 and not slots[-1].literal
        if not is_last and any(e.open or e.attached < len(e.text) for e in endings):
            raise PatternError(f"{{{slot.cls}}} is detached or open: it may only end the alias")
        if slot.display is not None and slot.display not in {e.text for e in endings}:
            raise PatternError(f"{slot.display!r} is not an ending of {{{slot.cls}}}")
        choices.append(endings)
    total = 1
    for endings in choices:
        total *= len(endings)
    if total > MAX_FORMS_PER_ALIAS:
        raise PatternError(f"expands to {total} forms (limit {MAX_FORMS_PER_ALIAS})")

    forms: list[Form] = []
    for combo in itertools.product(*choices):
        text = ""
        case: list[tuple[int, bool]] = []
        surface_len = 0
        is_open = False
        k = 0
        for slot in slots:
            if case_sensitive:
                case.extend((len(text) + j, ch.isupper()) for j, ch in enumerate(slot.literal)
                            if ch.isupper() or ch.islower())
            text += slot.literal
            if slot.literal:
                surface_len = len(text)
            if slot.cls is not None:
                ending = combo[k]
                k += 1
                surface_len = len(text) + ending.attached
                is_open = ending.open
                text += ending.text
        if not text.strip():
            continue
        forms.append(Form(text, surface_len, is_open, tuple(case) if case_sensitive else None))
    return forms
