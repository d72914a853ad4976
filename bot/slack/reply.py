"""One answer in a Slack thread: status, streamed text, splitting, footer, failure words.

Each message of an answer reaches Slack the liveliest way the rate budget (budget.py) allows
when its first text is ready: streamed (chat.startStream/appendStream/stopStream, Tier 2 to
open and close); else posted and edited (chat.postMessage, then chat.update, Tier 3); else
posted once, whole, when it is complete. The same edit path takes over where Slack refuses
streaming (some apps, workspaces or channel types). Long answers continue in further
messages (see split.py). The :eyes: reaction is the first thing to go when budget is short;
the status and the answer never are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ContextActionsBlock, ContextBlock, MarkdownTextObject
from slack_sdk.models.blocks.basic_components import FeedbackButtonObject
from slack_sdk.models.blocks.block_elements import FeedbackButtonsElement
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bot.agents import Agent, color_emoji
from bot.claude import Answer, fallback_notice
from bot.logs import log_event
from bot.slack.budget import SlackBudget, prepaid
from bot.slack.errors import slack_error_code
from bot.slack.events import ThreadTarget
from bot.slack.safe_text import SafeStream
from bot.slack.split import SLACK_MARKDOWN_LIMIT, Append, MarkdownSplitter, NextMessage

log = logging.getLogger(__name__)

# At most one chat.appendStream a second per answer (Tier 4, shared by every answer), and one
# chat.update every 2 s (Tier 3): each also only when the budget has a call to spare now.
STREAM_INTERVAL_S = 1.0
UPDATE_INTERVAL_S = 2.0
STREAM, EDIT, WHOLE = "stream", "edit", "whole"  # how a message reaches Slack, liveliest first
THINKING_STATUS = "is thinking…"
# Slack takes a thread's status away after two minutes without a message (setStatus docs);
# a long think at high effort outlasts that, so the status is set again before it lapses.
STATUS_REFRESH_S = 90.0
LOADING_MESSAGES = ["Reading your question…", "Thinking it through…", "Writing the answer…"]
WORKING_REACTION = "eyes"
FEEDBACK_ACTION = "answer_feedback"
SUPERSEDED = "_(Claude broke off here; the answer starts again below.)_"

SLACK_SURFACE = (
    "You are answering inside a Slack thread, as a colleague in the team's workspace. "
    "Write standard Markdown: short paragraphs, **bold** for key points, lists, headings only "
    "for long answers, fenced code blocks with a language tag, and tables where they help. "
    "Lead with the answer, then the reasoning. Several people may read the thread; speak to "
    "the person asking. You cannot run code or open links: work from what is in the conversation."
)


def footer_blocks(agent: Agent, model: str, notices: Sequence[str] = ()) -> list[dict[str, Any]]:
    """A small footer naming who answered (and anything the asker should know, such as what
    was redacted), and feedback buttons."""
    badge = f"{color_emoji(agent.color)} " if color_emoji(agent.color) else ""
    lines = [f"{badge}*{agent.name}* · `{model}`", *notices]
    return [
        ContextBlock(elements=[MarkdownTextObject(text=line) for line in lines]).to_dict(),
        ContextActionsBlock(
            elements=[
                FeedbackButtonsElement(
                    action_id=FEEDBACK_ACTION,
                    positive_button=FeedbackButtonObject(text="Helpful", value="helpful"),
                    negative_button=FeedbackButtonObject(text="Not helpful", value="not_helpful"),
                )
            ]
        ).to_dict(),
    ]


class ThreadReply:
    """An `AnswerSink` that writes into one Slack thread.

    Claude's text is collected as it comes; one pump task gives Slack what is new at a steady
    cadence (so a pause in Claude's stream never strands text), and only that task or the
    final close talk to Slack about the message, one at a time.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: ThreadTarget,
        request_id: str,
        budget: SlackBudget | None = None,
        on_posted: Callable[[str], None] | None = None,
    ):
        self._client = client
        self._target = target
        self._request_id = request_id
        self._budget = budget or getattr(client, "budget", None) or SlackBudget()
        self._splitter = MarkdownSplitter()
        self._safe = SafeStream()  # no broadcast mentions or disguised links reach Slack
        self._streaming = True  # False once Slack refused or broke streaming for this answer
        self._mode: str | None = None  # how the current message reaches Slack; chosen with its first text
        self._reacted = False  # :eyes: shown (and its removal paid for)
        self._owed: list[str] = []  # calls reserved for the current message and not made yet
        self._stream: AsyncChatStream | None = None
        self._ts: str | None = None  # the current message, in post-and-update mode
        self._text = ""  # the current message's whole text
        self._sent = 0  # how much of it Slack has
        self._lock = asyncio.Lock()  # one conversation with Slack about the message at a time
        self._pump: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.posted: list[str] = []  # ts of every message this answer posted
        self._on_posted = on_posted  # told at once, so a crash leaves no message unaccounted for
        self.notices: list[str] = []  # shown in the footer, e.g. what was redacted
        self._status = THINKING_STATUS  # what the thread's status says while nothing is shown
        self._keep_status: asyncio.Task[None] | None = None

    # -- AnswerSink --------------------------------------------------------------------

    async def working(self) -> None:
        t = self._target
        # Cosmetic, and the first call to go when the budget is short (its removal with it).
        if self._budget.reserve("reactions.add"):
            if self._budget.reserve("reactions.remove"):
                self._reacted = True
                with prepaid():
                    await self._quietly(
                        "reactions.add",
                        self._client.reactions_add(channel=t.channel, timestamp=t.message_ts, name=WORKING_REACTION),
                    )
            else:
                self._budget.release("reactions.add")
        await self._set_status(THINKING_STATUS)
        self._keep_status = asyncio.create_task(self._keep_status_alive(), name=f"{self._request_id}-status")

    async def thinking(self) -> None:
        if self._status != THINKING_STATUS:  # e.g. after "Claude is busy, retrying…"
            await self._set_status(THINKING_STATUS)

    async def append(self, text: str) -> None:
        text = self._safe.feed(text)
        if not text:
            return
        ops = self._splitter.feed(text)
        if any(isinstance(op, NextMessage) for op in ops):
            async with self._lock:
                await self._apply(ops)
        else:
            self._text += "".join(op.text for op in ops if isinstance(op, Append))
        if self._pump is None and self._text:
            self._pump = asyncio.create_task(self._pump_text(), name=f"{self._request_id}-pump")

    async def retrying(self, status: str) -> None:
        await self._set_status(status)

    async def _set_status(self, status: str) -> None:
        self._status = status
        loading: dict[str, Any] = {"loading_messages": LOADING_MESSAGES} if status == THINKING_STATUS else {}
        await self._quietly(
            "assistant.threads.setStatus",
            self._client.assistant_threads_setStatus(
                channel_id=self._target.channel, thread_ts=self._target.thread_ts, status=status, **loading
            ),
        )

    async def _keep_status_alive(self) -> None:
        """Until the answer shows, say again what the status says before Slack lets it lapse."""
        while True:
            await asyncio.sleep(STATUS_REFRESH_S)
            if not (self.posted or self._text):  # text on its way to Slack clears the status anyway
                await self._set_status(self._status)

    async def restart(self) -> None:
        """Claude broke off mid-answer and starts again: what was shown goes, so the thread
        never holds the first part twice or a spliced answer."""
        await self._stop_pump()
        async with self._lock:
            if self._stream is not None and self._stream.ts:
                await self._quietly(
                    "chat.stopStream",
                    self._call(
                        "chat.stopStream",
                        self._client.chat_stopStream(channel=self._target.channel, ts=str(self._stream.ts)),
                    ),
                )
            for ts in self.posted:
                await self._retract(ts)
            self.posted.clear()
            self._splitter, self._safe = MarkdownSplitter(), SafeStream()
            self._ts = None
            self._reset()
            self._pump, self._stopping = None, asyncio.Event()

    async def finish(self, answer: Answer, agent: Agent) -> None:
        self._stop_keeping_status()
        await self._stop_pump()
        async with self._lock:
            await self._apply(self._splitter.feed(self._safe.finish()))
            await self._apply(self._splitter.finish())  # closes a code block the answer left open
            if not answer.text.strip():
                await self._add_paragraph("_Claude returned an empty answer. Try rephrasing the question._")
            if answer.note:
                await self._add_paragraph(f"_⚠️ {answer.note}_")
            notices = [*self.notices, *([f"⚠️ {fallback_notice(answer.fallback_from)}"] if answer.fallback_from else [])]
            try:
                await self._close(footer_blocks(agent, answer.model, notices))
            finally:
                await self._done()

    async def fail(self, message: str, warning: bool = True) -> None:
        self._stop_keeping_status()
        await self._stop_pump()
        text = f"⚠️ {message}" if warning else message
        try:
            async with self._lock:
                if not (self._text or self.posted or self._stream or self._ts):
                    t = self._target
                    response = await self._client.chat_postMessage(channel=t.channel, thread_ts=t.thread_ts, text=text)
                    self._note_posted(str(response["ts"]))
                else:
                    # The partial answer stays, and the same message says it is incomplete.
                    await self._apply(self._splitter.feed(self._safe.finish()))
                    await self._apply(self._splitter.finish())
                    await self._add_paragraph(text)
                    await self._close(None)
            await self._quietly(
                "assistant.threads.setStatus",
                self._client.assistant_threads_setStatus(
                    channel_id=self._target.channel, thread_ts=self._target.thread_ts, status=""
                ),
            )
        finally:
            await self._done()

    # -- the pump ----------------------------------------------------------------------

    async def _pump_text(self) -> None:
        while not self._stopping.is_set():
            interval = STREAM_INTERVAL_S if self._mode in (None, STREAM) else UPDATE_INTERVAL_S
            try:
                async with self._lock:
                    if len(self._text) > self._sent:
                        await self._send()
            except Exception as error:  # noqa: BLE001 - the final close tries again and reports for real
                log_event(
                    log, "slack_send_failed", logging.WARNING, request_id=self._request_id, error=repr(error)[:300]
                )
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def _stop_pump(self) -> None:
        self._stopping.set()
        if self._pump is not None:
            await self._pump

    # -- messages ----------------------------------------------------------------------

    async def _apply(self, ops: list[Append | NextMessage]) -> None:
        for op in ops:
            if isinstance(op, Append):
                self._text += op.text
            else:
                await self._close(None)

    async def _add_paragraph(self, text: str) -> None:
        """A closing word of ours, after the answer (outside any code block by now)."""
        if self._text and len(self._text) + 2 + len(text) > SLACK_MARKDOWN_LIMIT:
            await self._close(None)
        self._text += f"\n\n{text}" if self._text else text

    def _choose_mode(self) -> str:
        """The liveliest way the budget allows for a message whose first text is ready. What
        the way will need later (the stopStream, the final edit) is reserved now."""
        budget, channel = self._budget, self._target.channel
        if self._streaming and budget.reserve("chat.startStream"):
            if budget.reserve("chat.stopStream"):
                self._owed = ["chat.startStream", "chat.stopStream"]
                return STREAM
            budget.release("chat.startStream")
        if budget.available("chat.postMessage", channel) >= 1 and budget.reserve("chat.update"):
            self._owed = ["chat.update"]  # the final edit, with the footer
            return EDIT
        return WHOLE

    async def _call(self, method: str, call: Awaitable[Any]) -> Any:
        """Make a call; one this message reserved a token for spends that reservation."""
        if method not in self._owed:
            return await call
        self._owed.remove(method)
        with prepaid():
            return await call

    def _reserve(self, method: str) -> bool:
        """A token for a call about to be made, if one is free now."""
        if self._budget.reserve(method):
            self._owed.append(method)
            return True
        return False

    async def _send(self) -> None:
        """Give Slack what it does not have yet of the current message, if the budget has a
        call to spare now. (Text that arrives during the call is left for the next one.)"""
        text = self._text
        if self._mode is None:
            self._mode = self._choose_mode()
            if self._mode != STREAM:
                log_event(
                    log,
                    "answer_degraded",
                    request_id=self._request_id,
                    mode=self._mode,
                    streaming_refused=not self._streaming,
                )
        if self._mode == STREAM:
            stream = await self._open_stream()
            # The first append opens the stream (its startStream is reserved); later ones wait a turn.
            if stream.ts is not None and not self._reserve("chat.appendStream"):
                return
            try:
                await self._call(
                    "chat.startStream" if stream.ts is None else "chat.appendStream",
                    stream.append(markdown_text=text[self._sent :]),
                )
                self._sent = len(text)
                if stream.ts:
                    self._note_posted(str(stream.ts))
                return
            except Exception as error:  # noqa: BLE001 - refused, expired or timed out: edit the message instead
                await self._stop_streaming(error)
        if self._mode == EDIT:
            t = self._target
            if self._ts is None:
                response = await self._client.chat_postMessage(
                    channel=t.channel, thread_ts=t.thread_ts, markdown_text=text
                )
                self._ts = str(response["ts"])
                self._note_posted(self._ts)
            elif self._reserve("chat.update"):
                await self._call(
                    "chat.update", self._client.chat_update(channel=t.channel, ts=self._ts, markdown_text=text)
                )
            else:
                return
            self._sent = len(text)
        # WHOLE: the text waits until the message is complete.

    async def _close(self, blocks: list[dict[str, Any]] | None) -> None:
        """Finish the current message (its rest, then `blocks` under it); the next text starts a new one."""
        # A markdown block carries the text when other blocks sit under it.
        content: dict[str, Any] = (
            {"blocks": [{"type": "markdown", "text": self._text}, *blocks], "text": self._text[:3000]}
            if blocks
            else {"markdown_text": self._text}
        )
        if self._mode == STREAM and self._stream is not None and self._stream.ts:
            try:
                await self._call(
                    "chat.stopStream", self._stream.stop(markdown_text=self._text[self._sent :] or None, blocks=blocks)
                )
                self._note_posted(str(self._stream.ts))
                self._reset()
                return
            except Exception as error:  # noqa: BLE001
                await self._stop_streaming(error, stop_failed=True)
        if self._ts is None:
            # Nothing of it shown yet: one message, whole (never an empty stream).
            t = self._target
            response = await self._client.chat_postMessage(channel=t.channel, thread_ts=t.thread_ts, **content)
            self._note_posted(str(response["ts"]))
        else:
            await self._edit_to_complete(content)
        self._reset()

    async def _edit_to_complete(self, content: dict[str, Any]) -> None:
        """The message edited to its whole text and footer. One whose stream could not be
        stopped refuses edits (streaming_state_conflict): stop it again first. If the edit still
        fails (the message was deleted, say), the whole message is posted anew and the old one
        taken away: the answer always ends complete, with its footer."""
        t, ts = self._target, str(self._ts)
        try:
            await self._call("chat.update", self._client.chat_update(channel=t.channel, ts=ts, **content))
            return
        except SlackApiError as error:
            code = slack_error_code(error)
        if code == "streaming_state_conflict":
            await self._quietly("chat.stopStream", self._client.chat_stopStream(channel=t.channel, ts=ts))
            try:
                await self._client.chat_update(channel=t.channel, ts=ts, **content)
                return
            except SlackApiError as error:
                code = slack_error_code(error)
        log_event(log, "final_edit_failed", logging.WARNING, request_id=self._request_id, ts=ts, error=code)
        response = await self._client.chat_postMessage(channel=t.channel, thread_ts=t.thread_ts, **content)
        self._note_posted(str(response["ts"]))
        await self._retract(ts)

    async def _retract(self, ts: str) -> None:
        """Take a message of this answer away (deleted, or else marked superseded), stopping
        its stream first if Slack still holds it open."""
        channel = self._target.channel
        try:
            await self._client.chat_delete(channel=channel, ts=ts)
            return
        except Exception:  # noqa: BLE001, S110 - not allowed to delete: say it was superseded instead
            pass
        superseded: dict[str, Any] = {"text": SUPERSEDED, "blocks": [{"type": "markdown", "text": SUPERSEDED}]}
        try:
            await self._client.chat_update(channel=channel, ts=ts, **superseded)
        except SlackApiError as error:
            if slack_error_code(error) == "streaming_state_conflict":
                await self._quietly("chat.stopStream", self._client.chat_stopStream(channel=channel, ts=ts))
                await self._quietly("chat.update", self._client.chat_update(channel=channel, ts=ts, **superseded))
        except Exception as error:  # noqa: BLE001
            log_event(
                log,
                "slack_call_failed",
                logging.WARNING,
                request_id=self._request_id,
                method="chat.update",
                error=repr(error)[:200],
            )

    async def _open_stream(self) -> AsyncChatStream:
        if self._stream is None:
            t = self._target
            self._stream = await self._client.chat_stream(
                channel=t.channel,
                thread_ts=t.thread_ts,
                recipient_team_id=t.team,
                recipient_user_id=t.user,
                buffer_size=1,
            )  # we batch; the SDK should not
        return self._stream

    async def _stop_streaming(self, error: Exception, stop_failed: bool = False) -> None:
        """Carry on by editing. The SDK's stream object is dropped whole: whatever it still
        buffers is in our own text, which the edits send in full."""
        reason = slack_error_code(error) if isinstance(error, SlackApiError) else repr(error)[:200]
        log_event(
            log, "streaming_failed", logging.WARNING, request_id=self._request_id, error=reason, fallback="chat.update"
        )
        stream, self._stream, self._streaming, self._mode = self._stream, None, False, EDIT
        if stream is not None and stream.ts:
            self._ts = str(stream.ts)
            self._note_posted(self._ts)
            if not stop_failed:  # a stream left open shows as still being written
                await self._quietly(
                    "chat.stopStream",
                    self._call(
                        "chat.stopStream", self._client.chat_stopStream(channel=self._target.channel, ts=self._ts)
                    ),
                )
        self._release_owed()
        self._reserve("chat.update")  # for the final edit, if one is free

    def _release_owed(self) -> None:
        for method in self._owed:
            self._budget.release(method)
        self._owed = []

    def _note_posted(self, ts: str) -> None:
        if ts not in self.posted:
            self.posted.append(ts)
            if self._on_posted is not None:
                self._on_posted(ts)

    def _reset(self) -> None:
        self._release_owed()
        self._stream, self._ts, self._text, self._sent, self._mode = None, None, "", 0, None

    def _stop_keeping_status(self) -> None:
        if self._keep_status is not None:
            self._keep_status.cancel()

    async def _done(self) -> None:
        self._stop_keeping_status()
        t = self._target
        if self._reacted:
            self._reacted = False
            with prepaid():
                await self._quietly(
                    "reactions.remove",
                    self._client.reactions_remove(channel=t.channel, timestamp=t.message_ts, name=WORKING_REACTION),
                )

    async def _quietly(self, method: str, call: Awaitable[Any]) -> None:
        await quietly(method, call, self._request_id)


async def quietly(method: str, call: Awaitable[Any], request_id: str | None = None) -> None:
    """Status, reactions and tidying are courtesies: their failure must not cost the answer."""
    try:
        await call
    except Exception as error:  # noqa: BLE001
        reason = slack_error_code(error) if isinstance(error, SlackApiError) else repr(error)[:200]
        log_event(log, "slack_call_failed", logging.WARNING, request_id=request_id, method=method, error=reason)
