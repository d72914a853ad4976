"""Split a streamed Markdown answer into Slack messages of at most `limit` characters.

Slack caps one message's Markdown at 12,000 characters, and Claude's answer arrives as a stream
of small deltas. `MarkdownSplitter` turns the deltas into operations: `Append(text)` to the
current message, `NextMessage()` to continue in a new one. Pure logic: no I/O, no Slack SDK.

How a message ends, best first:
  1. at a paragraph boundary (a blank line, or the start of a code block) in the last 20% of the
     message, so a message break reads like a paragraph break;
  2. at a line boundary; inside a code block the block is closed there and reopened at the start
     of the next message with the same indentation, fence and info string, so that every message
     renders on its own;
  3. inside a line, only for a line that cannot end the message any other way: at a space near
     the end of the room if there is one, else hard; never where either part would read as a
     fence line the whole line is not (the rest of the line starts a line of the next message).
Whitespace exactly at a message boundary may be dropped; nothing else is.

Not kept balanced: a code block whose fence marker is longer than a tenth of the limit (it is
not treated as one), and an opening fence line too long to fit in a message with its closing
fence (the rest of its info string goes into the reopened block).

Streaming: a message only ends when the text really overflows it, so an answer that fits stays
one message. Text is emitted as soon as no later split could move it: complete lines at once,
the start of an unfinished line while it is clear of the end of the message (a reserve of
~1/12 of the limit), and past a paragraph boundary in the last 20% everything is held until the
next boundary or an overflow. Every decision depends only on the text, never on how it was cut
into deltas, so feeding one character at a time gives the same messages as the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SLACK_MARKDOWN_LIMIT = 12_000


@dataclass(frozen=True)
class Append:
    text: str  # append this to the current message


@dataclass(frozen=True)
class NextMessage:
    pass  # the current message is complete; later Appends go to a new message


# CommonMark fences: up to 3 spaces, then 3+ backticks or tildes; a backtick fence's info string
# may not contain a backtick. A closing fence is the same character, at least as many, then spaces.
_OPENER = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_CLOSER = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
# Unfinished lines that could still become an opening / closing fence. Their fate is unknown, so
# they are never emitted early. (Both languages are closed under prefixes: once a partial line
# stops matching, no continuation can match again.)
_MAYBE_OPENER = re.compile(r" {0,3}(?:`{0,2}|~{0,2}|`{3,}[^`]*|~{3,}.*)")
_MAYBE_CLOSER = re.compile(r" {0,3}(?:`+|~+)?[ \t]*")
# How every fence line starts. The rest of a line cut in two starts a line of the next message,
# so it must not start like this; deciding that needs this many characters past the cut.
_FENCE_START = re.compile(r" {0,3}(?:`{3}|~{3})")
_FENCE_START_LEN = 6


@dataclass(frozen=True)
class _Fence:
    indent: str  # kept on the closing/reopening lines: inside a list item it keeps the same meaning
    marker: str  # "```", "~~~", "````", ...
    reopen: str  # the line that reopens the block in the next message, newline included


class MarkdownSplitter:
    """Incremental: feed() streamed deltas, get back the operations that are safe to perform now."""

    def __init__(self, limit: int = SLACK_MARKDOWN_LIMIT) -> None:
        if limit < 40:
            raise ValueError(f"limit must be at least 40 characters, got {limit}")
        self._limit = limit
        self._para_at = limit * 4 // 5  # "the last part" of a message, where a paragraph break is preferred
        self._reserve = limit // 12  # keep clear of the end while the line's length is unknown
        # A fence marker or reopening line longer than this is not treated as a fence: the
        # close/reopen overhead must leave room for text, or a split could never make progress.
        self._max_head = limit // 10

        self._buf = ""  # received but not placed yet: the rest of the current line, and what follows
        self._ops: list[Append | NextMessage] = []
        self._chunks: list[str] = []  # text for the Append being built (coalesced)

        # The current message.
        self._len = 0  # placed characters, including a reopening line
        self._has_content = False  # anything placed besides the reopening line
        self._ends_nl = True
        self._pending = False  # the message has not started: NextMessage + reopen are due before its text
        self._prefix = ""  # the reopening line the message starts with
        self._held: str | None = None  # text after the last paragraph boundary (None: no boundary)
        self._fence: _Fence | None = None  # the code block open at the end of what was placed

        # The current line.
        self._line = ""  # its part already consumed (placed or dropped), maybe in earlier messages
        self._here = False  # part of it is in the current message
        self._plain_from: int | None = None  # its prefixes this long or longer are no fence line
        self._before: _Fence | None = None  # the code block open at its start

    def feed(self, text: str) -> list[Append | NextMessage]:
        self._buf += text
        self._drain(final=False)
        return self._take_ops()

    def finish(self) -> list[Append | NextMessage]:
        self._drain(final=True)
        self._flush_held()
        if self._has_content and self._fence:  # an answer can stop inside a code block
            self._out(self._closing())
        return self._take_ops()

    # -- the decisions -------------------------------------------------------------------------

    def _drain(self, final: bool) -> None:
        while self._buf:
            nl = self._buf.find("\n")
            rest = self._buf[: nl + 1] if nl >= 0 else self._buf
            if not self._step(rest, complete=nl >= 0 or final):
                return

    def _step(self, rest: str, complete: bool) -> bool:
        """One decision about `rest`, the unplaced part of the current line. False: need more text."""
        # Whitespace at a message boundary; also keeps a reopened block from holding only blank lines.
        if complete and not self._here and not rest.strip() and (self._line or self._pending):
            return self._consume(rest, done=True)

        if self._held is None:  # emit the start of the line early while it is clear of the end
            end = self._limit - self._reserve - self._close_len(self._fence, False) - self._len
            n = min(len(rest) - rest.endswith("\n"), end)
            if n > 0 and (self._here or rest[:n].strip()) and not self._maybe_fence(rest[:n]):
                self._place(rest[:n])
                return self._consume(rest[:n], done=complete and n == len(rest))

        if complete:
            after = self._after(self._line + rest)
            boundary = after is not None or not rest.strip()  # a code block starts, or a blank line
            at_boundary = boundary and not self._line and self._before is None and self._len >= self._para_at
            if at_boundary and (self._held is None or self._held.strip()):  # blank lines: one boundary
                self._flush_held()
                self._held = ""
            if self._len + len(rest) + self._close_len(after, rest.endswith("\n")) <= self._limit:
                self._place(rest)
                self._fence = after
                return self._consume(rest, done=True)
        elif self._maybe_fence(rest) or not (self._here or rest.strip()):
            return False  # a fence line or a blank line: undecidable until it is complete
        else:
            after = self._fence
            if self._len + len(rest) + self._close_len(after, False) <= self._limit:
                return False  # it may still fit

        # The line overflows the message.
        if self._held is not None:
            self._split_at_boundary()
            return True
        room = self._limit - self._len - self._close_len(after, False)
        text = rest.rstrip()
        if len(text) <= room:  # it fits without its trailing whitespace: end the message after it
            if not complete:
                return False
            if text:
                self._place(text)
            self._fence = after
            self._break()
            return self._consume(rest, done=True)
        if not self._here and self._has_content:  # it may fit in a message of its own
            self._break()
            return True
        if not complete and len(rest) < room + _FENCE_START_LEN:
            return False  # where to cut depends on the characters just past the room
        piece = self._cut(rest, room, after)
        if piece.strip():
            self._place(piece)
        self._fence = after
        self._break()
        return self._consume(piece, done=False)

    def _split_at_boundary(self) -> None:
        """End the message at the held paragraph boundary; the held text goes to the next one."""
        back, self._held = self._held or "", None
        self._fence = None  # boundaries are outside code blocks
        self._break()
        self._buf = back + self._buf
        self._end_line()

    def _cut(self, rest: str, room: int, after: _Fence | None) -> str:
        """The head of an over-long line that goes into the current message."""
        # Only a space in the last fifth of the room: a much shorter message just to cut at a word
        # boundary is worse than a hard cut in a long word.
        lo = room - room // 5
        i = max(rest.rfind(" ", lo, room), rest.rfind("\t", lo, room))
        cut = i + 1 if i > 0 else room
        # The rest goes to the start of a line in the next message, where "```" would open a block.
        while cut > 1 and _FENCE_START.match(rest, cut):
            cut -= 1
        # A head that starts the line must not be a fence line when the whole line is not (or the
        # other way round): "```sh … `x`" is no fence but its head "```sh …" would open one.
        if not self._line and (self._after(rest[:cut]) is None) != (after is None):
            cut = len(rest) - len(rest.lstrip(" ")) + 2  # inside the marker: "``" is no fence
        return rest[:cut]

    # -- fences --------------------------------------------------------------------------------

    def _after(self, line: str) -> _Fence | None:
        """The code block open after the complete `line`."""
        body = line.rstrip("\r\n")
        if self._before is not None:
            m = _CLOSER.fullmatch(body)
            marker = self._before.marker
            if m and m[1][0] == marker[0] and len(m[1]) >= len(marker):
                return None
            return self._before
        m = _OPENER.fullmatch(body)
        if not m or (m[2][0] == "`" and "`" in m[3]) or len(m[2]) > self._max_head:
            return None
        indent, marker, info = m[1], m[2], m[3].strip()
        # "~~~ ~x" must not reopen as "~~~~x": a longer marker that "~~~" does not close.
        sep = " " if info.startswith(marker[0]) else ""
        heads = [marker + sep + info, marker + sep + (info.split() or [""])[0], marker]
        head = next(h for h in heads if len(h) <= self._max_head)
        return _Fence(indent, marker, indent + head + "\n")

    def _maybe_fence(self, head: str) -> bool:
        """Could the current line, starting with what was consumed plus `head`, be a fence line?"""
        n = len(self._line) + len(head)
        if self._plain_from is not None and n >= self._plain_from:
            return False  # cached: rescanning a long line for every delta would be quadratic
        pattern = _MAYBE_OPENER if self._before is None else _MAYBE_CLOSER
        if pattern.fullmatch(self._line + head):
            return True
        self._plain_from = n
        return False

    def _close_len(self, fence: _Fence | None, ends_nl: bool) -> int:
        return 0 if fence is None else len(fence.indent) + len(fence.marker) + (not ends_nl)

    def _closing(self) -> str:
        assert self._fence is not None
        return ("" if self._ends_nl else "\n") + self._fence.indent + self._fence.marker

    # -- bookkeeping ---------------------------------------------------------------------------

    def _place(self, text: str) -> None:
        """Put text of the current line into the current message (held back after a boundary)."""
        self._len += len(text)
        self._has_content = True
        self._ends_nl = text.endswith("\n")
        self._here = True
        if self._held is None:
            self._out(text)
        else:
            self._held += text

    def _consume(self, text: str, done: bool) -> bool:
        self._buf = self._buf[len(text) :]
        self._line += text
        if done:
            self._end_line()
        return True

    def _end_line(self) -> None:
        self._line, self._here, self._plain_from = "", False, None
        self._before = self._fence

    def _break(self) -> None:
        """End the current message here: close an open code block; the next one reopens it."""
        if not self._has_content:
            return
        if self._fence:
            self._out(self._closing())
        self._pending = True
        self._prefix = self._fence.reopen if self._fence else ""
        self._len = len(self._prefix)
        self._has_content, self._here, self._ends_nl = False, False, True

    def _flush_held(self) -> None:
        if self._held:
            self._out(self._held)
        self._held = None

    def _out(self, text: str) -> None:
        # NextMessage waits for the new message's first text: never an empty or trailing message.
        if self._pending:
            self._flush_chunks()
            self._ops.append(NextMessage())
            self._pending = False
            if self._prefix:
                self._chunks.append(self._prefix)
        self._chunks.append(text)

    def _flush_chunks(self) -> None:
        if self._chunks:
            self._ops.append(Append("".join(self._chunks)))
            self._chunks = []

    def _take_ops(self) -> list[Append | NextMessage]:
        self._flush_chunks()
        ops, self._ops = self._ops, []
        return ops


def split_markdown(text: str, limit: int = SLACK_MARKDOWN_LIMIT) -> list[str]:
    """The whole text as a list of messages (uses MarkdownSplitter; one obvious algorithm for both uses)."""
    splitter = MarkdownSplitter(limit)
    messages: list[str] = []
    current: list[str] = []
    for op in splitter.feed(text) + splitter.finish():
        if isinstance(op, NextMessage):
            messages.append("".join(current))
            current = []
        else:
            current.append(op.text)
    if current:
        messages.append("".join(current))
    return messages
