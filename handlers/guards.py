"""This module contains small guards for commands: moderator-only and room-only."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from handlers.context import Services
from handlers.request import Reply, Request, refuse

Handler = Callable[[Request, Services], Awaitable[Reply]]

NOT_ALLOWED = ("Only moderators can change this (chat administrators, or users listed in the "
               "config). Nothing was changed.")


def moderator_only(handler: Handler) -> Handler:
    """Refuse, and change nothing, unless the asker is a moderator."""

    @functools.wraps(handler)
    async def guarded(req: Request, svc: Services) -> Reply:
        if not req.is_moderator:
            return refuse(NOT_ALLOWED)
        return await handler(req, svc)

    guarded.moderator_only = True  # type: ignore[attr-defined]
    return guarded
