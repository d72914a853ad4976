"""Starting an answer in a thread, whoever asked for it (a mention, a follow-up, a review)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from slack_sdk.web.async_client import AsyncWebClient

from bot.answering import Answerer
from bot.background import BackgroundTasks, KeyedLocks
from bot.conversation import Turn
from bot.logs import log_event
from bot.slack.events import ThreadTarget
from bot.slack.reply import SLACK_SURFACE, SlackPacing, ThreadReply
from bot.store import Store, StoredMessage

log = logging.getLogger(__name__)

# Reads the conversation for Claude; may add notices (e.g. what was redacted) to the reply.
ConversationFor = Callable[[ThreadReply], Awaitable[Sequence[Turn]]]


class ThreadAnswers:
    def __init__(self, client: AsyncWebClient, answerer: Answerer, store: Store, tasks: BackgroundTasks,
                 bot_name: str = "backend-engineer"):
        self._client = client
        self._answerer = answerer
        self._store = store
        self._tasks = tasks
        self._bot_name = bot_name
        self._pacing = SlackPacing()  # rate tiers are per app: one budget for every answer
        self._one_at_a_time = KeyedLocks()  # per thread, so a follow-up sees the answer before it

    def start(self, target: ThreadTarget, request_id: str, conversation: ConversationFor,
              agent_name: str | None = None) -> None:
        """Answer in the background (the caller has acked); the thread's transcript learns the
        answer. `agent_name` skips routing (reviews go to the review agent)."""
        reply = ThreadReply(self._client, target, request_id, self._pacing)
        self._tasks.submit(self._answer(target, request_id, conversation, reply, agent_name, time.monotonic()),
                           name=request_id)

    def in_order(self, target: ThreadTarget) -> AbstractAsyncContextManager[None]:
        """Hold a thread: its answers, and the recording of what is said in it, one at a time."""
        return self._one_at_a_time.hold((target.channel, target.thread_ts))

    async def _answer(self, target: ThreadTarget, request_id: str, conversation: ConversationFor,
                      reply: ThreadReply, agent_name: str | None, received: float) -> None:
        async with AsyncExitStack() as held:
            async def read() -> Sequence[Turn]:
                # Waiting happens inside the answer, after the :eyes: and status are shown, and
                # a shutdown while waiting is told to the asker like any interruption.
                await held.enter_async_context(self.in_order(target))
                return await conversation(reply)

            answer = await self._answerer.answer(request_id, read, reply, SLACK_SURFACE, agent_name=agent_name,
                                                 conversation=f"{target.channel}/{target.thread_ts}")
            # The bot's own messages never come back as events: the transcript learns them here,
            # an answer split over several messages as one turn (its other messages recorded empty).
            for n, ts in enumerate(reply.posted):
                text = answer.text if answer is not None and n == 0 else ""
                self._store.record(target.channel, target.thread_ts,
                                   StoredMessage(ts, "assistant", self._bot_name, text, answers=target.message_ts))
        log_event(log, "answered_in_thread", request_id=request_id, channel=target.channel,
                  thread_ts=target.thread_ts, ok=answer is not None, messages=len(reply.posted),
                  seconds=round(time.monotonic() - received, 3))
