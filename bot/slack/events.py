"""Slack event payloads -> plain questions for the core."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from bot.answering import Question


@dataclass(frozen=True)
class ThreadTarget:
    """Where an answer goes: a thread in a channel, for one asker."""

    channel: str
    thread_ts: str
    message_ts: str  # the message that asked (gets the :eyes: reaction)
    user: str
    team: str | None


@dataclass(frozen=True)
class SlackQuestion:
    question: Question
    target: ThreadTarget
    event_id: str | None


def new_request_id() -> str:
    return "req-" + uuid.uuid4().hex[:12]


def question_from_mention(body: dict[str, Any], bot_user_id: str | None) -> SlackQuestion:
    event = body["event"]
    target = ThreadTarget(
        channel=event["channel"],
        # A mention inside a thread answers in that thread; otherwise start one under it.
        thread_ts=event.get("thread_ts") or event["ts"],
        message_ts=event["ts"],
        user=event.get("user", ""),
        team=event.get("team") or body.get("team_id"),
    )
    text = plain_text(event.get("text", ""), bot_user_id)
    return SlackQuestion(Question(text=text, request_id=new_request_id(), asker=target.user),
                         target, body.get("event_id"))


_BOT_MENTION = "<@{}>"
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack markup -> what a person reads: the bot's own mention dropped, links unwrapped."""
    if bot_user_id:
        text = text.replace(_BOT_MENTION.format(bot_user_id), "")
    text = _USER_MENTION.sub(lambda m: f"@{m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip()
