"""What Claude writes, made safe to post: it may repeat whatever a pull request or a pasted
log told it to (a prompt injection), so broadcast mentions must not ping anyone and a link must
not pretend to go somewhere it does not.

Slack's special mentions are `<!here>`, `<!channel>`, `<!everyone>` and `<!subteam^ID>`
(docs.slack.dev, "Formatting text for app surfaces"); they are shown as inline code instead.
A link whose label looks like a different address is shown as its real target.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

_BROADCAST = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>|<!subteam\^[A-Za-z0-9]+(?:\|@?([^>]*))?>")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_LOOKS_LIKE_ADDRESS = re.compile(r"^\s*(?:https?://)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?:[/:?#]\S*)?\s*$")
HOLD_MAX = 1_000  # an unclosed `<` or `[` is held back at most this long, waiting for its end


def neutralise(text: str) -> str:
    text = _BROADCAST.sub(lambda m: f"`@{m.group(1) or m.group(2) or 'team'}`", text)
    text = _SLACK_LINK.sub(lambda m: _link(m.group(1), m.group(2), m.group(0)), text)
    return _MARKDOWN_LINK.sub(lambda m: _link(m.group(2), m.group(1), m.group(0)), text)


def _link(target: str, label: str, as_written: str) -> str:
    shown = _LOOKS_LIKE_ADDRESS.match(label)
    if shown and shown.group(1).lower() != (urlparse(target).hostname or "").lower():
        return target  # the label names another address: show where it really goes
    return as_written


class SafeStream:
    """`neutralise` for text that arrives in pieces: a `<` or `[` whose end has not arrived yet
    is held back until it does (or HOLD_MAX characters pass), so nothing is posted half-checked."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        cut = _open_from(text)
        self._held = text[cut:]
        return neutralise(text[:cut])

    def finish(self) -> str:
        rest, self._held = self._held, ""
        return neutralise(rest)


def _open_from(text: str) -> int:
    """Where a `<…>` or `[…](…)` still open at the end of `text` starts (len(text): none)."""
    start = max(text.rfind("<"), text.rfind("["))
    if start < 0 or len(text) - start > HOLD_MAX:
        return len(text)
    tail = text[start:]
    if tail.startswith("<"):
        if len(tail) > 1 and tail[1] not in "!@#hm":  # `a < b`: no Slack token starts so
            return len(text)
        return len(text) if ">" in tail else start
    closed = re.match(r"\[[^\]\n]*\]\([^)\s]*\)", tail) or re.match(r"\[[^\]\n]*\](?!\(|$)", tail) or "\n" in tail
    return len(text) if closed else start
