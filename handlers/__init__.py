"""This package contains every chat command once, platform-neutral.

`COMMANDS` is the one table both bindings and /help iterate: a command is a plain async
function `(Request, Services) -> Reply` whose docstring's first line is its help text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.errors import UserError
from handlers import admin, info, posts, subscriptions
from handlers.context import Services
from handlers.guards import Handler
from handlers.request import Item, Reply, Request, refuse

log = logging.getLogger(__name__)

__all__ = ["COMMANDS", "Command", "Item", "Reply", "Request", "Services", "dispatch", "help_text"]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    usage: str = ""  # argument synopsis, e.g. "<query> [n]"
    takes_text: bool = False  # Discord: a `query` string option

    @property
    def summary(self) -> str:
        doc = (self.handler.__doc__ or "").strip().splitlines()
        return doc[0] if doc else self.name

    @property
    def moderator_only(self) -> bool:
        return bool(getattr(self.handler, "moderator_only", False))


_TABLE = [
    Command("start", info.start),
    Command("help", info.help_),
    Command("recent", posts.recent, "[query] [n]", True),
    Command("search", posts.search, "<query> [n]", True),
    Command("subscribe", subscriptions.subscribe, "<query>", True),
    Command("unsubscribe", subscriptions.unsubscribe, "<id>", True),
    Command("subscriptions", subscriptions.subscriptions),
    Command("pause", subscriptions.pause, "<id>", True),
    Command("resume", subscriptions.resume, "<id>", True),
    Command("keywords", admin.keywords, "add|keep|remove|list [keyword]", True),
    Command("sources", admin.sources, "list|add|remove ...", True),
    Command("lang", admin.lang, "<code>", True),
    Command("status", info.status),
    Command("test", info.test, "<text>", True),
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
        return refuse("Sorry, that command failed on our side; it has been logged.")
