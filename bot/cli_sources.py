"""This module contains `wirewatch sources import|export`: feed lists as OPML files.

Newsrooms keep their feed lists as OPML (every feed reader imports and exports it). `import`
reads one with `listparser` (OPML 1.0/2.0, nested folders) and adds each feed as an `rss`
source of the configured store, skipping addresses it already has; `--check` fetches each
feed once first and skips the ones that cannot be read, saying why. `export` writes every
`rss` source as OPML 2.0. A running `wirewatch run` picks imported sources up within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import unicodedata
from pathlib import Path
from typing import IO
from xml.etree import ElementTree as ET

from bot.errors import SourceError, UserError
from bot.ports import SourceRecord, Store
from bot.settings import load_settings
from bot.storage import open_store
from bot.terminal import safe_line

PLATFORM = "rss"
ACTOR = "cli:sources"
_ID_CLEAN = re.compile(r"[^a-z0-9_]+")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `sources import|export` to the `wirewatch` command line."""
    p = sub.add_parser("sources", help="import or export feed sources as OPML")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    imp = verbs.add_parser("import", help="add every feed of an OPML file as an rss source")
    imp.add_argument("file", help="the OPML file")
    imp.add_argument("--config", required=True, help="config naming the store")
    imp.add_argument("--check", action="store_true",
                     help="fetch each feed once and skip the ones that cannot be read")
    imp.set_defaults(func=cmd_import)
    exp = verbs.add_parser("export", help="write every rss source as OPML 2.0")
    exp.add_argument("--config", required=True, help="config naming the store")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.set_defaults(func=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    store = open_store(load_settings(args.config).storage)
    try:
        return import_opml(store, Path(args.file), sys.stdout, check=args.check)
    finally:
        store.close()


def cmd_export(args: argparse.Namespace) -> int:
    store = open_store(load_settings(args.config).storage)
    try:
        text = export_opml(store)
    finally:
        store.close()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(url, title) of every feed in an OPML file; UserError when it is none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    import listparser  # here: it imports requests, which no other command needs

    parsed = listparser.parse(data)
    feeds = [(str(f.url).strip(), str(f.get("title") or "").strip()) for f in parsed.feeds]
    if not feeds:
        why = f" ({parsed.get('bozo_exception')})" if parsed.get("bozo") else ""
        raise UserError(f"{path}: no feeds found in it{why}")
    return feeds


def import_opml(store: Store, path: Path, out: IO[str], *, check: bool = False) -> int:
    feeds = read_opml(path)
    existing = store.sources()
    ids = {s.id for s in existing}
    addresses = {s.address for s in existing if s.platform == PLATFORM}
    problems = asyncio.run(_check(feeds)) if check else {}
    added = skipped = 0
    for url, title in feeds:
        if url in addresses:
            skipped += 1
            continue
        if url in problems:
            out.write(safe_line(f"skipped {url}: {problems[url]}") + "\n")
            skipped += 1
            continue
        if not re.fullmatch(r"https?://\S+", url, re.I):
            out.write(safe_line(f"skipped {url!r}: not an http(s) address") + "\n")
            skipped += 1
            continue
        source_id = unique_id(title or url, ids)
        store.add_source(SourceRecord(source_id, PLATFORM, url, title or None), ACTOR)
        store.audit(ACTOR, "source.add", None, id=source_id, kind=PLATFORM, address=url)
        ids.add(source_id)
        addresses.add(url)
        added += 1
    out.write(f"{added} feeds added, {skipped} skipped, from {len(feeds)} in {path.name}\n")
    return 0


async def _check(feeds: list[tuple[str, str]]) -> dict[str, str]:
    """Why each unusable feed cannot be used, by URL (a few fetches at a time)."""
    from bot.sources import http
    from bot.sources.rss import probe

    gate = asyncio.Semaphore(8)
    problems: dict[str, str] = {}
    async with http.make_client(timeout=15.0) as client:
        async def one(url: str) -> None:
            async with gate:
                try:
                    await probe(url, client=client)
                except (SourceError, ValueError) as exc:
                    problems[url] = str(exc)

        await asyncio.gather(*(one(url) for url, _ in feeds))
    return problems


def unique_id(text: str, taken: set[str]) -> str:
    """A source id from a feed's title: lower-case ASCII words joined by `_`, made unique."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = re.sub(r"^https?://(www\.)?", "", ascii_text.lower())
    base = _ID_CLEAN.sub("_", ascii_text).strip("_")[:40].strip("_") or "feed"
    if not base[0].isalpha():
        base = f"feed_{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def export_opml(store: Store) -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "wirewatch feeds"
    body = ET.SubElement(root, "body")
    for source in store.sources():
        if source.platform == PLATFORM:
            ET.SubElement(body, "outline", type="rss", text=source.name or source.id,
                          title=source.name or source.id, xmlUrl=source.address)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
