"""This module contains a loopback fake of the Telegram Bot API for integration tests.

`FakeBotApi` is an aiohttp server on 127.0.0.1 that answers `/bot<token>/<method>` the way
api.telegram.org does: form, multipart, JSON or query parameters in; `{"ok": true, "result": ...}`
or `{"ok": false, "error_code", "description", "parameters"}` out, with the HTTP status equal to
the error code. The real python-telegram-bot `Application` runs against it unchanged.

Tests drive it from the outside: push updates (`push_channel_post`, `push_message`, ...), read
what the bot sent (`sent`, `wait_for_sent`), and inject faults (`fail_next`, `hang_next`).
Sent HTML is parsed into plain text and entities like the real server does, and rejected with
the real "can't parse entities" error when it is not Telegram HTML, so formatting bugs surface.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "7000000001:AAFakeTokenForLoopbackTestsOnly0000"
_MAX_TEXT = 4096
# Parameters that are plain strings on the wire; every other value is JSON-encoded by clients.
_STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url",
    "description", "short_description", "name", "language_code", "business_connection_id",
    "custom_title", "title", "secret_token", "ip_address", "file_id", "emoji", "query",
})
# Update kinds the real server leaves out unless they are asked for by name.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was kicked from the chat",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_URL_RE = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]]")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b")
_HASHTAG_RE = re.compile(r"(?<![\w#])#\w+")


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str | None = None,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description or _DESCRIPTIONS.get(code, f"Error {code}")
        self.parameters = parameters


@dataclass
class Call:
    """One request that reached the server; `status` is None while it is held by `hang_next`."""

    method: str
    params: dict[str, Any]
    status: int | None = None
    client: str | None = None  # the path prefix of `client_base_url(name)`, if used


@dataclass
class Sent:
    """A successful sendMessage / editMessageText: the parameters as sent and the answer."""

    method: str
    params: dict[str, Any]
    message: dict[str, Any] | bool

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        """The text parameter exactly as the client sent it (HTML markup included)."""
        return str(self.params.get("text", ""))

    @property
    def plain_text(self) -> str:
        """The text as a Telegram client shows it: markup parsed away."""
        if isinstance(self.message, dict):
            return str(self.message.get("text", ""))
        return self.text

    @property
    def entities(self) -> list[dict[str, Any]]:
        if isinstance(self.message, dict):
            return list(self.message.get("entities", []))
        return []

    @property
    def thread_id(self) -> int | None:
        return self.params.get("message_thread_id")

    @property
    def message_id(self) -> int | None:
        if isinstance(self.message, dict):
            return self.message.get("message_id")
        return None


@dataclass
class _Fault:
    code: int | None  # None: hang
    description: str | None = None
    parameters: dict[str, Any] | None = None


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False
    first_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or f"User {self.id}"
        else:
            out["title"] = self.title or f"Chat {self.id}"
        if self.username:
            out["username"] = self.username
        if self.is_forum:
            out["is_forum"] = True
        return out


@dataclass
class _PollState:
    updates: list[dict[str, Any]] = field(default_factory=list)
    allowed: list[str] | None = None
    generation: int = 0  # bumps when a newer getUpdates takes over


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Bot API entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def auto_entities(text: str, start: int = 0) -> list[dict[str, Any]]:
    """Entities the real server detects on its own: commands, links, mentions, hashtags."""
    found: list[tuple[int, int, str]] = []
    for regex, kind in ((_COMMAND_RE, "bot_command"), (_URL_RE, "url"),
                        (_MENTION_RE, "mention"), (_HASHTAG_RE, "hashtag")):
        for m in regex.finditer(text):
            if any(m.start() < e and s < m.end() for s, e, _ in found):
                continue
            found.append((m.start(), m.end(), kind))
    found.sort()
    return [{"type": kind, "offset": start + utf16_len(text[:s]), "length": utf16_len(text[s:e])}
            for s, e, kind in found]


# --- Telegram HTML -------------------------------------------------------------------------

_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z_:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*/?>"
)
_ATTR_RE = re.compile(r"([a-zA-Z_:-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")
_SIMPLE_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "code": "code", "pre": "pre", "tg-spoiler": "spoiler",
}
_KNOWN_TAGS = set(_SIMPLE_TAGS) | {"a", "span", "blockquote", "tg-emoji"}


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset into (text, entities); raise ApiError(400) like the server."""

    def fail(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def byte_offset(pos: int) -> int:
        return len(source[:pos].encode("utf-8"))

    pieces: list[str] = []
    units = 0
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    pos = 0
    while pos < len(source):
        ch = source[pos]
        if ch == "<":
            m = _TAG_RE.match(source, pos)
            if m is None:
                raise fail(f'Unsupported start tag "" at byte offset {byte_offset(pos)}')
            closing, name = m.group(1) == "/", m.group(2).lower()
            if not closing:
                if name not in _KNOWN_TAGS:
                    raise fail(f'Unsupported start tag "{name}" at byte offset {byte_offset(pos)}')
                attrs = {a.lower(): (v1 or v2 or v3 or "")
                         for a, v1, v2, v3 in _ATTR_RE.findall(m.group(3))}
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail('Tag "span" must have class "tg-spoiler" at byte offset '
                               f"{byte_offset(pos)}")
                stack.append((name, units, attrs))
            else:
                if not stack or stack[-1][0] != name:
                    raise fail(f"Unexpected end tag at byte offset {byte_offset(pos)}")
                tag, start, attrs = stack.pop()
                entity = _entity_for(tag, attrs, start, units - start, stack)
                if entity is not None:
                    entities.append(entity)
            pos = m.end()
            continue
        if ch == "&":
            m = _ENTITY_RE.match(source, pos)
            if m is not None:
                piece = html.unescape(m.group(0))
                pos = m.end()
            else:  # the server is lenient about a bare ampersand
                piece, pos = "&", pos + 1
        else:
            end = len(source)
            for stop in ("<", "&"):
                found = source.find(stop, pos)
                if found != -1:
                    end = min(end, found)
            piece, pos = source[pos:end], end
        pieces.append(piece)
        units += utf16_len(piece)
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(pieces), entities


def _entity_for(tag: str, attrs: dict[str, str], offset: int, length: int,
                stack: list[tuple[str, int, dict[str, str]]]) -> dict[str, Any] | None:
    if length <= 0:
        return None
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag == "code" and stack and stack[-1][0] == "pre" and \
            attrs.get("class", "").startswith("language-"):
        stack[-1][2]["language"] = attrs["class"].removeprefix("language-")
        return None
    if tag in _SIMPLE_TAGS:
        entity["type"] = _SIMPLE_TAGS[tag]
        if tag == "pre" and attrs.get("language"):
            entity["language"] = attrs["language"]
    elif tag == "span":
        entity["type"] = "spoiler"
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs.get("emoji-id", ""))
    elif tag == "a":
        href = attrs.get("href", "")
        if not href:
            return None
        m = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if m:
            entity.update(type="text_mention",
                          user={"id": int(m.group(1)), "is_bot": False, "first_name": "User"})
        else:
            entity.update(type="text_link", url=href)
    else:
        return None
    return entity


# --- the server ----------------------------------------------------------------------------


class FakeBotApi:
    """A Bot API server on loopback; use as `async with FakeBotApi() as api:`."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, bot_username: str = "wirewatch_test_bot",
                 bot_name: str = "Wirewatch Test", host: str = "127.0.0.1") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.host = host
        self.port = 0
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._admins: dict[int, list[int]] = {}
        self._owners: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = defaultdict(lambda: 1)
        self._next_update_id = 100_000
        self._next_callback_id = 1
        self._poll = _PollState()
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeBotApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._handle_file)
        app.router.add_route("*", "/{client}/bot{token}/{method}", self._handle)
        # handler_cancellation: a client that gives up (PTB stopping its long poll) ends the
        # handler too, as on the real server; access_log=None keeps test output quiet.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.debug("fake Bot API listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder().base_url(...)`: PTB appends the token."""
        return f"{self.url}/bot"

    def client_base_url(self, client: str) -> str:
        """A base_url whose calls are recorded with `Call.client == client`: tells apart
        several processes that share this server."""
        return f"{self.url}/{client}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name,
                "username": self.bot_username}

    # test set-up ----------------------------------------------------------------------------

    def add_chat(self, chat_id: int, type: str = "supergroup", *, title: str | None = None,
                 username: str | None = None, is_forum: bool = False) -> dict[str, Any]:
        """Register (or update) a chat; chats are also registered by the push helpers."""
        chat = _Chat(chat_id, type, title=title, username=username, is_forum=is_forum)
        self._chats[chat_id] = chat
        return chat.as_dict()

    def add_user(self, user_id: int, first_name: str | None = None,
                 username: str | None = None, language_code: str | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False,
                                "first_name": first_name or f"User {user_id}"}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def set_admins(self, chat_id: int, user_ids: Iterable[int], *,
                   owner: int | None = None) -> None:
        """Make these users the chat's administrators (`owner`, if given, is its creator)."""
        self._admins[chat_id] = list(user_ids)
        if owner is not None:
            self._owners[chat_id] = owner
        else:
            self._owners.pop(chat_id, None)

    def fail_next(self, method: str, error_code: int = 400, *, retry_after: int | None = None,
                  description: str | None = None, parameters: dict[str, Any] | None = None,
                  times: int = 1) -> None:
        """Answer the next `times` calls of `method` with this Bot API error."""
        params = dict(parameters or {})
        if retry_after is not None:
            params["retry_after"] = retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        for _ in range(times):
            self._faults[method.lower()].append(_Fault(error_code, description, params or None))

    def hang_next(self, method: str, times: int = 1) -> None:
        """Accept the next call of `method` and never answer it (a kill while sending)."""
        for _ in range(times):
            self._faults[method.lower()].append(_Fault(None))

    # pushing updates ------------------------------------------------------------------------

    def push_raw(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update as given (an update_id is added when missing)."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._take_update_id()
        else:
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self._poll.updates.append(update)
        self._notify()
        return update

    def push_channel_post(self, chat_id: int, text: str | None = None,
                          message_id: int | None = None, *, username: str | None = None,
                          title: str | None = None, caption: str | None = None,
                          edit: bool = False,
                          forward_from_chat: int | dict[str, Any] | None = None,
                          forward_from_message_id: int | None = None,
                          author_signature: str | None = None,
                          date: int | None = None) -> dict[str, Any]:
        """Queue a channel_post (or edited_channel_post with `edit=True`); returns the update.

        With `caption` the post is a photo with that caption (and `text` is ignored). An edit
        of a known post keeps everything but the new text or caption, as Telegram sends it;
        an edit without `message_id` edits the channel's latest post.
        """
        chat = self._chat(chat_id, "channel", title=title, username=username)
        if edit and message_id is None:
            known = [mid for (cid, mid) in self._messages if cid == chat.id]
            message_id = max(known) if known else None
        old = self._messages.get((chat.id, message_id)) if edit and message_id else None
        if old is not None:
            msg = dict(old)
            msg.pop("edit_date", None)
        else:
            msg = self._new_message(chat, message_id, date)
            msg["sender_chat"] = chat.as_dict()
        if author_signature:
            msg["author_signature"] = author_signature
        if caption is not None or (old is not None and "photo" in old and text is None):
            self._set_caption(msg, caption if caption is not None else old.get("caption", ""))
        elif text is not None or old is None:
            self._set_text(msg, text or "")
        if forward_from_chat is not None:
            if isinstance(forward_from_chat, dict):
                origin_chat = dict(forward_from_chat)
                origin_chat.setdefault("type", "channel")
            else:
                origin_chat = self._chat(forward_from_chat, "channel").as_dict()
            msg["forward_origin"] = {
                "type": "channel", "chat": origin_chat, "date": msg["date"] - 60,
                "message_id": forward_from_message_id or 1,
            }
        if edit:
            msg["edit_date"] = max(int(time.time()), msg["date"])
        self._messages[(chat.id, msg["message_id"])] = msg
        return self.push_raw({"edited_channel_post" if edit else "channel_post": msg})

    def push_edited_channel_post(self, chat_id: int, text: str | None = None,
                                 message_id: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """Queue an edit of a channel post: same id (default: the latest), new text or caption."""
        return self.push_channel_post(chat_id, text, message_id, edit=True, **kwargs)

    def push_message(self, chat_id: int, user_id: int, text: str, chat_type: str = "supergroup",
                     thread_id: int | None = None, *, title: str | None = None,
                     first_name: str | None = None, username: str | None = None,
                     message_id: int | None = None, edit: bool = False,
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Queue a message from a user; `/cmd` and `/cmd@bot` get the bot_command entity."""
        chat = self._chat(chat_id, chat_type, title=title, is_forum=thread_id is not None)
        if chat_type == "private":
            chat.first_name = first_name
        user = self._users.get(user_id)
        if user is None or first_name or username:
            user = self.add_user(user_id, first_name, username)
        msg = self._new_message(chat, message_id, None)
        msg["from"] = dict(user)
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        self._set_text(msg, text)
        if extra:
            msg.update(extra)
        if edit:
            msg["edit_date"] = int(time.time())
        self._messages[(chat.id, msg["message_id"])] = msg
        return self.push_raw({"edited_message" if edit else "message": msg})

    def push_callback_query(self, chat_id: int, user_id: int, data: str,
                            message_id: int | None = None) -> dict[str, Any]:
        """Queue a press on an inline button of message `message_id` (the last bot message)."""
        user = self._users.get(user_id) or self.add_user(user_id)
        if message_id is None:
            ours = [m for (c, _), m in self._messages.items()
                    if c == chat_id and m.get("from", {}).get("id") == self.bot_id]
            message = ours[-1] if ours else None
        else:
            message = self._messages.get((chat_id, message_id))
        if message is None:
            chat = self._chat(chat_id, "supergroup")
            message = self._new_message(chat, message_id, None)
            message.update({"from": self.bot_user, "text": "?"})
        query = {"id": str(self._next_callback_id), "from": dict(user), "message": message,
                 "chat_instance": f"ci{chat_id}", "data": data}
        self._next_callback_id += 1
        return self.push_raw({"callback_query": query})

    # observing --------------------------------------------------------------------------------

    async def wait_for_sent(self, n: int = 1, timeout: float = 5.0) -> list[Sent]:
        """Wait until at least `n` messages were sent or edited; returns all of them."""
        await self._wait_until(lambda: len(self.sent) >= n, timeout,
                               lambda: f"{n} sent messages, got {len(self.sent)}: "
                                       f"{[s.text for s in self.sent]}")
        return list(self.sent)

    async def wait_for_call(self, method: str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `method` was called `n` times (answered or not); returns those calls."""
        def matching() -> list[Call]:
            return [c for c in self.calls if c.method.lower() == method.lower()]

        await self._wait_until(lambda: len(matching()) >= n, timeout,
                               lambda: f"{n} calls of {method}, got {len(matching())}")
        return matching()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._poll.updates)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state of a message the fake knows (sent, pushed or edited)."""
        return self._messages.get((chat_id, message_id))

    async def _wait_until(self, predicate: Any, timeout: float, describe: Any) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake Bot API: waited {timeout}s for {describe()}")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    def _notify(self) -> None:
        # Waiters hold the old event; replacing it lets every state change wake them once.
        self._changed.set()
        self._changed = asyncio.Event()

    # HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except ValueError as exc:
            return self._error_response(ApiError(400, f"Bad Request: {exc}"))
        call = Call(method, params, client=request.match_info.get("client"))
        self.calls.append(call)
        self._notify()
        fault = self._take_fault(method)
        if fault is not None and fault.code is None:
            return await self._hang(request, call)
        try:
            if fault is not None:
                raise ApiError(fault.code or 400, fault.description, fault.parameters)
            result = await self._dispatch(method, params)
        except ApiError as exc:
            call.status = exc.code
            self._notify()
            return self._error_response(exc)
        call.status = 200
        self._notify()
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _hang(self, request: web.Request, call: Call) -> web.StreamResponse:
        log.debug("holding %s without an answer", call.method)
        await self._closing.wait()
        # Drop the connection without a word, like a process killed mid-request.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=499)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        return self._error_response(ApiError(404, "Not Found"))

    @staticmethod
    def _error_response(exc: ApiError) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": exc.code,
                                "description": exc.description}
        if exc.parameters:
            body["parameters"] = exc.parameters
        return web.json_response(body, status=exc.code, dumps=_dumps)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method.lower())
        return queue.popleft() if queue else None

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        handler = _METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(self, params)

    # Bot API methods --------------------------------------------------------------------------

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        poll = self._poll
        offset = _opt_int(params, "offset")
        limit = max(1, min(100, _opt_int(params, "limit") or 100))
        timeout = max(0.0, float(params.get("timeout") or 0))
        if isinstance(params.get("allowed_updates"), list):
            poll.allowed = list(params["allowed_updates"])
        # A newer getUpdates ends the one still waiting, as the real server does.
        poll.generation += 1
        generation = poll.generation
        self._notify()
        self._confirm(offset)

        def ready() -> list[dict[str, Any]]:
            return [u for u in poll.updates if self._wanted(u)][:limit]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if poll.generation != generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                                    "that only one bot instance is running")
            batch = ready()
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing.is_set():
                return batch
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    def _confirm(self, offset: int | None) -> None:
        poll = self._poll
        if offset is None:
            return
        if offset < 0:
            poll.updates = poll.updates[offset:]
        else:
            poll.updates = [u for u in poll.updates if u["update_id"] >= offset]

    def _wanted(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._poll.allowed:
            return kind in self._poll.allowed
        return kind not in _OPT_IN_UPDATES

    async def _delete_webhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._poll.updates.clear()
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = str(params.get("url", ""))
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._poll.updates)}

    async def _set_my_commands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: parameter \"commands\" is required")
        for c in commands:
            name = str(c.get("command")) if isinstance(c, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[_commands_key(params)] = [
            {"command": c["command"], "description": c.get("description", "")} for c in commands]
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(_commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(_commands_key(params), None)
        return True

    async def _send_message(self, params: dict[str, Any]) -> Any:
        chat = self._resolve_chat(params.get("chat_id"))
        text, entities = self._render(params)
        msg = self._new_message(chat, None, None)
        if chat.type == "channel":
            msg["sender_chat"] = chat.as_dict()
        else:
            msg["from"] = self.bot_user
        thread = _opt_int(params, "message_thread_id")
        if thread is not None:
            msg["message_thread_id"] = thread
            if chat.is_forum or chat.type == "supergroup":
                msg["is_topic_message"] = True
        msg["text"] = text
        if entities:
            msg["entities"] = entities
        if isinstance(params.get("reply_markup"), dict) and \
                "inline_keyboard" in params["reply_markup"]:
            msg["reply_markup"] = params["reply_markup"]
        if isinstance(params.get("link_preview_options"), dict):
            msg["link_preview_options"] = params["link_preview_options"]
        self._messages[(chat.id, msg["message_id"])] = msg
        self.sent.append(Sent("sendMessage", params, msg))
        return msg

    async def _edit_message_text(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            self._render(params)
            self.sent.append(Sent("editMessageText", params, True))
            return True
        chat = self._resolve_chat(params.get("chat_id"))
        message_id = _opt_int(params, "message_id")
        old = self._messages.get((chat.id, message_id or 0))
        if old is None or "text" not in old:
            raise ApiError(400, "Bad Request: message to edit not found")
        text, entities = self._render(params)
        markup = params.get("reply_markup")
        markup = markup if isinstance(markup, dict) else None
        if text == old.get("text") and entities == old.get("entities", []) and \
                markup == old.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        msg = dict(old)
        msg["text"] = text
        msg.pop("entities", None)
        if entities:
            msg["entities"] = entities
        msg.pop("reply_markup", None)
        if markup and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        self._messages[(chat.id, msg["message_id"])] = msg
        self.sent.append(Sent("editMessageText", params, msg))
        return msg

    async def _delete_message(self, params: dict[str, Any]) -> Any:
        chat = self._resolve_chat(params.get("chat_id"))
        if self._messages.pop((chat.id, _opt_int(params, "message_id") or 0), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _send_chat_action(self, params: dict[str, Any]) -> Any:
        self._resolve_chat(params.get("chat_id"))
        return True

    async def _get_chat(self, params: dict[str, Any]) -> Any:
        chat = self._resolve_chat(params.get("chat_id"), create=False)
        return {**chat.as_dict(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                        "unique_gifts": False, "premium_subscription": False,
                                        "gifts_from_channels": False}}

    async def _get_chat_member(self, params: dict[str, Any]) -> Any:
        chat = self._resolve_chat(params.get("chat_id"))
        user_id = _opt_int(params, "user_id")
        if user_id is None:
            raise ApiError(400, "Bad Request: user not found")
        return self._member(chat.id, user_id)

    async def _get_chat_administrators(self, params: dict[str, Any]) -> Any:
        chat = self._resolve_chat(params.get("chat_id"))
        if chat.type == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        ids = list(self._admins.get(chat.id, []))
        owner = self._owners.get(chat.id)
        if owner is not None and owner not in ids:
            ids.insert(0, owner)
        return [self._member(chat.id, uid) for uid in ids]

    async def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        return True

    # helpers ----------------------------------------------------------------------------------

    def _member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        user = self.bot_user if user_id == self.bot_id else (
            self._users.get(user_id) or {"id": user_id, "is_bot": False,
                                         "first_name": f"User {user_id}"})
        if self._owners.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self._admins.get(chat_id, []):
            rights = dict.fromkeys(
                ("can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                 "can_restrict_members", "can_change_info", "can_invite_users",
                 "can_post_stories", "can_edit_stories", "can_delete_stories",
                 "can_post_messages", "can_edit_messages", "can_pin_messages"), True)
            return {"status": "administrator", "user": user, "can_be_edited": False,
                    "is_anonymous": False, "can_promote_members": False, **rights}
        return {"status": "member", "user": user}

    def _render(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get("text")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: message text is empty")
        raw = str(raw)
        mode = str(params.get("parse_mode") or "").lower()
        if mode == "html":
            text, entities = parse_html(raw)
        else:  # Markdown modes are passed through unparsed: wirewatch sends HTML
            text = raw
            given = params.get("entities")
            entities = list(given) if isinstance(given, list) else []
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > _MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        taken = [(e["offset"], e["offset"] + e["length"]) for e in entities]
        for e in auto_entities(text):
            if not any(e["offset"] < end and start < e["offset"] + e["length"]
                       for start, end in taken):
                entities.append(e)
        entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return text, entities

    def _chat(self, chat_id: int, type: str, *, title: str | None = None,
              username: str | None = None, is_forum: bool = False) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(chat_id, type)
        chat.type = type
        chat.title = title or chat.title
        chat.username = username or chat.username
        chat.is_forum = chat.is_forum or is_forum
        return chat

    def _resolve_chat(self, raw: Any, *, create: bool = True) -> _Chat:
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            name = raw[1:].lower()
            for chat in self._chats.values():
                if (chat.username or "").lower() == name:
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        chat = self._chats.get(chat_id)
        if chat is None:
            if not create:
                raise ApiError(400, "Bad Request: chat not found")
            kind = "private" if chat_id > 0 else (
                "supergroup" if str(chat_id).startswith("-100") else "group")
            chat = self._chats[chat_id] = _Chat(chat_id, kind)
        return chat

    def _new_message(self, chat: _Chat, message_id: int | None, date: int | None) -> dict[str, Any]:
        if message_id is None:
            message_id = self._next_message_id[chat.id]
        self._next_message_id[chat.id] = max(self._next_message_id[chat.id], message_id + 1)
        return {"message_id": message_id, "date": date or int(time.time()),
                "chat": chat.as_dict()}

    @staticmethod
    def _set_text(msg: dict[str, Any], text: str) -> None:
        msg["text"] = text
        msg.pop("entities", None)
        entities = auto_entities(text)
        if entities:
            msg["entities"] = entities

    @staticmethod
    def _set_caption(msg: dict[str, Any], caption: str) -> None:
        if "photo" not in msg:
            mid = f"{msg['chat']['id']}-{msg['message_id']}"
            msg["photo"] = [
                {"file_id": f"photo-{mid}-s", "file_unique_id": f"s{mid}", "width": 90,
                 "height": 60, "file_size": 1200},
                {"file_id": f"photo-{mid}-m", "file_unique_id": f"m{mid}", "width": 800,
                 "height": 533, "file_size": 52000},
            ]
        msg["caption"] = caption
        msg.pop("caption_entities", None)
        entities = auto_entities(caption)
        if entities:
            msg["caption_entities"] = entities

    def _take_update_id(self) -> int:
        self._next_update_id += 1
        return self._next_update_id - 1


_METHODS = {
    "getme": FakeBotApi._get_me,
    "getupdates": FakeBotApi._get_updates,
    "deletewebhook": FakeBotApi._delete_webhook,
    "setwebhook": FakeBotApi._set_webhook,
    "getwebhookinfo": FakeBotApi._get_webhook_info,
    "setmycommands": FakeBotApi._set_my_commands,
    "getmycommands": FakeBotApi._get_my_commands,
    "deletemycommands": FakeBotApi._delete_my_commands,
    "sendmessage": FakeBotApi._send_message,
    "editmessagetext": FakeBotApi._edit_message_text,
    "deletemessage": FakeBotApi._delete_message,
    "sendchataction": FakeBotApi._send_chat_action,
    "getchat": FakeBotApi._get_chat,
    "getchatmember": FakeBotApi._get_chat_member,
    "getchatadministrators": FakeBotApi._get_chat_administrators,
    "answercallbackquery": FakeBotApi._answer_callback_query,
}


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string and body (form, multipart or JSON) into typed parameters."""
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            raw.update(body)
            return raw
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                raw[key] = {"filename": value.filename, "size": len(value.file.read())}
            else:
                raw[key] = value
    return {key: _decode(key, value) for key, value in raw.items()}


def _decode(key: str, value: Any) -> Any:
    # Clients JSON-encode every non-string parameter (numbers, booleans, objects) into forms.
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _opt_int(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key} specified") from None


def _commands_key(params: dict[str, Any]) -> str:
    scope = params.get("scope")
    scope_key = json.dumps(scope, sort_keys=True) if isinstance(scope, dict) else "default"
    return f"{scope_key}|{params.get('language_code') or ''}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
