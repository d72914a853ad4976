"""The Bolt app: which listener handles what. Listeners ack at once and hand work on."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.answering import Answerer
from bot.background import BackgroundTasks
from bot.config import Settings
from bot.logs import log_event
from bot.slack.events import SlackQuestion, question_from_mention
from bot.slack.reply import FEEDBACK_ACTION, SLACK_SURFACE, ThreadReply

log = logging.getLogger(__name__)


def slack_client(settings: Settings) -> AsyncWebClient:
    """Every Web API call goes through SLACK_API_URL, and rides out 429s and blips."""
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    client.retry_handlers.extend([
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ])
    return client


class RecentMessages:
    """Messages already taken, so one message never gets two answers (Slack retries,
    a mention arriving as two events). In memory and bounded."""

    def __init__(self, size: int = 10_000):
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._size = size

    def first_time(self, channel: str, ts: str) -> bool:
        key = (channel, ts)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def create_app(settings: Settings, answerer: Answerer, tasks: BackgroundTasks,
               client: AsyncWebClient | None = None) -> AsyncApp:
    client = client or slack_client(settings)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Socket Mode needs no signing secret; HTTP mode refuses to start without one.
        request_verification_enabled=bool(settings.slack_signing_secret),
    )
    recent = RecentMessages()

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], context: Any, request: Any) -> None:
        received = time.monotonic()
        asked = question_from_mention(body, context.bot_user_id)
        fresh = recent.first_time(asked.target.channel, asked.target.message_ts)
        log_event(log, "event", type="app_mention", event_id=asked.event_id,
                  request_id=asked.question.request_id, channel=asked.target.channel,
                  thread_ts=asked.target.thread_ts, user=asked.target.user,
                  retry=_retry_num(request), outcome="accepted" if fresh else "duplicate")
        if fresh:
            tasks.submit(_answer_in_thread(answerer, client, asked, received), name=asked.question.request_id)

    @app.event("message")
    async def on_message() -> None:
        """Acked and left alone: follow-ups in threads come with conversations (issue 3)."""

    @app.action(FEEDBACK_ACTION)
    async def on_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        log_event(log, "feedback", value=action.get("value"), user=body.get("user", {}).get("id"),
                  channel=body.get("channel", {}).get("id"), message_ts=body.get("message", {}).get("ts"))

    return app


async def _answer_in_thread(answerer: Answerer, client: AsyncWebClient, asked: SlackQuestion,
                            received: float) -> None:
    reply = ThreadReply(client, asked.target, asked.question.request_id)
    answer = await answerer.answer(asked.question, reply, SLACK_SURFACE)
    log_event(log, "answered_in_thread", request_id=asked.question.request_id, channel=asked.target.channel,
              thread_ts=asked.target.thread_ts, ok=answer is not None, messages=len(reply.posted),
              seconds=round(time.monotonic() - received, 3))


def _retry_num(request: Any) -> str | None:
    values = (request.headers or {}).get("x-slack-retry-num") if request is not None else None
    return values[0] if values else None
