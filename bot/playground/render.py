"""Emulated Slack messages -> what the playground's page shows (HTML made here, so the page
only places it). Markdown (what the bot posts as Markdown, and its streamed answers) is
rendered by markdown-it with raw HTML and images off; everything else is Slack's mrkdwn
(what people type, the bot's plain `text` posts, footers), rendered by the rules Slack
applies: entities, <links|labels>, mentions, code, *bold*, _italic_, ~strike~, > quotes."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from markdown_it import MarkdownIt

from bot.playground.slack_emulator import BOT_USER_ID, Message

BOT_NAME = "backend-engineer"
REACTIONS = {"eyes": "👀", "white_check_mark": "✅", "x": "❌", "warning": "⚠️", "hourglass": "⏳"}

# Images off: an answer must not make the page fetch from hosts of its choosing.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_CONTROL = re.compile(r"<([^<>\n]+)>")  # Slack's <@U…>, <#C…|name>, <url|label>, <!here>
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_QUOTE = re.compile(r"^(?:&gt;|>) ?")
_ASIDE = re.compile("\x00(\\d+)\x00")
_STYLES = [
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])"), r"<em>\1</em>"),
    (re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])"), r"<del>\1</del>"),
]


def _link_open(renderer: Any, tokens: Sequence[Any], index: int, options: Any, env: Any) -> str:
    tokens[index].attrSet("target", "_blank")
    tokens[index].attrSet("rel", "noopener noreferrer")
    return renderer.renderToken(tokens, index, options, env)


_markdown.add_render_rule("link_open", _link_open)


@dataclass(frozen=True)
class MessageView:
    channel: str
    ts: str
    thread_ts: str | None  # None: a top-level message
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
            footer += [_element(element, users) for element in block.get("elements", [])]
        elif block.get("type") in ("context_actions", "actions"):
            feedback = feedback or any(e.get("type") == "feedback_buttons" for e in block.get("elements", []))
    as_markdown = message.is_markdown or any(b.get("type") == "markdown" for b in message.blocks)
    body = markdown_html(_mentions(message.markdown, users)) if as_markdown else mrkdwn_html(message.markdown, users)
    return MessageView(
        channel=message.channel,
        ts=message.ts,
        thread_ts=message.thread_ts if message.thread_ts != message.ts else None,
        author=BOT_NAME if message.bot_id else users.get(message.user or "", message.user or "someone"),
        is_bot=bool(message.bot_id),
        html=body,
        footer=tuple(footer),
        feedback=feedback,
        streaming=message.streaming,
        reactions=tuple(REACTIONS.get(r, html.escape(f":{r}:")) for r in sorted(reactions or ())),
    )


def markdown_html(text: str) -> str:
    return _markdown.render(text)


def mrkdwn_html(text: str, users: Mapping[str, str] | None = None) -> str:
    """Slack's mrkdwn, as Slack sends it (&, < and > as entities) -> HTML."""
    parts = text.split("```")
    out = []
    for i, part in enumerate(parts):
        if i % 2 and i < len(parts) - 1:  # between a pair of fences
            out.append(f"<pre><code>{html.escape(_unentity(part.strip(chr(10))))}</code></pre>")
        else:
            out.append(_lines(part if i % 2 == 0 else "```" + part, users or {}))
    return "".join(out)


def _lines(text: str, users: Mapping[str, str]) -> str:
    rendered = []
    for line in text.split("\n"):
        quote = _QUOTE.match(line)
        inline = _inline(line[quote.end() :] if quote else line, users)
        rendered.append(f"<blockquote>{inline}</blockquote>" if quote else inline + "<br>")
    return "".join(rendered).removesuffix("<br>")


def _inline(line: str, users: Mapping[str, str]) -> str:
    """Code spans and <…> sequences are made first and set aside, so styles can wrap them
    (*`code`* is bold code) but never reach inside them."""
    made: list[str] = []

    def aside(piece: str) -> str:
        made.append(piece)
        return f"\x00{len(made) - 1}\x00"

    line = _INLINE_CODE.sub(lambda m: aside(f"<code>{html.escape(_unentity(m[1]))}</code>"), line)
    line = _CONTROL.sub(lambda m: aside(_control(m[1], users)), line)
    return _ASIDE.sub(lambda m: made[int(m[1])], _styled(html.escape(_unentity(line))))


def _control(inside: str, users: Mapping[str, str]) -> str:
    target, _, label = inside.partition("|")
    if target.startswith("@"):
        return f'<span class="mention">@{html.escape(_name(target[1:], users))}</span>'
    if target.startswith(("http://", "https://", "mailto:")):
        href = html.escape(_unentity(target), quote=True)
        return (
            f'<a href="{href}" target="_blank" rel="noopener noreferrer">{html.escape(_unentity(label or target))}</a>'
        )
    return html.escape(_unentity(label or target))


def _styled(escaped: str) -> str:
    for pattern, replacement in _STYLES:
        escaped = pattern.sub(replacement, escaped)
    return escaped


def _unentity(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element(element: Mapping[str, Any], users: Mapping[str, str]) -> str:
    text = str(element.get("text", ""))
    return mrkdwn_html(text, users) if element.get("type") == "mrkdwn" else html.escape(text)


def _mentions(text: str, users: Mapping[str, str]) -> str:
    return _MENTION.sub(lambda m: f"@{_name(m[1], users)}", text)


def _name(user_id: str, users: Mapping[str, str]) -> str:
    return BOT_NAME if user_id == BOT_USER_ID else users.get(user_id, user_id)
