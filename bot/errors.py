"""This module contains the error hierarchy: user errors are answered, the rest is logged."""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose."""


class ConfigError(WirewatchError):
    """The configuration or a watchlist file is invalid; the message says where and why."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class UserError(WirewatchError):
    """A chat user asked for something we cannot do; the message is shown to them."""


class BadQuery(UserError, ValueError):
    """A subscription or search query does not parse; `pos` is the 0-based offset."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(message)
        self.pos = pos


class NotAllowed(UserError):
    """The user lacks the right to do this (moderator-only commands)."""


class StorageError(WirewatchError):
    """The store could not write or read (disk full, locked too long, a damaged file).

    Whatever the open transaction held was rolled back; nothing is half-written. `transient`
    errors (disk full, locked) are worth retrying once the cause is gone."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class SourceError(WirewatchError):
    """A source failed to deliver posts; the poller backs it off alone, for at least
    `retry_after` seconds when the server asked for that (429/503 Retry-After)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryError(WirewatchError):
    """A platform refused or failed to deliver an alert."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class TranslationUnavailable(WirewatchError):
    """No provider could translate in time; the alert goes out untranslated."""
