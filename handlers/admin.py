"""This module contains the moderator commands for keywords, sources and the room language."""

from __future__ import annotations

import asyncio
import logging
import re

from bot.errors import BadQuery, SourceError, TranslationUnavailable
from bot.languages import check_target
from bot.pipeline.runner import keyword_query
from bot.ports import Keyword, SourceRecord
from bot.render import LANGUAGE_NAMES
from bot.sources.rss import probe as probe_feed
from bot.text import WORD_RE
from handlers.context import Services
from handlers.guards import NOT_ALLOWED, moderator_only
from handlers.request import Reply, Request, refuse

log = logging.getLogger(__name__)

_SOURCE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
NOT_OPERATOR = ("Only operators (user ids listed in the config) can change the sources: they "
                "are shared by every room. Nothing was changed.")
KEYWORDS_USAGE = ("Usage: /keywords list | /keywords add <word or phrase> | "
                  "/keywords keep <keyword>[: variant, variant ...] | /keywords remove <keyword>")
_QUOTES_RE = re.compile("[\"«»“”„‟]")


async def _propose(svc: Services, keyword: str, room_language: str) -> dict[str, str]:
    """Translations of a keyword into the watched languages, via the translation layer.
    The keyword's own language is detected: a moderator may type «Суджа» in an English room."""
    if svc.translator is None:
        return {}
    found = svc.pipeline.analyzer.detector.detect(keyword)
    source = found.lang if found.lang != "und" else room_language
    targets = [lang for lang in svc.watched_languages if lang != source]

    async def one(lang: str) -> tuple[str, str | None]:
        try:
            result = await asyncio.wait_for(svc.translator.translate(keyword, source, lang), 8)
        except (TranslationUnavailable, TimeoutError):
            return lang, None
        text = result.text.strip()
        return lang, text if text and text.lower() != keyword.lower() else None

    found = await asyncio.gather(*(one(lang) for lang in targets))
    return {lang: text for lang, text in found if text}


async def keywords(req: Request, svc: Services) -> Reply:
    """Manage this room's keywords: /keywords add|keep|remove|list."""
    verb, _, rest = req.args.strip().partition(" ")
    rest = " ".join(_QUOTES_RE.sub(" ", rest).split())
    verb = verb.lower() or "list"
    if verb == "list":
        room = svc.room_for(req.platform, req.chat, req.thread)
        items = svc.store.keywords(room.id) if room else []
        if not items:
            return Reply("No keywords. Add one with /keywords add <word>.")
        lines = [f"• {k.keyword}" + (f" ({', '.join(k.variants)})" if k.variants else "")
                 for k in items]
        return Reply("Keywords:\n" + "\n".join(lines))
    if verb not in ("add", "keep", "remove") or not rest:
        return refuse(KEYWORDS_USAGE)
    if not req.is_moderator:
        return refuse(NOT_ALLOWED)
    room = svc.room_to_change(req)
    if verb == "remove":
        if not svc.store.remove_keyword(room.id, rest):
            return refuse(f"No keyword {rest!r} here.")
        svc.store.audit(req.actor, "keyword.remove", room.id, keyword=rest)
        svc.pipeline.reload()
        return Reply(f"Removed keyword {rest!r}.")
    if verb == "add":
        if len(rest) > 100:
            return refuse("A keyword is at most 100 characters.")
        try:
            keyword_query(rest)
        except BadQuery:
            return refuse(f"{rest!r} has no word to match; a keyword needs letters or digits.")
        svc.store.add_keyword(room.id, rest, None, req.actor)  # an existing one keeps its variants
        svc.store.audit(req.actor, "keyword.add", room.id, keyword=rest)
        svc.pipeline.reload()
        proposals = await _propose(svc, rest, room.language)
        svc.proposals[(room.id, rest.lower())] = proposals
        if not proposals:
            return Reply(f"Added keyword {rest!r} (no translations proposed: translator unavailable).")
        shown = ", ".join(f"{lang}: {text}" for lang, text in proposals.items())
        return Reply(f"Added keyword {rest!r}. Proposed translations: {shown}.\n"
                     f"Keep them all with /keywords keep {rest}, or list the ones to keep: "
                     f"/keywords keep {rest}: <variant>, <variant> ...; the rest are dropped.")
    # keep: store chosen (or all proposed) variants with the keyword
    known = {k.keyword.lower(): k for k in svc.store.keywords(room.id)}
    keyword, chosen = split_keep(rest, known)
    if keyword is None:
        return refuse(f"No keyword at the start of {rest!r}: add it first with /keywords add.")
    proposed = svc.proposals.pop((room.id, keyword.lower()), {})
    variants = chosen or list(proposed.values())
    variants = [v for v in dict.fromkeys(variants) if WORD_RE.search(v)]
    try:
        keyword_query(keyword, tuple(variants))  # what the pipeline will compile
    except BadQuery as exc:
        return refuse(f"These variants cannot be matched ({exc}); nothing was changed.")
    if not variants:
        return refuse(f"Nothing to keep for {keyword!r}: name the variants, e.g. "
                      f"/keywords keep {keyword}: <variant>, <variant>")
    svc.store.add_keyword(room.id, keyword, variants, req.actor)
    svc.store.audit(req.actor, "keyword.keep", room.id, keyword=keyword, variants=variants)
    svc.pipeline.reload()
    return Reply(f"Keyword {keyword!r} now also matches: {', '.join(variants)}.")


def split_keep(rest: str, known: dict[str, Keyword]) -> tuple[str | None, list[str]]:
    """`keyword: v1, v2` (any keyword, phrases as variants), or `keyword v1 v2` (one-word
    variants) where `keyword` is the longest stored keyword `rest` starts with."""
    head, colon, tail = rest.partition(":")
    if colon and head.strip().lower() in known:
        found = known[head.strip().lower()].keyword
        return found, [v.strip() for v in tail.split(",") if v.strip()]
    lowered = rest.lower()
    for kw in sorted(known, key=len, reverse=True):
        if lowered == kw or lowered.startswith(kw + " "):
            remainder = rest[len(kw):]
            parts = remainder.split(",") if "," in remainder else remainder.split()
            return known[kw].keyword, [v.strip() for v in parts if v.strip()]
    return None, []


async def sources(req: Request, svc: Services) -> Reply:
    """Manage monitored sources: /sources list | add <id> <kind> <address> | remove <id>."""
    parts = req.args.split()
    verb = parts[0].lower() if parts else "list"
    if verb == "list":
        items = svc.store.sources()
        if not items:
            return Reply("No sources. Add one with /sources add <id> <kind> <address>.")
        health = svc.health().get("sources", {})
        lines = []
        for s in items:
            state = health.get(s.id, {})
            status = "" if not state else (" ✓" if state.get("ok") else f" ✗ {state.get('last_error')}")
            lines.append(f"• {s.id} [{s.platform}] {s.address}{'' if s.enabled else ' (disabled)'}{status}")
        return Reply("Sources:\n" + "\n".join(lines))
    if not req.is_operator:
        return refuse(NOT_OPERATOR)
    if verb == "add":
        kinds = svc.source_kinds
        if len(parts) != 4 or parts[2] not in kinds or not _SOURCE_ID_RE.match(parts[1]):
            return refuse("Usage: /sources add <id> <kind> <address>; kind is one of "
                          + ", ".join(kinds) + " here (e.g. /sources add rybar telegram_public rybar)")
        try:
            address = source_address(parts[2], parts[3])
        except ValueError as exc:
            return refuse(f"Not a valid {parts[2]} address: {exc}")
        note = ""
        if parts[2] == "rss":  # fetch once: a feed that cannot be read is refused now
            try:
                found = await probe_feed(address)
            except (SourceError, ValueError) as exc:
                return refuse(f"Cannot use {address} as a feed: {exc}")
            address, note = found.url, f" “{found.title}”, {found.items} items now; new ones alert."
        record = SourceRecord(parts[1], parts[2], address)
        if not svc.store.add_source(record, req.actor):
            return refuse(f"A source {parts[1]} exists already.")
        svc.store.audit(req.actor, "source.add", None, id=record.id, kind=record.platform,
                        address=record.address)
        return Reply(f"Added source {record.id} ({record.platform} {record.address}).{note}")
    if verb == "remove" and len(parts) == 2:
        if not svc.store.remove_source(parts[1]):
            return refuse(f"No source {parts[1]}.")
        svc.store.audit(req.actor, "source.remove", None, id=parts[1])
        return Reply(f"Removed source {parts[1]}.")
    return refuse("Usage: /sources list | /sources add <id> <kind> <address> | /sources remove <id>")


def source_address(kind: str, text: str) -> str:
    """The canonical address of a source, or ValueError: a bad one would fail every start."""
    if kind == "telegram_public":
        from bot.sources.telegram_public import normalize_username

        return normalize_username(text)
    value = text.strip()
    if kind == "rss":
        if not re.fullmatch(r"https?://[^\s/]+\S*", value, re.I):
            raise ValueError(f"a feed is an http(s) address, not {value!r}")
        return value
    if not re.fullmatch(r"-?\d{5,25}", value):
        raise ValueError(f"{kind} sources are numeric chat or channel ids, not {value!r}")
    return value


@moderator_only
async def lang(req: Request, svc: Services) -> Reply:
    """Set the language alerts are translated into here: /lang <code>."""
    code = req.args.strip().lower()
    if not code:
        return refuse("Usage: /lang <code>, a two-letter language code (en, ru, uk, de, fr, pl, ko, ...).")
    try:
        code = check_target(code)  # the same rule as a room's language in the config
    except ValueError as exc:
        return refuse(f"{exc}.")
    room = svc.room_to_change(req)
    svc.store.set_room_language(room.id, code)
    svc.store.audit(req.actor, "lang", room.id, language=code, previous=room.language)
    return Reply(f"Alerts here will be translated into {LANGUAGE_NAMES.get(code, code)} ({code}).")
