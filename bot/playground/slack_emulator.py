"""Slack, emulated: the parts of the Web API and of event delivery the bot uses.

One emulation serves the test suite and the playground, so what the tests rely on is what a
person sees there. `SlackEmulator` keeps messages per thread, records every call and answers
methods it does not know with `unknown_method`, like Slack; tests read `thread(channel, ts)`
to see what a user would see in the thread. The functions at the end deliver what people do
(messages, mentions, slash commands, button presses) to the app as Slack does: signed HTTP
requests, or envelopes over a Socket Mode connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.playground.local_server import LocalServer

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"


@dataclass
class Message:
    channel: str
    ts: str
    thread_ts: str | None
    text: str = ""
    blocks: list[dict] = field(default_factory=list)
    user: str | None = None
    bot_id: str | None = None
    streaming: bool = False  # True between chat.startStream and chat.stopStream
    is_markdown: bool = False  # posted as Markdown (markdown_text, a stream); else Slack's mrkdwn
    files: list[dict] = field(default_factory=list)
    subtype: str | None = None

    @property
    def markdown(self) -> str:
        """What a reader sees as the body: streamed/markdown text, else `text`."""
        bodies = [b.get("text", "") for b in self.blocks if b.get("type") == "markdown"]
        return "".join(bodies) if bodies else self.text

    def as_api(self) -> dict[str, Any]:
        """The message as conversations.replies and events show it."""
        shown: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.markdown}
        for key in ("thread_ts", "user", "bot_id", "subtype"):
            if getattr(self, key):
                shown[key] = getattr(self, key)
        if self.files:
            shown["files"] = self.files
        return shown


class SlackError(Exception):
    """A method's error code, answered as {"ok": false, "error": code}."""


class DeliveryFailed(Exception):
    """The app did not acknowledge an event with a 200, as Slack requires."""


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]
    at: float = 0.0  # the emulator's loop time when the call arrived


@dataclass(frozen=True)
class Change:
    """Something a person would see change: a message added or edited ("message"), deleted
    ("deleted"), a thread's status ("status"), or a reply only its asker sees ("ephemeral")."""

    kind: str
    channel: str
    ts: str | None = None
    thread_ts: str | None = None
    text: str = ""


Watcher = Callable[[Change], None]


# Slack's rate tiers, per app per workspace (docs.slack.dev method pages; `rate_limits` in
# slack-ruby/slack-api-ref's docs.slack.dev/methods/*.json): Tier 2 20+/min, Tier 3 50+/min,
# Tier 4 100+/min, "bursts tolerated"; chat.postMessage about 1 a second per channel with short
# bursts ("Rate limits" page). Modelled as token buckets holding a minute's worth (a second's
# and a short burst for chat.postMessage); past one, HTTP 429 with Retry-After.
RATE_TIERS = {
    "chat.startStream": 20,
    "chat.stopStream": 20,
    "reactions.remove": 20,
    "chat.update": 50,
    "chat.delete": 50,
    "reactions.add": 50,
    "conversations.replies": 50,
    "chat.appendStream": 100,
    "users.info": 100,
    "files.info": 100,
    "chat.postEphemeral": 100,
    "assistant.threads.setTitle": 100,
    "assistant.threads.setSuggestedPrompts": 100,
}
POSTS_PER_SECOND_PER_CHANNEL, POST_BURST = 1.0, 3


class _Tier:
    def __init__(self, per_second: float, burst: float, now: float):
        self.per_second, self.burst, self.tokens, self.at = per_second, burst, burst, now

    def admit(self, now: float) -> float:
        """0 when the call is allowed, else the seconds to wait (what Retry-After says)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


class SlackEmulator(LocalServer):
    """The Slack Web API (under /api/), file downloads, response_url and a Socket Mode socket.
    The credentials are the tests' fixed ones unless given (the playground makes its own)."""

    def __init__(
        self, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN, signing_secret: str = SIGNING_SECRET
    ) -> None:
        super().__init__()
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self.statuses: list[tuple[str, str, str]] = []  # (channel, thread_ts, status)
        self.deleted: list[Message] = []
        self.reactions: dict[tuple[str, str], set[str]] = {}
        self.refuse: dict[str, str] = {}  # method -> error code to answer with
        self.hang: set[str] = set()  # methods never answered (until stop): a Slack that can't be reached
        self._hung = asyncio.Event()  # set on stop, to let the hung requests go
        self.page_size = 1000  # Slack may page sooner than `limit` asks: lower it to test paging
        self.drop: dict[str, int] = {}  # method -> how many calls to hang up on (after applying them)
        self.fail_with: dict[str, list[int]] = {}  # method -> HTTP statuses to answer its next calls with
        self.fail_retry_after_s = 0  # the Retry-After of those 429s
        self.rate_limits = True  # enforce Slack's rate tiers (off for a test that is about something else)
        self.rate_limited: list[tuple[str, float]] = []  # (method, Retry-After) of every 429 for a tier
        self._tiers: dict[tuple[str, str], _Tier] = {}
        self._clock = itertools.count(1)
        self.app.router.add_post("/api/{method}", self._dispatch)
        self.app.router.add_get("/api/{method}", self._dispatch)
        self.users = {"UALICE": "Alice", "UBOB": "Bob", "UCAROL": "Carol"}  # id -> display name
        self.app.router.add_get("/socket", self._socket)
        self.app.router.add_get("/files/{id}/{name}", self._download)
        self.app.router.add_post("/respond/{id}", self._respond)
        self.responses: list[dict[str, Any]] = []  # what was sent to a command's response_url
        self.files: dict[str, bytes] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_acks: dict[str, float] = {}  # envelope_id -> when the app acked it
        self.socket_connected = asyncio.Event()
        self.status_now: dict[tuple[str, str], str] = {}  # (channel, thread_ts) -> status shown now
        # assistant.threads.setStatus: "A two minute timeout applies, which will cause the status
        # to be removed if no message has been sent" (docs.slack.dev method page).
        self.status_timeout_s = 120.0
        self.expired_statuses: list[tuple[str, str, str]] = []  # (channel, thread_ts, status) Slack took away
        self._status_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.watchers: list[Watcher] = []  # told of every Change (the playground's page)
        self._response_channels: dict[str, str] = {}  # response_url id -> the command's channel

    async def stop(self) -> None:
        self._hung.set()
        for timer in self._status_timers.values():
            timer.cancel()
        await super().stop()

    # -- what tests look at ------------------------------------------------------------

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in a thread, in order (not the parent)."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts == thread_ts and m.ts != thread_ts]

    def top_level(self, channel: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts in (None, m.ts)]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def post_user_message(
        self,
        channel: str,
        text: str,
        user: str = "UALICE",
        thread_ts: str | None = None,
        files: list[dict] | None = None,
        bot_id: str | None = None,
    ) -> Message:
        """A message appears in Slack (no event is delivered: see `say`)."""
        message = Message(
            channel,
            self._next_ts(),
            thread_ts,
            text=text,
            user=user,
            files=files or [],
            bot_id=bot_id,
            subtype="bot_message" if bot_id else ("file_share" if files else None),
        )
        self.messages.append(message)
        self._changed(Change("message", channel, message.ts, thread_ts))
        return message

    def upload(
        self, name: str, content: str | bytes, filetype: str = "python", mimetype: str = "text/plain"
    ) -> dict[str, Any]:
        """A file only the bot token can download (as the event shows it)."""
        file_id = f"F{len(self.files) + 1:04d}"
        body = content.encode() if isinstance(content, str) else content
        self.files[file_id] = body
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "filetype": filetype,
            "mimetype": mimetype,
            "size": len(body),
            "url_private": f"{self.origin}/files/{file_id}/{name}",
        }

    @property
    def url(self) -> str:
        """What SLACK_API_URL is set to."""
        return self.origin + "/api/"

    def response_url(self, channel: str) -> str:
        """A slash command's response_url: what is sent there, only its asker sees. Unguessable,
        as Slack's are."""
        response_id = uuid.uuid4().hex
        self._response_channels[response_id] = channel
        return f"{self.origin}/respond/{response_id}"

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._clock):06d}"

    def _changed(self, change: Change) -> None:
        for watcher in self.watchers:
            watcher(change)

    def _added(self, message: Message) -> None:
        if message.thread_ts:  # Slack clears a thread's status when the app replies in it
            self._set_status(message.channel, message.thread_ts, "")
        self.messages.append(message)
        self._changed(Change("message", message.channel, message.ts, message.thread_ts))

    def _edited(self, message: Message) -> dict:
        self._changed(Change("message", message.channel, message.ts, message.thread_ts))
        return {"channel": message.channel, "ts": message.ts}

    def _reacted(self, channel: str, ts: str) -> None:
        if any(m.channel == channel and m.ts == ts for m in self.messages):
            self._changed(Change("message", channel, ts))

    def _set_status(self, channel: str, thread_ts: str, status: str) -> None:
        key = (channel, thread_ts)
        if key in self._status_timers:
            self._status_timers.pop(key).cancel()
        if status:  # each setStatus sets the status anew, so its two minutes start again (as we read the docs)
            self._status_timers[key] = asyncio.get_running_loop().call_later(
                self.status_timeout_s, self._status_expired, channel, thread_ts
            )
        if self.status_now.get(key, "") != status:
            self.status_now[key] = status
            self._changed(Change("status", channel, None, thread_ts, status))

    def _status_expired(self, channel: str, thread_ts: str) -> None:
        self._status_timers.pop((channel, thread_ts), None)
        self.expired_statuses.append((channel, thread_ts, self.status_now.get((channel, thread_ts), "")))
        self._set_status(channel, thread_ts, "")

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        self.calls.append(Call(method, args, asyncio.get_running_loop().time()))
        if method in self.hang:
            await self._hung.wait()
            return web.json_response({"ok": False, "error": "fatal_error"})
        # A token not the one expected is refused as Slack does: ok false, invalid_auth (for
        # apps.connections.open, a bad app-level token; Slack answers not_allowed_token_type
        # instead when given a bot token there: set `refuse` to answer that).
        token = self.app_token if method == "apps.connections.open" else self.bot_token
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self.fail_with.get(method):
            status = self.fail_with[method].pop(0)
            headers = {"Retry-After": str(self.fail_retry_after_s)} if status == 429 else {}
            return web.json_response(
                {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"},
                status=status,
                headers=headers,
            )
        wait = self._over_tier(method, args)
        if wait:
            self.rate_limited.append((method, wait))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))}
            )
        if method in self.refuse:
            return web.json_response({"ok": False, "error": self.refuse[method]})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            result = handler(args)
        except SlackError as error:
            return web.json_response({"ok": False, "error": str(error)})
        if self.drop.get(method):
            # The worst case for a client: Slack applied the call, then the connection broke.
            self.drop[method] -= 1
            assert request.transport is not None
            request.transport.close()
        return web.json_response({"ok": True, **result})

    def _over_tier(self, method: str, args: dict) -> float:
        if not self.rate_limits:
            return 0.0
        now = asyncio.get_running_loop().time()
        if method == "chat.postMessage":
            key = (method, str(args.get("channel", "")))
            if key not in self._tiers:
                self._tiers[key] = _Tier(POSTS_PER_SECOND_PER_CHANNEL, POST_BURST, now)
        elif method in RATE_TIERS:
            key = (method, "")
            if key not in self._tiers:
                self._tiers[key] = _Tier(RATE_TIERS[method] / 60, RATE_TIERS[method], now)
        else:
            return 0.0
        return self._tiers[key].admit(now)

    # -- Socket Mode -----------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "connection_info": {"app_id": "A0001"},
                "debug_info": {"host": "fake"},
            }
        )
        self.socket_connected.set()
        async for message in socket:
            envelope_id = json.loads(message.data).get("envelope_id")
            if envelope_id:
                self.socket_acks[envelope_id] = asyncio.get_running_loop().time()
        return socket

    async def send_over_socket(self, payload: dict[str, Any], retry_attempt: int = 0) -> str:
        """Deliver an Events API payload over the Socket Mode connection; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "payload": payload,
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": "",
            }
        )
        return envelope_id

    # -- methods -----------------------------------------------------------------------

    def _apps_connections_open(self, args: dict) -> dict:
        return {"url": self.url.replace("http://", "ws://").replace("/api/", "/socket")}

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "backend-engineer",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _chat_postMessage(self, args: dict) -> dict:
        message = Message(
            args["channel"],
            self._next_ts(),
            args.get("thread_ts"),
            bot_id=BOT_ID,
            text=args.get("markdown_text") or args.get("text", ""),
            blocks=args.get("blocks") or [],
            is_markdown="markdown_text" in args,
        )
        self._added(message)
        return {"channel": message.channel, "ts": message.ts, "message": {"text": message.text}}

    def _chat_update(self, args: dict) -> dict:
        message = self.find(args["channel"], args["ts"])
        if message.streaming:  # a stream must be stopped before its message can be edited
            raise SlackError("streaming_state_conflict")
        if "markdown_text" in args:
            message.text, message.is_markdown = args["markdown_text"], True
        elif "text" in args:
            message.text, message.is_markdown = args["text"], False
        if "blocks" in args:
            message.blocks = args["blocks"]
        return self._edited(message)

    def _chat_startStream(self, args: dict) -> dict:
        message = Message(
            args["channel"], self._next_ts(), args.get("thread_ts"), bot_id=BOT_ID, streaming=True, is_markdown=True
        )
        message.text = _chunk_text(args)
        self._added(message)
        return {"channel": message.channel, "ts": message.ts}

    def _chat_appendStream(self, args: dict) -> dict:
        message = self.find(args["channel"], args["ts"])
        if not message.streaming:
            raise SlackError("message_not_in_streaming_state")
        message.text += _chunk_text(args)
        return self._edited(message)

    def _chat_stopStream(self, args: dict) -> dict:
        message = self.find(args["channel"], args["ts"])
        if not message.streaming:
            raise SlackError("message_not_in_streaming_state")
        message.text += _chunk_text(args)
        message.blocks = args.get("blocks") or []
        message.streaming = False
        return {**self._edited(message), "message": {"text": message.text}}

    def _chat_delete(self, args: dict) -> dict:
        message = self.find(args["channel"], args["ts"])
        self.messages.remove(message)
        self.deleted.append(message)
        self._changed(Change("deleted", message.channel, message.ts, message.thread_ts))
        return {"channel": message.channel, "ts": message.ts}

    def _assistant_threads_setStatus(self, args: dict) -> dict:
        self.statuses.append((args["channel_id"], args["thread_ts"], args.get("status", "")))
        self._set_status(args["channel_id"], args["thread_ts"], args.get("status", ""))
        return {}

    def _reactions_add(self, args: dict) -> dict:
        self.reactions.setdefault((args["channel"], args["timestamp"]), set()).add(args["name"])
        self._reacted(args["channel"], args["timestamp"])
        return {}

    def _reactions_remove(self, args: dict) -> dict:
        self.reactions.get((args["channel"], args["timestamp"]), set()).discard(args["name"])
        self._reacted(args["channel"], args["timestamp"])
        return {}

    def _conversations_replies(self, args: dict) -> dict:
        """The parent, then replies after `oldest`, a page of `limit` at a time."""
        thread = [
            m
            for m in self.messages
            if m.channel == args["channel"] and (m.ts == args["ts"] or m.thread_ts == args["ts"])
        ]
        thread.sort(key=lambda m: float(m.ts))
        oldest = float(args.get("oldest") or 0)
        thread = [m for m in thread if m.ts == args["ts"] or float(m.ts) > oldest]
        start, limit = int(args.get("cursor") or 0), min(int(args.get("limit") or 1000), self.page_size)
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        return {
            "messages": [m.as_api() for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _files_info(self, args: dict) -> dict:
        """The file object with where it is shared and who owns it: `user`, `channels` (public),
        `groups` (private channels, group DMs), `ims`, and `shares` (docs.slack.dev, "File
        object"). The bot token sees every file shared where the bot is, wherever that is."""
        # Where it was uploaded or shared; a message that only links to it shares nothing.
        posts = [
            m
            for m in self.messages
            if any(f["id"] == args["file"] and f.get("file_access") != "check_file_info" for f in m.files)
        ]
        if not posts:
            raise SlackError("file_not_found")
        file = next(f for f in posts[0].files if f["id"] == args["file"] and f.get("file_access") != "check_file_info")
        places = list(dict.fromkeys(m.channel for m in posts))
        shares: dict[str, dict[str, list[dict[str, str]]]] = {"public": {}, "private": {}}
        for m in posts:
            shares["public" if m.channel.startswith("C") else "private"].setdefault(m.channel, []).append({"ts": m.ts})
        return {
            "file": {
                **file,
                "user": file.get("user") or posts[0].user,
                "channels": [c for c in places if c.startswith("C")],
                "groups": [c for c in places if c.startswith("G")],
                "ims": [c for c in places if c.startswith("D")],
                "shares": {k: v for k, v in shares.items() if v},
            }
        }

    async def _respond(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.responses.append(payload)
        channel = self._response_channels.get(request.match_info["id"])
        if channel:
            self._changed(Change("ephemeral", channel, text=payload.get("text", "")))
        return web.Response(text="ok")

    async def _download(self, request: web.Request) -> web.Response:
        self.calls.append(Call("files.download", {"id": request.match_info["id"]}))
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return web.Response(text="<html>sign in</html>", content_type="text/html")  # as Slack does
        return web.Response(body=self.files[request.match_info["id"]], content_type="application/octet-stream")

    def _users_info(self, args: dict) -> dict:
        user = args["user"]
        name = self.users.get(user, user)
        return {
            "user": {
                "id": user,
                "name": name.lower(),
                "real_name": f"{name} Example",
                "profile": {"display_name": name, "real_name": f"{name} Example"},
            }
        }

    def find(self, channel: str, ts: str) -> Message:
        """The message at `ts`; SlackError message_not_found when there is none."""
        found = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if found is None:
            raise SlackError("message_not_found")
        return found


def _chunk_text(args: dict) -> str:
    text = args.get("markdown_text", "")
    for chunk in args.get("chunks") or []:
        if chunk.get("type") == "markdown_text":
            text += chunk["text"]
    return text


async def _read_args(request: web.Request) -> dict[str, Any]:
    """slack_sdk sends JSON for some methods, form fields (JSON-encoded values) or a query
    string for others."""
    if request.content_type == "application/json":
        return {**request.query, **await request.json()}
    form: dict[str, Any] = {**request.query, **await request.post()}
    for key in ("blocks", "chunks", "attachments", "loading_messages"):
        value = form.get(key)
        if isinstance(value, str):
            form[key] = json.loads(value)
    return form


# -- event delivery: what people do, sent to the app as Slack sends it ----------------


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def event_callback(event: dict[str, Any], event_id: str = "Ev0001") -> dict[str, Any]:
    return {
        "token": "unused",
        "team_id": TEAM_ID,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(channel: str, ts: str, text: str, user: str = "UALICE", thread_ts: str | None = None) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts,
        "channel": channel,
        "team": TEAM_ID,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


async def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    retry_num: int | None = None,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    form: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> aiohttp.ClientResponse:
    """POST a payload signed like Slack does; returns the (read) response. (`session`: connections
    kept open between deliveries, as Slack's own senders keep them.)"""
    body = urlencode(payload) if form else json.dumps(payload)
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts, secret),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    if session is not None:
        async with session.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
            return response
    async with aiohttp.ClientSession() as own, own.post(url, data=body.encode(), headers=headers) as response:
        await response.read()
        return response


def message_event(message: Message, group_dm: bool = False) -> dict[str, Any]:
    """The `message.*` event for a message (channel, private channel, DM or group DM)."""
    kind = "mpim" if group_dm else {"C": "channel", "G": "group", "D": "im"}[message.channel[0]]
    return {
        **message.as_api(),
        "channel": message.channel,
        "channel_type": kind,
        "team": TEAM_ID,
        "event_ts": message.ts,
    }


async def say(
    slack: SlackEmulator,
    events_url: str,
    channel: str,
    text: str,
    *,
    user: str = "UALICE",
    thread_ts: str | None = None,
    files: list[dict] | None = None,
    bot_id: str | None = None,
    event_id: str | None = None,
    group_dm: bool = False,
) -> tuple[Message, float]:
    """Someone writes in Slack: the message appears, and Slack delivers its events at the same
    moment — `message.*` always, and `app_mention` too when it mentions the bot (not in DMs).
    Returns the message and the slowest ack in seconds."""
    message = slack.post_user_message(channel, text, user=user, thread_ts=thread_ts, files=files, bot_id=bot_id)
    base = event_id or f"Ev{message.ts.replace('.', '')}"
    payloads = [event_callback(message_event(message, group_dm), event_id=base + "m")]
    if f"<@{BOT_USER_ID}>" in text and not channel.startswith("D"):
        mention_event = {**message_event(message, group_dm), "type": "app_mention"}
        mention_event.pop("channel_type")
        payloads.append(event_callback(mention_event, event_id=base + "a"))
    started = time.monotonic()
    responses = await asyncio.gather(*(deliver(events_url, p, secret=slack.signing_secret) for p in payloads))
    if any(r.status != 200 for r in responses):
        raise DeliveryFailed(f"the app answered {[r.status for r in responses]} to the events of {message.ts}")
    return message, time.monotonic() - started


async def run_command(
    slack: SlackEmulator,
    url: str,
    text: str,
    *,
    channel: str = "C1",
    user: str = "UALICE",
    command: str = "/backend-review",
    times: int = 1,
) -> tuple[aiohttp.ClientResponse, str, float]:
    """Someone runs a slash command: Slack POSTs it (form-encoded, signed) and shows the ack's
    body to them alone. Each run has its own `trigger_id`; `times` > 1 sends the same signed
    request again (a replay). Returns (response, its body, seconds until the ack)."""
    payload = {
        "token": "unused",
        "team_id": TEAM_ID,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0001",
        "trigger_id": f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
        "response_url": slack.response_url(channel),
    }
    for _ in range(times - 1):
        await deliver(url, payload, form=True, secret=slack.signing_secret)
    started = time.monotonic()
    response = await deliver(url, payload, form=True, secret=slack.signing_secret)
    return response, await response.text(), time.monotonic() - started  # the body was read on delivery


async def press_button(
    url: str, message: Message, user: str, action_id: str, value: str, secret: str = SIGNING_SECRET
) -> aiohttp.ClientResponse:
    """Someone presses a button on `message`: Slack POSTs a `block_actions` payload (form-encoded)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": TEAM_ID},
        "api_app_id": "A0001",
        "token": "unused",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
        "channel": {"id": message.channel},
        "message": message.as_api(),
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": action_id,
                "value": value,
                "block_id": "feedback",
                "action_ts": str(time.time()),
            }
        ],
    }
    return await deliver(url, {"payload": json.dumps(payload)}, form=True, secret=secret)
