"""Slack message events -> what the bot does with them. Pure: payloads in, decisions out."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any

# Subtypes that are still a person writing: a file upload, a reply also sent to the channel.
HUMAN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


@dataclass(frozen=True)
class ThreadKey:
    """One thread of one channel (`thread_ts`: the ts of its first message). `str()` is the
    conversation key the store keeps agents under, "channel/thread_ts": existing databases
    have their keys in that form."""

    channel: str
    thread_ts: str

    def __str__(self) -> str:
        return f"{self.channel}/{self.thread_ts}"


@dataclass(frozen=True)
class ThreadTarget:
    """Where an answer goes: a thread in a channel, for one asker."""

    channel: str
    thread_ts: str
    message_ts: str  # the message that asked (gets the :eyes: reaction)
    user: str
    team: str | None

    @property
    def thread(self) -> ThreadKey:
        return ThreadKey(self.channel, self.thread_ts)


@dataclass(frozen=True)
class IncomingMessage:
    """One Slack message event (app_mention or message.*), reduced to what matters here."""

    channel: str
    ts: str
    thread_ts: str | None  # None at a channel's top level
    user: str | None
    team: str | None
    text: str
    subtype: str | None
    from_bot: bool  # another bot or an integration (the bot's own events never arrive)
    is_dm: bool
    mentions: frozenset[str]
    raw: dict[str, Any]  # the message as Slack sent it (files, bot profile…), for rendering

    @property
    def in_thread(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def thread(self) -> ThreadKey:
        """The thread it belongs to: its own, at a channel's top level (an answer starts one)."""
        return ThreadKey(self.channel, self.thread_ts or self.ts)

    def target(self) -> ThreadTarget:
        # A message inside a thread is answered there; otherwise a thread starts under it.
        return ThreadTarget(self.channel, self.thread_ts or self.ts, self.ts, self.user or "", self.team)


class Action(Enum):
    ANSWER = "answer"
    RECORD = "record"  # context for later answers in a thread the bot is part of
    EDIT = "edit"
    DELETE = "delete"
    IGNORE = "ignore"


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def incoming(body: dict[str, Any]) -> IncomingMessage | None:
    """The event's message, or None for shapes this bot has no use for."""
    event = body.get("event") or {}
    channel, ts = event.get("channel"), event.get("ts")
    if event.get("subtype") == "message_changed":
        message = event.get("message") or {}
        ts = message.get("ts")
        event = {**message, "channel": channel, "channel_type": event.get("channel_type"), "subtype": "message_changed"}
    elif event.get("subtype") == "message_deleted":
        ts = event.get("deleted_ts")
        event = {**(event.get("previous_message") or {}), **event, "ts": ts}
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if not isinstance(event.get("thread_ts"), (str, type(None))) or not isinstance(
        event.get("user"), (str, type(None))
    ):
        return None  # not a shape Slack sends
    text = event.get("text") or ""
    return IncomingMessage(
        channel=channel,
        ts=ts,
        thread_ts=event.get("thread_ts"),
        user=event.get("user"),
        team=event.get("team") or event.get("user_team") or body.get("team_id"),
        text=text if isinstance(text, str) else "",
        subtype=event.get("subtype"),
        from_bot=bool(event.get("bot_id")) or event.get("subtype") == "bot_message",
        is_dm=event.get("channel_type") == "im" or channel.startswith("D"),
        mentions=frozenset(mentioned_users(text if isinstance(text, str) else "")),
        raw=event,
    )


# What a queued answer keeps of a message event: enough to answer it after a restart, not the
# delivery around it (the app's verification `token`, `authorizations`, `blocks`, file
# previews), since the queue outlives the answer by BOT_RETENTION_DAYS.
EVENT_FIELDS = (
    "type",
    "subtype",
    "channel",
    "channel_type",
    "ts",
    "thread_ts",
    "user",
    "team",
    "user_team",
    "text",
    "bot_id",
    "username",
)
FILE_FIELDS = (
    "id",
    "name",
    "title",
    "filetype",
    "mimetype",
    "size",
    "url_private",
    "is_external",
    "file_access",
    "user",
)


def job_body(body: dict[str, Any]) -> dict[str, Any]:
    """A message event reduced to what answering it needs (`incoming` reads it the same)."""
    event = body.get("event") or {}
    kept: dict[str, Any] = {k: event[k] for k in EVENT_FIELDS if k in event}
    if isinstance(event.get("files"), list):
        kept["files"] = [{k: f[k] for k in FILE_FIELDS if k in f} for f in event["files"] if isinstance(f, dict)]
    if isinstance(event.get("bot_profile"), dict) and "name" in event["bot_profile"]:
        kept["bot_profile"] = {"name": event["bot_profile"]["name"]}
    return {"team_id": body.get("team_id"), "event": kept}


def decide(message: IncomingMessage, bot_user_id: str | None, in_bot_thread: bool) -> Action:
    """What to do with a message. `in_bot_thread`: its thread is one the bot is part of."""
    if message.subtype == "message_changed":
        # A bot's edits include this bot's own streaming and updates: the transcript already
        # has those answers whole.
        return Action.EDIT if in_bot_thread and not message.from_bot else Action.IGNORE
    if message.subtype == "message_deleted":
        return Action.DELETE  # forgetting is keyed by the message alone: no thread needed

    if message.from_bot or message.subtype not in HUMAN_SUBTYPES or not message.user:
        return Action.RECORD if in_bot_thread and message.text else Action.IGNORE
    if message.user == bot_user_id:
        return Action.IGNORE
    if message.is_dm or bot_user_id in message.mentions:
        return Action.ANSWER
    if in_bot_thread and message.in_thread:
        addressed_elsewhere = bool(message.mentions - {bot_user_id})
        return Action.RECORD if addressed_elsewhere else Action.ANSWER
    return Action.IGNORE


def mentioned_users(text: str) -> list[str]:
    return _MENTION.findall(text)


def new_request_id() -> str:
    return "req-" + uuid.uuid4().hex[:12]


_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


def plain_text(text: str, bot_user_id: str | None, names: dict[str, str] | None = None) -> str:
    """Slack markup -> what a person reads: the bot's own mention dropped, people by name,
    links unwrapped, entities decoded."""
    names = names or {}
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _MENTION.sub(lambda m: f"@{names.get(m.group(1), m.group(1))}", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
