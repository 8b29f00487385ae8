"""This module contains the `wirewatch` command line: run, demo, analyze, search, replay,
check-config. Bad config or input gets a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import IO

from bot.errors import ConfigError, WirewatchError
from bot.logsafe import install as install_redaction
from bot.logsafe import redact
from bot.settings import Settings, load_settings
from bot.terminal import SafeFormatter, safe

EXIT_CONFIG = 2
CHECK_CONFIG_EXITS = """exit codes:
  0  the config is usable; environment problems are printed as warnings
  2  problems, each with file, key path and line: `run` refuses this config
     (with --strict also environment problems: exactly what `run` refuses here)"""
log = logging.getLogger("wirewatch")


def _settings(path: str | None) -> Settings:
    from config import path as bundled

    return load_settings(path or bundled("demo.yaml"))


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.checks import check_config_file

    return check_config_file(args.path, strict=args.strict, out=sys.stdout, err=sys.stderr)


def cmd_analyze(args: argparse.Namespace) -> int:
    from bot.analyze import analyze_lines

    settings = _settings(args.config)
    return analyze_lines(settings, sys.stdin, sys.stdout, sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    from bot.cli_search import search

    return search(_settings(args.config), args.query, args.limit, args.json, sys.stdout,
                  configured=args.config is not None)


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio  # here: search and analyze never start an event loop

    from bot.replay import replay

    return asyncio.run(replay(_settings(args.config), args.file, deliver=args.deliver,
                              limit=args.limit, in_memory=args.config is None,
                              errors_file=args.errors))


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from bot.demo import demo

    return asyncio.run(demo())


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.service import run

    return asyncio.run(run(load_settings(args.config), role=args.role))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


DASH_HINT = ("a query that starts with '-' (NOT) must follow '--', as in: "
             "wirewatch search -- '-word'")


class _Parser(argparse.ArgumentParser):
    """argparse whose messages are terminal-safe (they quote what was typed)."""

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        super()._print_message(safe(message), file)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wirewatch",
        description="Multilingual media monitoring for Telegram and Discord newsrooms.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run every configured platform until SIGTERM/SIGINT")
    p.add_argument("--config", required=True, help="path to the YAML config")
    p.add_argument("--role", choices=("all", "ingest", "relay"), default="all",
                   help="ingest: receive, store, answer commands; relay: only send alerts")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="replay bundled sample posts offline into console alerts")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("analyze", help="JSON lines {id, text} on stdin -> analysis on stdout")
    p.add_argument("--config", help="config (default: the bundled demo config)")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("search", help="search stored posts with the query language",
                       epilog=DASH_HINT)
    p.add_argument("query", nargs="?", help="the query (after '--' if it starts with '-')")
    p.add_argument("--config", help="config naming the store (default: the demo store)")
    p.add_argument("--limit", type=_positive, default=10, help="at most N hits (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("replay", help="run a JSONL(.gz) file of posts through the pipeline")
    p.add_argument("file", help="JSON lines, plain or gzipped; '-' reads stdin")
    p.add_argument("--config", help="config (default: bundled demo rooms, in-memory store)")
    p.add_argument("--deliver", action="store_true",
                   help="also deliver the alerts (without it, matches are counted, not queued)")
    p.add_argument("--limit", type=_positive, default=None, help="stop after N posts")
    p.add_argument("--errors", metavar="FILE", help="write every skipped line's reason to FILE")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("check-config", help="validate a config file; exit 2 on problems",
                       epilog=CHECK_CONFIG_EXITS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path")
    p.add_argument("--strict", action="store_true",
                   help="environment problems (unset token or webhook variables) are errors")
    p.set_defaults(func=cmd_check_config)

    from bot.cli_rooms import add_parser as add_rooms_parser

    add_rooms_parser(sub)

    from bot.cli_sources import register as register_sources  # sources import|export (OPML)

    register_sources(sub)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments; `search -x` takes "-x" as the query (argparse would take an option)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "search" and args.query is None and len(extra) == 1 \
            and extra[0].startswith("-") and not extra[0].startswith("--"):
        args.query, extra = extra[0], []
    if extra:
        hint = f"\n  hint: {DASH_HINT}" if args.command == "search" else ""
        parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if args.command == "search" and args.query is None:
        parser.error(f"search needs a query\n  hint: {DASH_HINT}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet = args.command in ("demo", "analyze", "search", "replay")  # their output is the point
    handler = logging.StreamHandler(sys.stderr)
    # Log lines quote posts, names and remote errors: they must not drive the terminal either.
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR if quiet else logging.INFO,
        handlers=[handler],
    )
    for noisy in ("httpx", "httpcore", "discord", "telegram", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_redaction()  # no token in any log line or traceback
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {safe(redact(str(exc)))}", file=sys.stderr)
        if len(exc.problems) > 1 or exc.problems[0] != str(exc):
            for problem in exc.problems:
                print(f"  - {safe(redact(problem))}", file=sys.stderr)
        return EXIT_CONFIG
    except WirewatchError as exc:
        print(f"error: {safe(redact(str(exc)))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
