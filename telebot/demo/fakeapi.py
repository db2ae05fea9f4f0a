"""A Telegram Bot API server on loopback that behaves like Telegram where telebot depends on it.

Used by the tests, `telebot demo` and the benchmarks, so it ships in the package and needs only
the standard library. It serves from its own threads, so asyncio code in the same process and
other processes (ikabot's plain `requests.get(".../getUpdates")`) can all talk to it.

Faithful where it matters: `getUpdates` offset semantics (an offset confirms and forgets every
earlier update; without one, the first 100 unconfirmed come back, again and again), long-poll
timeouts, 409 when a second poll overtakes a waiting one, HTML parse-mode validation and the
4096-character limit on the visible text (400 errors worded like Telegram's), 401 for a wrong
token, and on demand 429 with `retry_after`, 5xx or a dropped connection. Every call is recorded.

Chats that refuse the bot, worded as Telegram words them (`set_chat`): a chat id Telegram does
not know answers 400 "Bad Request: chat not found" to everything; a private chat whose user
blocked the bot, or never pressed Start, still answers `getChat` but refuses every message
(403 "Forbidden: bot was blocked by the user" / "Forbidden: bot can't initiate conversation
with a user"); a group the bot was removed from refuses even `getChat` (403 "Forbidden: bot was
kicked from the group chat"). `strict_chats=True` makes every chat unknown until it wrote to
the bot or was set.

Several bots (`add_bot`) can share one server, as several telebots share one group chat: each
bot has its own update queue; a group message reaches every bot (privacy mode off), a button
press only the bot that sent the message, and a bot cannot edit another bot's message.

A group can be a forum (`make_forum`, `add_topic`; `createForumTopic`): messages carry
`message_thread_id` and `is_topic_message` in their topic, and a send names a topic only in a
forum, only one that exists and is open (400 "message thread not found" / "TOPIC_CLOSED").
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:  # typing.Self is 3.11's; pyproject promises 3.10
    from typing import Self

MAX_TEXT = 4096
MAX_POLL = 50.0


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    time: float
    bot: str = ""  # the username of the bot whose token made the call


@dataclass
class _Failure:
    method: str | None
    status: int
    times: int
    retry_after: int | None
    drop: bool


# ---------------------------------------------------------------- HTML like Telegram

_ALLOWED = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|"
    r"[^\s>\"']+))?)*)\s*(/?)>"
)
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")
_ENTITY_CHARS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message, or ApiError 400 like Telegram's."""
    out: list[str] = []
    stack: list[str] = []
    i = 0

    def offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8"))

    while i < len(text):
        c = text[i]
        if c == "<":
            m = _TAG.match(text, i)
            if not m:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Unsupported start tag "
                    f"at byte offset {offset(i)}",
                )
            closing, name = m.group(1), m.group(2).lower()
            if name not in _ALLOWED:
                kind = "end" if closing else "start"
                raise ApiError(
                    400,
                    f"Bad Request: can't parse entities: Unsupported {kind} tag "
                    f'"{name}" at byte offset {offset(i)}',
                )
            if closing:
                if not stack or stack[-1] != name:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse entities: Unmatched end tag at "
                        f'byte offset {offset(i)}, expected "</{stack[-1]}>", '
                        f'found "</{name}>"'
                        if stack
                        else "Bad Request: can't parse entities: Unmatched end tag "
                        f'at byte offset {offset(i)}, found "</{name}>"',
                    )
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif c == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise ApiError(
                    400,
                    "Bad Request: can't parse entities: Character '&' is "
                    "reserved and must be escaped with the preceding '\\' at "
                    f"byte offset {offset(i)}",
                )
            ent = m.group(1)
            if ent.startswith("#x"):
                out.append(chr(int(ent[2:], 16)))
            elif ent.startswith("#"):
                out.append(chr(min(int(ent[1:]), 0x10FFFF)))
            else:
                out.append(_ENTITY_CHARS[ent])
            i = m.end()
        elif c == ">":
            raise ApiError(
                400,
                "Bad Request: can't parse entities: Character '>' is reserved "
                f"and must be escaped at byte offset {offset(i)}",
            )
        else:
            out.append(c)
            i += 1
    if stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag "
            f'corresponding to start tag "{stack[-1]}"',
        )
    return "".join(out)


def _check_markup(markup: Any) -> dict[str, Any] | None:
    if markup in (None, ""):
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise ApiError(
                400, "Bad Request: can't parse reply keyboard markup JSON object"
            ) from None
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: field "
            '"inline_keyboard" must be an Array',
        )
    rows = markup["inline_keyboard"]
    if sum(len(row) if isinstance(row, list) else 1 for row in rows) > 100:
        raise ApiError(400, "Bad Request: reply markup is too long")
    for row in rows:
        for button in row if isinstance(row, list) else [None]:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: Text "
                    "buttons are unallowed in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if data is None and not button.get("url"):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "InlineKeyboardButton must have exactly one optional field",
                )
    return markup


# ---------------------------------------------------------------- the server


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    user_messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    deleted: list[tuple[int, int]] = field(default_factory=list)
    sent_order: list[tuple[int, int]] = field(default_factory=list)
    callbacks: dict[str, str] = field(default_factory=dict)  # query id → bot username
    commands: list[dict[str, Any]] = field(default_factory=list)
    commands_by_lang: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    poll_generation: int = 0
    chat_states: dict[int, str] = field(default_factory=dict)  # chat id → CHAT_STATES key
    # forum supergroups: chat id → their topics, thread id → {"name", "closed"}
    forums: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)


# What Telegram answers in a chat that refuses the bot: (code, description) for getChat and
# for everything sent there (sendMessage, sendChatAction, editMessageText); None = allowed.
CHAT_STATES: dict[str, tuple[tuple[int, str] | None, tuple[int, str] | None]] = {
    "open": (None, None),
    "missing": ((400, "Bad Request: chat not found"), (400, "Bad Request: chat not found")),
    "blocked": (None, (403, "Forbidden: bot was blocked by the user")),
    "unstarted": (None, (403, "Forbidden: bot can't initiate conversation with a user")),
    "kicked": (
        (403, "Forbidden: bot was kicked from the group chat"),
        (403, "Forbidden: bot was kicked from the group chat"),
    ),
}


class _Server:
    """The server's life: its state under one lock, its bots, start and stop. The classes
    below add one side each; `FakeBotAPI` is the whole."""

    def __init__(
        self,
        token: str = "123:TEST",
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "telebot_test_bot",
        *,
        strict_chats: bool = False,
    ) -> None:
        self.token = token
        self.strict_chats = strict_chats
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_username = bot_username
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._state = _State()
        # the update queue, commands and poll generation of each bot; the first bot's are
        # `_state`'s own, the shared chats and the call log live in `_state` only
        self._queues: dict[str, _State] = {token: self._state}
        self._usernames: dict[str, str] = {token: bot_username}
        self._local = threading.local()  # the bot (token) of the request being served
        self._ids = itertools.count(100_000)
        self._msg_ids: dict[int, itertools.count[int]] = {}
        self._cb_ids = itertools.count(1)
        self.on_request: Callable[[str, dict[str, Any]], None] | None = None
        self._stopping = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as two writes: without TCP_NODELAY, Nagle and the
            # client's delayed ACK add 40 ms to every answer on loopback
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # the URL holds the token
                pass

            def do_GET(self) -> None:
                api._serve(self, "GET")

            def do_POST(self) -> None:
                api._serve(self, "POST")

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-bot-api",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_bot(self, token: str, username: str) -> None:
        """Another bot on this server (another machine's telebot in the same group chat)."""
        with self._lock:
            self._queues[token] = _State()
            self._usernames[token] = username

    def token_of(self, username: str) -> str:
        return next(t for t, u in self._usernames.items() if u == username)

    def _serve(self, h: BaseHTTPRequestHandler, verb: str) -> None:
        """One HTTP request, answered (by `_Http`, the part that speaks HTTP)."""
        raise NotImplementedError


class _Player(_Server):
    """The player's side: messages and button presses, as Telegram would deliver them."""

    def _message_json(self, m: dict[str, Any]) -> dict[str, Any]:
        """A kept message as Telegram shows it (`FakeBotAPI`'s, which keeps them)."""
        raise NotImplementedError

    def _chat_of(self, chat_id: int) -> dict[str, Any]:
        """A chat the bot writes to, as Telegram shows it (a negative id is a group)."""
        return self._chat(chat_id, "group" if chat_id < 0 else "private")

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}

    def _chat(self, chat_id: int, chat_type: str = "private") -> dict[str, Any]:
        with self._lock:
            forum = chat_id in self._state.forums
        chat: dict[str, Any] = {"id": chat_id, "type": "supergroup" if forum else chat_type}
        if forum:
            chat["is_forum"] = True
        if chat_type == "private" and not forum:
            chat["first_name"] = f"User{chat_id}"
        else:
            chat["title"] = f"Chat {chat_id}"
        return chat

    def add_update(self, update: dict[str, Any], token: str | None = None) -> int:
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", next(self._ids))
            self._queues[token or self.token].updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def add_message(
        self,
        text: str,
        chat_id: int = 42,
        user_id: int = 42,
        chat_type: str = "private",
        date: float | None = None,
        token: str | None = None,
        update_id: int | None = None,
        topic: int | None = None,
        language_code: str | None = None,
    ) -> int:
        """A user's message (in forum topic `topic`: see `make_forum`). In a group it
        reaches every bot unless `token` names one. `language_code`: the user's Telegram
        app language, as Telegram sends it with the user."""
        with self._lock:
            self._state.chat_states.setdefault(chat_id, "open")  # the chat exists now
            if topic is not None and topic not in self._state.forums.get(chat_id, {}):
                raise ValueError(f"chat {chat_id} has no topic {topic}: make_forum, add_topic")
            message_id = next(self._msg_ids.setdefault(chat_id, itertools.count(1)))
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time() if date is None else date),
            "chat": self._chat(chat_id, chat_type),
            "text": text,
        }
        if topic is not None:
            message.update(message_thread_id=topic, is_topic_message=True)
        if chat_type != "channel":
            message["from"] = self._user(user_id)
            if language_code:
                message["from"]["language_code"] = language_code
        m = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if m:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))}
            ]
        key = "channel_post" if chat_type == "channel" else "message"
        with self._lock:
            self._state.user_messages[(chat_id, message_id)] = message
        if token is None and chat_type in ("group", "supergroup"):
            with self._lock:
                tokens = list(self._queues)
            ids = [self.add_update({key: message}, t) for t in tokens]
            return ids[0]
        update: dict[str, Any] = {key: message}
        if update_id is not None:
            update["update_id"] = update_id
        return self.add_update(update, token)

    def add_callback(self, data: str, message_id: int, chat_id: int = 42, user_id: int = 42) -> int:
        """A press on a button of message `message_id`: only the bot that sent it hears it."""
        with self._lock:
            message = self._state.messages.get((chat_id, message_id))
            token = self.token_of(message["bot"]) if message else self.token
            query_id = str(next(self._cb_ids))
            self._state.callbacks[query_id] = self._usernames[token]
        msg = (
            self._message_json(message)
            if message
            else {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat_of(chat_id),
                "text": "?",
            }
        )
        return self.add_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "message": msg,
                    "chat_instance": str(chat_id),
                    "data": data,
                }
            },
            token,
        )


class _Inspection(_Player):
    """What a test looks at and sets: calls, messages sent, chat states, failures to inject."""

    def unconfirmed(self, token: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(u) for u in self._queues[token or self.token].updates]

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._state.calls)

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for key in self._state.sent_order:
                m = self._state.messages[key]
                if chat_id is None or m["chat"]["id"] == chat_id:
                    out.append(dict(m))
            return out

    def user_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A user's message as the chat still shows it (None once deleted)."""
        with self._lock:
            m = self._state.user_messages.get((chat_id, message_id))
            return dict(m) if m is not None else None

    def deleted(self) -> list[tuple[int, int]]:
        """(chat id, message id) of every message deleted through deleteMessage."""
        with self._lock:
            return list(self._state.deleted)

    def commands(self, token: str | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """The command list set for that language (the default list when none was)."""
        with self._lock:
            q = self._queues[token or self.token]
            return list(
                q.commands_by_lang.get(language_code, q.commands) if language_code else q.commands
            )

    def set_chat(self, chat_id: int, state: str) -> None:
        """How a chat treats the bot from now on: one of CHAT_STATES (the test switch)."""
        if state not in CHAT_STATES:
            raise ValueError(f"chat state {state!r}: one of {', '.join(CHAT_STATES)}")
        with self._cond:
            self._state.chat_states[chat_id] = state
            self._cond.notify_all()

    def _chat_state(self, chat_id: int) -> str:
        with self._lock:
            return self._state.chat_states.get(chat_id, "missing" if self.strict_chats else "open")

    def _refuse(self, chat_id: int, *, sending: bool = True) -> None:
        """Raise what Telegram answers in a chat that refuses the bot (see CHAT_STATES)."""
        on_get, on_send = CHAT_STATES[self._chat_state(chat_id)]
        refusal = on_send if sending else on_get
        if refusal is not None:
            raise ApiError(*refusal)

    def fail(
        self,
        method: str | None = None,
        status: int = 502,
        times: int = 1,
        retry_after: int | None = None,
        drop: bool = False,
    ) -> None:
        with self._lock:
            self._state.failures.append(_Failure(method, status, times, retry_after, drop))

    def clear_failures(self) -> None:
        with self._lock:
            self._state.failures.clear()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Re-check `predicate` whenever the server's state changes, up to `timeout`."""
        with self._cond:
            return bool(self._cond.wait_for(predicate, timeout))


class _Http(_Inspection):
    """One request: the token and method from the URL, the body, injected failures, the log."""

    def _serve(self, h: BaseHTTPRequestHandler, verb: str) -> None:
        url = urlsplit(h.path)
        m = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", url.path)
        params: dict[str, Any] = dict(parse_qsl(url.query))
        if verb == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length) if length else b""
            params.update(self._body(h.headers.get("Content-Type", ""), body))
        method = m.group(2) if m else "?"
        failure = self._take_failure(method)
        if failure and failure.drop:
            self._record(method, params, 0)
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(2)
            return
        try:
            if failure:
                raise ApiError(
                    failure.status,
                    {
                        429: f"Too Many Requests: retry after {failure.retry_after or 1}",
                        500: "Internal Server Error",
                        502: "Bad Gateway",
                        503: "Service Unavailable",
                        504: "Gateway Timeout",
                    }.get(failure.status, "Error"),
                    failure.retry_after or (1 if failure.status == 429 else None),
                )
            if not m:
                raise ApiError(404, "Not Found")
            if m.group(1) not in self._queues:
                raise ApiError(401, "Unauthorized")
            self._local.token = m.group(1)
            if self.on_request:
                self.on_request(method, params)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = handler(params)
            payload, status = {"ok": True, "result": result}, 200
        except ApiError as e:
            payload = {"ok": False, "error_code": e.code, "description": e.description}
            if e.retry_after is not None:
                payload["parameters"] = {"retry_after": e.retry_after}
            status = e.code
        self._record(method, params, status)
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass

    @staticmethod
    def _body(content_type: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        if "json" in content_type:
            try:
                data = json.loads(body)
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
        if "multipart/form-data" in content_type:
            from email.parser import BytesParser
            from email.policy import HTTP

            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            out: dict[str, Any] = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name:  # a form field is UTF-8 text (Telegram reads it so), a file bytes
                    payload = part.get_payload(decode=True)
                    data = payload if isinstance(payload, bytes) else b""
                    out[str(name)] = (
                        data.decode(part.get_content_charset() or "utf-8", "replace")
                        if part.get_content_maintype() == "text" and not part.get_filename()
                        else data
                    )
            return out
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            for f in self._state.failures:
                if f.method in (None, method) and f.times > 0:
                    f.times -= 1
                    if f.times == 0:
                        self._state.failures.remove(f)
                    return f
        return None

    def _record(self, method: str, params: dict[str, Any], status: int) -> None:
        with self._cond:
            bot = self._usernames.get(getattr(self._local, "token", ""), "")
            self._local.token = ""
            self._state.calls.append(Call(method, params, status, time.time(), bot))
            self._cond.notify_all()


class _Updates(_Http):
    """The bot's own methods: getMe, commands, webhooks, and getUpdates with Telegram's offset
    and long-poll semantics."""

    @staticmethod
    def _int(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def _queue(self) -> _State:
        """The update queue and commands of the bot whose request is being served."""
        return self._queues[getattr(self._local, "token", "") or self.token]

    def _bot_user(self, username: str | None = None) -> dict[str, Any]:
        token = (
            self.token_of(username)
            if username
            else (getattr(self._local, "token", "") or self.token)
        )
        bot_id = token.split(":", 1)[0]
        return {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": "telebot test",
            "username": self._usernames[token],
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_user()

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if isinstance(commands, str):
            commands = json.loads(commands)
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for c in commands:
            if (
                not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", "")))
                or not 1 <= len(str(c.get("description", ""))) <= 256
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        lang = str(params.get("language_code") or "")
        if lang and not re.fullmatch(r"[a-z]{2}", lang):
            raise ApiError(400, "Bad Request: invalid language code specified")
        with self._lock:
            if lang:
                self._queue().commands_by_lang[lang] = commands
            else:
                self._queue().commands = commands
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        lang = str(params.get("language_code") or "")
        with self._lock:
            q = self._queue()
            return list(q.commands_by_lang.get(lang, q.commands) if lang else q.commands)

    def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = self._int(params, "offset")
        limit = max(1, min(100, self._int(params, "limit", 100) or 100))
        timeout = max(0.0, min(MAX_POLL, float(params.get("timeout") or 0)))
        deadline = time.monotonic() + timeout
        with self._cond:
            st = self._queue()
            if offset is not None:
                if offset < 0:
                    keep = st.updates[offset:] if -offset <= len(st.updates) else st.updates
                    st.updates = list(keep)
                else:
                    st.updates = [u for u in st.updates if u["update_id"] >= offset]
            st.poll_generation += 1
            me = st.poll_generation
            self._cond.notify_all()
            while True:
                if st.poll_generation != me:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if st.updates or self._stopping:
                    return [dict(u) for u in st.updates[:limit]]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)

    def _queue_name(self) -> str:
        return self._usernames[getattr(self._local, "token", "") or self.token]


class _Forums(_Updates):
    """Forum supergroups and their topics, strict as Telegram: `message_thread_id` only in a
    forum, only for a topic that exists (400 "message thread not found") and is open (400
    "TOPIC_CLOSED"); without one a message goes to the forum's General topic. A topic's id
    is the id of the service message that created it, as in Telegram."""

    def make_forum(self, chat_id: int) -> None:
        """Turn a group (a negative id) into a forum supergroup (Topics on)."""
        if chat_id >= 0:
            raise ValueError("only a group can be a forum")
        with self._cond:
            self._state.chat_states.setdefault(chat_id, "open")
            self._state.forums.setdefault(chat_id, {})
            self._cond.notify_all()

    def add_topic(self, chat_id: int, name: str) -> int:
        """A new open topic (as an admin creates it); its message_thread_id."""
        with self._cond:
            topics = self._state.forums.get(chat_id)
            if topics is None:
                raise ApiError(400, "Bad Request: the chat is not a forum")
            thread = next(self._msg_ids.setdefault(chat_id, itertools.count(1)))
            topics[thread] = {"name": name, "closed": False}
            self._cond.notify_all()
            return thread

    def close_topic(self, chat_id: int, thread: int, *, delete: bool = False) -> None:
        with self._cond:
            topics = self._state.forums.get(chat_id, {})
            if delete:
                topics.pop(thread, None)
            elif thread in topics:
                topics[thread]["closed"] = True
            self._cond.notify_all()

    def _topic_of(self, params: dict[str, Any], chat_id: int) -> int | None:
        """The `message_thread_id` of a send, checked as Telegram checks it."""
        thread = self._int(params, "message_thread_id")
        if thread is None:
            return None
        with self._lock:
            topic = self._state.forums.get(chat_id, {}).get(thread)
        if topic is None:
            raise ApiError(400, "Bad Request: message thread not found")
        if topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        return thread

    def _m_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._int(params, "chat_id") or 0
        self._refuse(chat_id)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise ApiError(
                400,
                "Bad Request: TOPIC_TITLE_EMPTY"
                if not name
                else "Bad Request: TOPIC_TITLE_TOO_LONG",
            )
        thread = self.add_topic(chat_id, name)
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CAPTION = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a real PNG: its signature, an IHDR chunk whose CRC matches, and an
    IEND chunk at the end; ApiError 400 as Telegram words it for anything else."""
    import struct
    import zlib

    bad = ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    if not data.startswith(PNG_SIGNATURE) or len(data) < 8 + 25 + 12:
        raise bad
    length, kind = struct.unpack(">I4s", data[8:16])
    body, crc = data[16 : 16 + length], data[16 + length : 20 + length]
    if kind != b"IHDR" or length != 13 or struct.pack(">I", zlib.crc32(kind + body)) != crc:
        raise bad
    if data[-12:] != b"\x00\x00\x00\x00IEND\xaeB`\x82":
        raise bad
    width, height = struct.unpack(">II", body[:8])
    return width, height


class _Media(_Forums):
    """Photos, validated like Telegram: a real image (here: a PNG, checked), at most 10 MB,
    width + height at most 10000 and a side ratio of at most 20, a caption of at most 1024
    characters once its HTML is parsed. A photo message is kept with its caption as `text`
    (so a test reads it like any message) and `photo` holding the PNG's bytes and size."""

    def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._int(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        self._refuse(chat_id)
        thread = self._topic_of(params, chat_id)
        data = params.get("photo")
        if not isinstance(data, bytes) or not data:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        if len(data) > MAX_PHOTO_BYTES:
            raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
        width, height = png_size(data)
        if width + height > 10000 or max(width, height) > 20 * max(1, min(width, height)):
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        raw = str(params.get("caption") or "")
        mode = str(params.get("parse_mode") or "")
        visible = parse_html(raw) if mode.upper() == "HTML" else raw
        if utf16_len(visible) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = _check_markup(params.get("reply_markup"))
        return self._keep(
            chat_id,
            {
                "message_thread_id": thread,
                "text": visible,
                "html": raw,
                "parse_mode": mode or None,
                "reply_markup": markup,
                "photo": {"png": data, "width": width, "height": height},
            },
        )

    def _keep(self, chat_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class _Chats(_Media):
    """Deleting messages, a chat's details and actions, and button answers."""

    def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        key = (self._int(params, "chat_id") or 0, self._int(params, "message_id") or 0)
        with self._cond:
            user = self._state.user_messages.get(key)
            if user is not None:
                # a bot deletes others' messages in a private chat; in a group only as an
                # admin with that right, which the loopback's bot is not
                if user["chat"]["type"] != "private":
                    raise ApiError(400, "Bad Request: message can't be deleted")
                del self._state.user_messages[key]
            elif key in self._state.messages:
                del self._state.messages[key]
                self._state.sent_order.remove(key)
            else:
                raise ApiError(400, "Bad Request: message to delete not found")
            self._state.deleted.append(key)
            self._cond.notify_all()
            return True

    def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._int(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        self._refuse(chat_id, sending=False)
        chat = self._chat_of(chat_id)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat_id = self._int(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if str(params.get("action") or "") not in (
            "typing",
            "upload_photo",
            "record_video",
            "upload_video",
            "record_voice",
            "upload_voice",
            "upload_document",
            "choose_sticker",
            "find_location",
            "record_video_note",
            "upload_video_note",
        ):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._refuse(chat_id)
        self._topic_of(params, chat_id)
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        with self._lock:
            if self._state.callbacks.get(query_id) != self._queue_name():
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout "
                    "expired or query ID is invalid",
                )
            del self._state.callbacks[query_id]
        return True


class FakeBotAPI(_Chats):
    """The server. See the module docstring; start(), then point a Bot at `base_url`. Its own
    part: messages (send and edit), validated like Telegram."""

    def _message_json(self, m: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: m[k] for k in ("message_id", "date", "chat")}
        if m.get("photo"):  # a photo message has a caption, not a text
            p = m["photo"]
            out["photo"] = [
                {
                    "file_id": f"photo-{m['message_id']}",
                    "file_unique_id": f"p{m['message_id']}",
                    "width": p["width"],
                    "height": p["height"],
                    "file_size": len(p["png"]),
                }
            ]
            if m.get("text"):
                out["caption"] = m["text"]
        elif "text" in m:
            out["text"] = m["text"]
        if m.get("message_thread_id") is not None:
            out.update(message_thread_id=m["message_thread_id"], is_topic_message=True)
        out["from"] = self._bot_user(m.get("bot"))
        if m.get("edit_date"):
            out["edit_date"] = m["edit_date"]
        if m.get("reply_markup"):
            out["reply_markup"] = m["reply_markup"]
        return out

    def _text(self, params: dict[str, Any]) -> tuple[str, str]:
        raw = params.get("text")
        if raw in (None, ""):
            raise ApiError(400, "Bad Request: message text is empty")
        raw = str(raw)
        mode = str(params.get("parse_mode") or "")
        visible = parse_html(raw) if mode.upper() == "HTML" else raw
        if not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return raw, visible

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._int(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        self._refuse(chat_id)
        thread = self._topic_of(params, chat_id)
        raw, visible = self._text(params)
        markup = _check_markup(params.get("reply_markup"))
        return self._keep(
            chat_id,
            {
                "message_thread_id": thread,
                "text": visible,
                "html": raw,
                "parse_mode": params.get("parse_mode"),
                "reply_markup": markup,
            },
        )

    def _keep(self, chat_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """A message this bot sent, kept as the chat shows it."""
        with self._cond:
            message_id = next(self._msg_ids.setdefault(chat_id, itertools.count(1)))
            m = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat_of(chat_id),
                **fields,
                "edits": 0,
                "bot": self._queue_name(),
            }
            self._state.messages[(chat_id, message_id)] = m
            self._state.sent_order.append((chat_id, message_id))
            self._cond.notify_all()
            return self._message_json(m)

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        raw, visible = self._text(params)
        markup = _check_markup(params.get("reply_markup"))
        return self._edit(
            params,
            ("html", "reply_markup"),
            text=visible,
            html=raw,
            reply_markup=markup,
            parse_mode=params.get("parse_mode"),
        )

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = _check_markup(params.get("reply_markup"))
        return self._edit(params, ("reply_markup",), reply_markup=markup)

    def _edit(
        self, params: dict[str, Any], compared: tuple[str, ...], **changes: Any
    ) -> dict[str, Any]:
        """An edit of one of this bot's messages; 400 when nothing `compared` changes."""
        chat_id, message_id = self._int(params, "chat_id"), self._int(params, "message_id")
        self._refuse(chat_id or 0)
        with self._cond:
            m = self._state.messages.get((chat_id or 0, message_id or 0))
            if m is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if m.get("bot") != self._queue_name():
                raise ApiError(400, "Bad Request: message can't be edited")
            if all(m.get(k) == changes[k] for k in compared):
                raise ApiError(
                    400,
                    "Bad Request: message is not modified: specified new "
                    "message content and reply markup are exactly the same "
                    "as a current content and reply markup of the message",
                )
            m.update(changes, edits=m["edits"] + 1, edit_date=int(time.time()))
            self._cond.notify_all()
            return self._message_json(m)


def main(argv: list[str] | None = None) -> int:
    """`python -m telebot.demo.fakeapi`: run it standalone until SIGINT/SIGTERM."""
    import os

    parser = argparse.ArgumentParser(prog="python -m telebot.demo.fakeapi")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=os.environ.get("FAKEAPI_TOKEN", "123:TEST"))
    args = parser.parse_args(argv)
    api = FakeBotAPI(token=args.token, port=args.port).start()
    print(f"fake Bot API listening: TELEGRAM_API_BASE_URL={api.base_url}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
