"""This module contains the reader of post files: JSON lines, plain or gzipped, or stdin.

Accepts our own post JSON lines and the export format of the shared Telegram data set
(`channel_id`, `message_id`, `date`, `channel`, `text`). One absurd line never stops the
stream: the file is read as bytes and each line decoded and parsed alone, so a line that is
not UTF-8, not JSON, nested thousands of levels deep or not a post is skipped with its number
and a plain reason, and every readable line before and after it is read. A gzip file damaged
part-way (truncated, corrupt) is read up to the damage, then stops with a `damage` note
naming the last good line.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.codec import parse_date
from bot.errors import WirewatchError
from bot.model import Post

_GZIP_MAGIC = b"\x1f\x8b"


class BadLine(ValueError):
    """A line that is not a post; the message is the plain reason."""


@dataclass
class ReadReport:
    """What reading a post file skipped, as it goes."""

    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    damage: str | None = None  # why reading stopped early, if it did
    last_line: int = 0  # the last line read

    def messages(self) -> list[str]:
        return [f"line {lineno}: {reason}" for lineno, reason in self.skipped]


def open_post_file(path: str | Path) -> tuple[IO[bytes], str]:
    """A binary handle on the file's lines (`-` is stdin), gunzipped when it is gzip data;
    and a name for messages. Raises WirewatchError if it cannot be read."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        raw: Any = sys.stdin.buffer if str(path) == "-" else open(path, "rb")
    except OSError as exc:
        raise WirewatchError(f"cannot read {name}: {exc.strerror}") from None
    if not hasattr(raw, "peek"):  # a stdin replaced by a plain byte stream
        raw = io.BufferedReader(raw)
    try:
        head = raw.peek(2)[:2]
    except OSError as exc:
        raw.close()
        raise WirewatchError(f"cannot read {name}: {exc.strerror}") from None
    if head == _GZIP_MAGIC:
        if name == "stdin":
            return gzip.GzipFile(fileobj=raw, mode="rb"), name
        raw.close()  # gzip.open owns (and closes) the file it opens
        return gzip.open(path, "rb"), name
    if name.endswith(".gz") and head:
        raw.close()
        raise WirewatchError(f"{name} is not a readable JSONL.gz file: it is not gzip data")
    return raw, name


def read_lines(handle: IO[bytes], name: str, report: ReadReport) -> Iterator[tuple[int, Post]]:
    """(line number, post) for every line of an opened post file that is a post; the others
    go into `report`. Closes the handle (but stdin) when done."""
    lineno = 0
    try:
        while True:
            try:
                raw = handle.readline()
            except (EOFError, OSError, zlib.error) as exc:
                # Truncated or corrupt gzip: what came before the damage was read and is kept.
                where = f"after line {lineno}" if lineno else "before its first line"
                report.damage = (f"{name} is damaged {where} ({_read_reason(exc)}); "
                                 f"stopped reading there")
                return
            if not raw:
                return
            lineno += 1
            report.last_line = lineno
            try:
                post = parse_line(raw)
            except BadLine as exc:
                report.skipped.append((lineno, str(exc)))
                continue
            if post is not None:
                yield lineno, post
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _read_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the compressed data ends early"
    if isinstance(exc, zlib.error | gzip.BadGzipFile) or not getattr(exc, "strerror", None):
        return "the compressed data is corrupt"
    return f"cannot read on: {exc.strerror}"  # the disk, not the data


def parse_line(raw: bytes) -> Post | None:
    """The post on one line of bytes, None for a blank line; BadLine says why it is not one."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                      ) from None
    if not line.strip():
        return None
    line = line.rstrip()
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(json_reason(exc, line)) from None
    except RecursionError:
        raise BadLine("nested too deeply to be a post") from None
    return record_to_post(data)


def json_reason(exc: json.JSONDecodeError, line: str) -> str:
    """A JSON error in plain words, with the column of one line."""
    if exc.pos >= len(line):
        return f"not valid JSON (cut off at column {exc.pos + 1})"
    return f"not valid JSON (column {exc.colno})"


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise BadLine(f"{key!r} is missing")
        return None
    if not isinstance(value, str):
        raise BadLine(f"{key!r} must be text")
    return value


def _ident(data: dict[str, Any], key: str) -> str:
    if key not in data or data[key] is None:
        raise BadLine(f"{key!r} is missing")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadLine(f"{key!r} must be text or a whole number")
    if not str(value).strip():
        raise BadLine(f"{key!r} is empty")
    return str(value)


def _date(data: dict[str, Any]) -> Any:
    if "date" not in data or data["date"] is None:
        raise BadLine("'date' is missing")
    if isinstance(data["date"], bool):
        raise BadLine("'date' is not a date (expected ISO 8601 text or unix seconds)")
    try:
        return parse_date(data["date"])
    except (ValueError, TypeError, OverflowError, OSError):
        raise BadLine("'date' is not a date (expected ISO 8601 text or unix seconds)") from None


def record_to_post(data: Any) -> Post:
    """A post from one decoded JSON record, in our format or the shared data set's."""
    if not isinstance(data, dict):
        raise BadLine("not a JSON object")
    text = _text(data, "text") or ""
    if "source_id" in data:
        edited = data.get("edited", False)
        if not isinstance(edited, bool):
            raise BadLine("'edited' must be true or false")
        return Post(
            source_id=_ident(data, "source_id"), platform=_ident(data, "platform"),
            chat=_ident(data, "chat"), message_id=_ident(data, "message_id"), text=text,
            date=_date(data), author=_text(data, "author"), url=_text(data, "url"),
            edited=edited, origin=_text(data, "origin"),
        )
    if "channel_id" not in data:
        raise BadLine("neither 'source_id' nor 'channel_id' is given")
    chat = _ident(data, "channel_id")
    return Post(source_id=chat, platform="telegram", chat=chat,
                message_id=_ident(data, "message_id"), text=text, date=_date(data),
                author=_text(data, "channel"))
