"""This module contains reading of the user's data files with clear errors."""

from __future__ import annotations

from pathlib import Path

from bot.errors import ConfigError


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of a config or watchlist file; ConfigError says which and why not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
