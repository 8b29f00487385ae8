"""The one command table drives the Discord slash commands: options, descriptions, autocomplete."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord import app_commands

from bot.settings import DiscordSettings
from handlers import COMMANDS, Command
from handlers.discord_binding import make_command
from handlers.posts import MAX_LIMIT


@pytest.fixture
def tree() -> app_commands.CommandTree:
    return app_commands.CommandTree(discord.Client(intents=discord.Intents.default()))


def slash(command: Command, tree: app_commands.CommandTree) -> dict[str, Any]:
    settings = DiscordSettings()
    return make_command(command, None, settings).to_dict(tree)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_slash_command_takes_what_its_table_entry_says(name: str, tree: app_commands.CommandTree) -> None:
    command = COMMANDS[name]
    payload = slash(command, tree)
    options = {o["name"]: o for o in payload.get("options", [])}
    assert payload["description"].startswith(command.summary[:90])
    assert ("(moderators)" in payload["description"]) == command.moderator_only
    assert set(options) == {n for n, on in (("query", command.takes_text), ("limit", command.limit)) if on}
    if command.takes_text:
        query = options["query"]
        assert query["description"] == command.text[:100]
        assert query["required"] is command.text_required
        assert query.get("autocomplete", False) is (command.complete is not None)
    if command.limit:
        assert (options["limit"]["min_value"], options["limit"]["max_value"]) == (1, MAX_LIMIT)


def test_a_new_entry_gets_its_slash_command_from_the_table_alone(tree: app_commands.CommandTree) -> None:
    async def echo(req: Any, svc: Any) -> Any:
        """Echo a text."""

    payload = slash(Command("echo", echo, "<text>", "what to echo", "language"), tree)
    [option] = payload["options"]
    assert (option["name"], option["description"], option["required"], option["autocomplete"]) == (
        "query", "what to echo", True, True)
    assert payload["description"] == "Echo a text."
