"""Emulated Slack messages -> what the playground's page shows (HTML made here, so the page
only places it). Markdown (the bot's answers, and what people type) is rendered by
markdown-it with raw HTML off; mrkdwn (the footer's context lines) by the few rules Slack's
footers use."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from markdown_it import MarkdownIt

from bot.playground.slack_emulator import BOT_USER_ID, Message

BOT_NAME = "backend-engineer"
REACTIONS = {"eyes": "👀", "white_check_mark": "✅", "x": "❌", "warning": "⚠️", "hourglass": "⏳"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_LINK = re.compile(r"&lt;(https?://[^|&]+?)(?:\|(.+?))?&gt;")
_MRKDWN = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])"), r"<em>\1</em>"),
    (re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])"), r"<del>\1</del>"),
]


@dataclass(frozen=True)
class MessageView:
    channel: str
    ts: str
    thread_ts: str | None  # None: a top-level message that starts no thread yet
    author: str
    is_bot: bool
    html: str  # the body
    footer: tuple[str, ...]  # context lines (HTML), under the body
    feedback: bool  # shows Helpful / Not helpful buttons
    streaming: bool
    reactions: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def message_view(message: Message, users: Mapping[str, str], reactions: set[str] | None = None) -> MessageView:
    footer: list[str] = []
    feedback = False
    for block in message.blocks:
        if block.get("type") == "context":
            footer += [_element(element) for element in block.get("elements", [])]
        elif block.get("type") in ("context_actions", "actions"):
            feedback = feedback or any(e.get("type") == "feedback_buttons" for e in block.get("elements", []))
    body = _mentions(message.markdown, users)
    return MessageView(
        channel=message.channel, ts=message.ts,
        thread_ts=message.thread_ts if message.thread_ts != message.ts else None,
        author=BOT_NAME if message.bot_id else users.get(message.user or "", message.user or "someone"),
        is_bot=bool(message.bot_id), html=markdown_html(body), footer=tuple(footer), feedback=feedback,
        streaming=message.streaming, reactions=tuple(REACTIONS.get(r, f":{r}:") for r in sorted(reactions or ())),
    )


def markdown_html(text: str) -> str:
    return _markdown.render(text)


def mrkdwn_html(text: str) -> str:
    """Slack's mrkdwn for one line: *bold*, _italic_, ~strike~, `code`, <url|label>."""
    out = html.escape(text, quote=False)
    out = _LINK.sub(lambda m: f'<a href="{m[1]}" target="_blank" rel="noopener">{m[2] or m[1]}</a>', out)
    for pattern, replacement in _MRKDWN:
        out = pattern.sub(replacement, out)
    return out


def _element(element: Mapping[str, Any]) -> str:
    text = str(element.get("text", ""))
    return mrkdwn_html(text) if element.get("type") == "mrkdwn" else html.escape(text, quote=False)


def _mentions(text: str, users: Mapping[str, str]) -> str:
    return _MENTION.sub(lambda m: f"@{BOT_NAME if m[1] == BOT_USER_ID else users.get(m[1], m[1])}", text)
