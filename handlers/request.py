"""This module contains the neutral request and reply every chat command speaks.

Bindings build a `Request` from a Telegram update or a Discord interaction and render the
`Reply`; the command functions never see either library.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Request:
    command: str
    args: str  # everything after the command, as typed
    platform: str  # telegram | discord | console
    chat: str
    user_id: str
    user_name: str = ""
    thread: str | None = None
    is_moderator: bool = False  # may change this room (chat admin, Manage Server, ...)
    is_operator: bool = False  # may change the deployment: sources, new rooms (ids in config)
    options: dict[str, object] = field(default_factory=dict)  # typed options (Discord), e.g. limit

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}" + (f" ({self.user_name})" if self.user_name else "")


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a list reply (a post found by /recent or /search)."""

    title: str
    body: str = ""
    url: str | None = None
    meta: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """Plain text (platforms escape it) plus optional items; `ephemeral` = only the asker sees it."""

    text: str
    items: tuple[Item, ...] = ()
    ephemeral: bool = False
    error: bool = False


def refuse(text: str) -> Reply:
    return Reply(text, ephemeral=True, error=True)
