"""One answer in a Slack thread: status, streamed text, splitting, footer, failure words.

Streams with chat.startStream/appendStream/stopStream. Where Slack refuses streaming (some
apps, workspaces or channel types), it posts the message and edits it with chat.update at a
cadence Tier 3 allows. Long answers continue in further messages (see split.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ContextActionsBlock, ContextBlock, MarkdownTextObject
from slack_sdk.models.blocks.basic_components import FeedbackButtonObject
from slack_sdk.models.blocks.block_elements import FeedbackButtonsElement
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bot.agents import Agent
from bot.claude import Answer
from bot.logs import log_event
from bot.slack.events import ThreadTarget
from bot.slack.split import Append, MarkdownSplitter, NextMessage

log = logging.getLogger(__name__)

# chat.appendStream is Tier 4 (100+/min): one call a second per answer leaves headroom.
STREAM_INTERVAL_S = 1.0
# chat.update is Tier 3 (50+/min): the fallback edits a message at most every 1.5 s.
UPDATE_INTERVAL_S = 1.5
THINKING_STATUS = "is thinking…"
LOADING_MESSAGES = ["Reading your question…", "Thinking it through…", "Writing the answer…"]
WORKING_REACTION = "eyes"
FEEDBACK_ACTION = "answer_feedback"

SLACK_SURFACE = (
    "You are answering inside a Slack thread, as a colleague in the team's workspace. "
    "Write standard Markdown: short paragraphs, **bold** for key points, lists, headings only "
    "for long answers, fenced code blocks with a language tag, and tables where they help. "
    "Lead with the answer, then the reasoning. Several people may read the thread; speak to "
    "the person asking. You cannot run code or open links: work from what is in the conversation."
)


def footer_blocks(agent: Agent, model: str) -> list[dict[str, Any]]:
    """A small footer naming who answered, and feedback buttons."""
    return [
        ContextBlock(elements=[MarkdownTextObject(text=f"*{agent.name}* · `{model}`")]).to_dict(),
        ContextActionsBlock(elements=[FeedbackButtonsElement(
            action_id=FEEDBACK_ACTION,
            positive_button=FeedbackButtonObject(text="Helpful", value="helpful"),
            negative_button=FeedbackButtonObject(text="Not helpful", value="not_helpful"),
        )]).to_dict(),
    ]


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code (`not_in_channel`…), or the HTTP status when the body was not JSON."""
    data = error.response.data
    return data.get("error", "unknown") if isinstance(data, dict) else f"http_{error.response.status_code}"


class ThreadReply:
    """An `AnswerSink` that writes into one Slack thread."""

    def __init__(self, client: AsyncWebClient, target: ThreadTarget, request_id: str,
                 clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._target = target
        self._request_id = request_id
        self._clock = clock
        self._splitter = MarkdownSplitter()
        self._streaming = True  # False once Slack refused streaming
        self._stream: AsyncChatStream | None = None
        self._ts: str | None = None  # the current message, in post-and-update mode
        self._text = ""  # the current message's whole text
        self._sent = 0  # how much of it Slack has
        self._last_send = -math.inf
        self.posted: list[str] = []  # ts of every message this answer posted

    # -- AnswerSink --------------------------------------------------------------------

    async def working(self) -> None:
        t = self._target
        await self._quietly("reactions.add", self._client.reactions_add(
            channel=t.channel, timestamp=t.message_ts, name=WORKING_REACTION))
        await self._quietly("assistant.threads.setStatus", self._client.assistant_threads_setStatus(
            channel_id=t.channel, thread_ts=t.thread_ts, status=THINKING_STATUS,
            loading_messages=LOADING_MESSAGES))

    async def append(self, text: str) -> None:
        await self._apply(self._splitter.feed(text))
        interval = STREAM_INTERVAL_S if self._streaming else UPDATE_INTERVAL_S
        if self._clock() - self._last_send >= interval:
            await self._send()

    async def finish(self, answer: Answer, agent: Agent) -> None:
        ending = ""
        if not answer.text.strip():
            ending = "_Claude returned an empty answer. Try rephrasing the question._"
        if answer.note:
            ending += f"\n\n_⚠️ {answer.note}_"
        await self._apply(self._splitter.feed(ending) + self._splitter.finish())
        await self._close(footer_blocks(agent, answer.model))
        await self._done()

    async def fail(self, message: str) -> None:
        warning = f"⚠️ {message}"
        if not (self._text or self.posted or self._stream):
            t = self._target
            response = await self._client.chat_postMessage(channel=t.channel, thread_ts=t.thread_ts, text=warning)
            self.posted.append(response["ts"])
        else:
            # The partial answer stays, and the same message says it is incomplete.
            await self._apply(self._splitter.feed(f"\n\n{warning}") + self._splitter.finish())
            await self._close(None)
        await self._quietly("assistant.threads.setStatus", self._client.assistant_threads_setStatus(
            channel_id=self._target.channel, thread_ts=self._target.thread_ts, status=""))
        await self._done()

    # -- messages ----------------------------------------------------------------------

    async def _apply(self, ops: list[Append | NextMessage]) -> None:
        for op in ops:
            if isinstance(op, Append):
                self._text += op.text
            else:
                await self._close(None)

    async def _send(self) -> None:
        """Give Slack what it does not have yet of the current message."""
        if len(self._text) == self._sent:
            return
        self._last_send = self._clock()
        if self._streaming:
            try:
                stream = await self._open_stream()
                await stream.append(markdown_text=self._text[self._sent:])
                self._sent = len(self._text)
                return
            except SlackApiError as error:
                self._stop_streaming(error)
        await self._post_or_update(markdown_text=self._text)
        self._sent = len(self._text)

    async def _close(self, blocks: list[dict[str, Any]] | None) -> None:
        """Finish the current message (its rest, then `blocks` under it); the next text starts a new one."""
        if self._streaming:
            try:
                stream = await self._open_stream()
                await stream.stop(markdown_text=self._text[self._sent:] or None, blocks=blocks)
                self.posted.append(str(stream.ts))
                self._reset()
                return
            except SlackApiError as error:
                self._stop_streaming(error)
        # A markdown block carries the text when other blocks sit under it.
        body = [{"type": "markdown", "text": self._text}] + (blocks or [])
        await self._post_or_update(blocks=body, text=self._text[:3000])
        self._reset()

    async def _open_stream(self) -> AsyncChatStream:
        if self._stream is None:
            t = self._target
            self._stream = await self._client.chat_stream(
                channel=t.channel, thread_ts=t.thread_ts, recipient_team_id=t.team,
                recipient_user_id=t.user, buffer_size=1)  # we batch; the SDK should not
        return self._stream

    def _stop_streaming(self, error: SlackApiError) -> None:
        log_event(log, "streaming_refused", logging.WARNING, request_id=self._request_id,
                  error=slack_error_code(error), fallback="chat.update")
        self._streaming = False
        if self._stream is not None and self._stream.ts:
            # A started stream is a message like any other: keep editing it.
            self._ts = str(self._stream.ts)
            if self._ts not in self.posted:
                self.posted.append(self._ts)
        self._stream = None

    async def _post_or_update(self, **content: Any) -> None:
        t = self._target
        if self._ts is None:
            response = await self._client.chat_postMessage(channel=t.channel, thread_ts=t.thread_ts, **content)
            self._ts = response["ts"]
            self.posted.append(str(self._ts))
        else:
            await self._client.chat_update(channel=t.channel, ts=self._ts, **content)

    def _reset(self) -> None:
        self._stream, self._ts, self._text, self._sent = None, None, "", 0

    async def _done(self) -> None:
        t = self._target
        await self._quietly("reactions.remove", self._client.reactions_remove(
            channel=t.channel, timestamp=t.message_ts, name=WORKING_REACTION))

    async def _quietly(self, method: str, call: Awaitable[Any]) -> None:
        """Status and reactions are courtesies: their failure must not cost the answer."""
        try:
            await call
        except SlackApiError as error:
            log_event(log, "slack_call_failed", logging.WARNING, request_id=self._request_id,
                      method=method, error=slack_error_code(error))
