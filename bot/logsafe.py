"""This module contains the log redaction: secrets never reach stdout, stderr or a log file.

Bot tokens travel in request URLs (`/bot<token>/getMe`), so any library that logs a URL, an
error body that echoes the path, or an exception about a request can carry one. `install`
puts a filter on every root handler that rewrites each record, its arguments, its exception
text and stack, replacing the configured secret values (tokens, webhook URLs, API keys, read
from the environment variables the settings name) and anything shaped like a Telegram or
Discord bot token. Uncaught exceptions (`sys.excepthook`, `threading.excepthook`) are
redacted too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET = 8  # shorter values would redact ordinary words

# Telegram bot tokens (`123456:AA...`), any token in a Bot API URL path, Discord bot tokens
# (three dot-separated base64 parts) and `Authorization: Bot ...` headers.
_PATTERNS = (
    re.compile(r"\d+:[A-Za-z0-9_-]{30,}"),
    re.compile(r"(?<=/bot)[^/\s'\"<>]*[\d:][^/\s'\"<>]*(?=/)"),
    re.compile(r"[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"),
    re.compile(r"(?<=Bot )[A-Za-z0-9_.-]{30,}"),
)

_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None


def add_secret(value: str | None) -> None:
    """Redact this exact value from now on (ignored when empty or too short to be a secret)."""
    global _secrets_re
    value = (value or "").strip()
    if len(value) < MIN_SECRET or value in _secrets:
        return
    with _lock:
        _secrets.add(value)
        # Longest first, so a secret that contains another is redacted whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))


def add_secrets_from_env(names: Iterable[str | None]) -> None:
    for name in names:
        if name:
            add_secret(os.environ.get(name))


def secret_env_names(settings: Any) -> list[str]:
    """Every environment variable the settings name that holds a secret."""
    names: list[str] = []
    for kind in ("telegram", "discord"):
        section = getattr(settings, kind, None)
        if section is not None:
            names.append(section.token_env)
    names += [r.url_env for r in getattr(settings, "rooms", []) if getattr(r, "url_env", None)]
    translation = getattr(settings, "translation", None)
    names += [p.api_key_env for p in getattr(translation, "providers", []) if p.api_key_env]
    return names


def redact(text: str) -> str:
    """`text` with every known secret and every token-shaped string replaced."""
    pattern = _secrets_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex in _PATTERNS:
        text = regex.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no handler can format a secret out of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be shown
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None  # formatters then use exc_text, never the raw exception
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    import traceback

    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(redact(f"Exception in thread {name}:\n{text}"))


def install(settings: Any | None = None) -> None:
    """Redact every root handler's output (idempotent), and the secrets `settings` names."""
    if settings is not None:
        add_secrets_from_env(secret_env_names(settings))
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _thread_excepthook
