"""This package contains every chat command once, platform-neutral.

`COMMANDS` is the one table both bindings and /help iterate: a command is a plain async
function `(Request, Services) -> Reply` whose docstring's first line is its help text, and
its entry says what arguments it takes, how they are described and completed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from bot.errors import UserError
from handlers import admin, info, posts, stories, subscriptions
from handlers.context import Services
from handlers.guards import Handler
from handlers.request import Item, Reply, Request, refuse

log = logging.getLogger(__name__)

COMMAND_FAILED = "Sorry, that command failed on our side; it has been logged."

__all__ = ["COMMANDS", "COMMAND_FAILED", "Command", "Completion", "Item", "Reply", "Request", "Services", "dispatch", "help_text"]


Completion = Literal["query", "subscription", "language"]


@dataclass(frozen=True)
class Command:
    """One chat command: its handler, its help line and the arguments a binding offers.

    `text` describes the free-text argument (a Discord string option `query`; Telegram takes
    whatever follows the command); a command without it takes no argument. `usage` starting
    with "<" makes the text required. `complete` names what autocomplete offers for the text,
    `limit` adds a post count (a Discord integer option `limit`, 1 to MAX_LIMIT)."""

    name: str
    handler: Handler
    usage: str = ""  # argument synopsis for /help, e.g. "<query> [n]"
    text: str = ""
    complete: Completion | None = None
    limit: bool = False

    @property
    def summary(self) -> str:
        doc = (self.handler.__doc__ or "").strip().splitlines()
        return doc[0] if doc else self.name

    @property
    def moderator_only(self) -> bool:
        """Set by the `moderator_only` guard on the handler, the one place that enforces it."""
        return bool(getattr(self.handler, "moderator_only", False))

    @property
    def takes_text(self) -> bool:
        return bool(self.text)

    @property
    def text_required(self) -> bool:
        return self.takes_text and self.usage.startswith("<")


_SUBSCRIPTION_ID = "subscription id (see /subscriptions)"
_TABLE = [
    Command("start", info.start),
    Command("help", info.help_),
    Command("recent", posts.recent, "[query] [n]", "optional query, e.g. entity:kursk AND troops",
            "query", limit=True),
    Command("search", posts.search, "<query> [n]",
            "query, e.g. entity:north_korea AND (entity:kursk OR troops)", "query", limit=True),
    Command("story", stories.story, "<id>", "story id (shown by /recent and /search)"),
    Command("subscribe", subscriptions.subscribe, "<query>",
            "query to alert on, e.g. entity:north_korea AND entity:kursk", "query"),
    Command("unsubscribe", subscriptions.unsubscribe, "<id>", _SUBSCRIPTION_ID, "subscription"),
    Command("subscriptions", subscriptions.subscriptions),
    Command("pause", subscriptions.pause, "<id>", _SUBSCRIPTION_ID, "subscription"),
    Command("resume", subscriptions.resume, "<id>", _SUBSCRIPTION_ID, "subscription"),
    Command("keywords", admin.keywords, "add|keep|remove|list [keyword]",
            "list | add <word> | keep <keyword> [variant ...] | remove <keyword>"),
    Command("sources", admin.sources, "list|add|remove ...",
            "list | add <id> <kind> <address> | remove <id>"),
    Command("lang", admin.lang, "<code>", "language code for this room's alerts, e.g. en", "language"),
    Command("status", info.status),
    Command("test", info.test, "<text>", "text to dry-run against entities, topics and subscriptions",
            "query"),
]
COMMANDS: dict[str, Command] = {c.name: c for c in _TABLE}

QUERY_HELP = (
    "Queries: words, \"exact phrases\", prefix*, AND / OR / NOT, (parentheses), NEAR/3, "
    "entity:kursk, topic:conflict, lang:ru, source:<id>. Example: "
    "entity:north_korea AND (entity:kursk OR troops)"
)


def help_text() -> str:
    lines = ["Commands:"]
    for cmd in _TABLE:
        if cmd.name == "start":
            continue
        usage = f" {cmd.usage}" if cmd.usage else ""
        mod = " (moderators)" if cmd.moderator_only else ""
        lines.append(f"/{cmd.name}{usage} — {cmd.summary}{mod}")
    lines.append("")
    lines.append(QUERY_HELP)
    return "\n".join(lines)


async def dispatch(req: Request, svc: Services) -> Reply:
    """Run a command; unknown commands and user errors become short answers, never crashes."""
    command = COMMANDS.get(req.command.lower())
    if command is None:
        return refuse(f"Unknown command /{req.command}. Try /help.")
    try:
        return await command.handler(req, svc)
    except UserError as exc:
        return refuse(str(exc))
    except Exception:
        log.exception("command /%s failed", req.command)
        return refuse(COMMAND_FAILED)
