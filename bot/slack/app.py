"""The Bolt app: which listener handles what. Listeners ack at once and hand work on."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.answering import Answerer
from bot.background import BackgroundTasks, KeyedLocks
from bot.config import Settings
from bot.logs import log_event
from bot.slack.events import Action, IncomingMessage, decide, incoming, new_request_id
from bot.slack.reply import FEEDBACK_ACTION, SLACK_SURFACE, SlackPacing, ThreadReply
from bot.slack.threads import BotIdentity, ThreadReader
from bot.store import StoredMessage, Store

log = logging.getLogger(__name__)


def slack_client(settings: Settings) -> AsyncWebClient:
    """Every Web API call goes through SLACK_API_URL and waits out 429s (Retry-After).
    Server errors are not retried: chat.postMessage and chat.appendStream are not idempotent,
    and a retry of a call Slack did apply would double text."""
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


def create_app(settings: Settings, answerer: Answerer, tasks: BackgroundTasks, store: Store,
               client: AsyncWebClient | None = None) -> AsyncApp:
    client = client or slack_client(settings)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Socket Mode needs no signing secret; HTTP mode refuses to start without one.
        request_verification_enabled=bool(settings.slack_signing_secret),
    )
    reader = ThreadReader(client, store)
    pacing = SlackPacing()
    one_answer_at_a_time = KeyedLocks()  # per thread, so a follow-up sees the answer before it

    async def on_message(body: dict[str, Any], context: Any, request: Any) -> None:
        """app_mention and message.* alike: one message, one decision, at most one answer."""
        received = time.monotonic()
        message = incoming(body)
        if message is None:
            return
        bot = BotIdentity(context.bot_user_id, context.bot_id)
        thread_ts = message.thread_ts or message.ts
        action = decide(message, bot.user_id, store.in_thread(message.channel, thread_ts))
        request_id = new_request_id()
        if action is Action.ANSWER and not store.take(message.channel, message.ts):
            action = None  # the other copy of this message, or a retry: already answered
        log_event(log, "event", type=body["event"].get("type"), subtype=message.subtype, event_id=body.get("event_id"),
                  request_id=request_id, channel=message.channel, thread_ts=thread_ts, user=message.user,
                  retry=_retry_num(request), outcome=action.value if action else "duplicate")
        if action is Action.ANSWER:
            store.join_thread(message.channel, thread_ts)  # follow-ups count from now, not from the answer
            reply = ThreadReply(client, message.target(), request_id, pacing)
            tasks.submit(_answer_in_thread(answerer, reply, reader, store, one_answer_at_a_time, message, bot,
                                           request_id, received), name=request_id)
        elif action is Action.RECORD:
            store.record(message.channel, thread_ts, await reader.stored(message.raw, bot))
        elif action is Action.EDIT:
            store.edit(message.channel, message.ts, (await reader.stored(message.raw, bot)).text)
        elif action is Action.DELETE:
            store.forget(message.channel, message.ts)

    app.event("app_mention")(on_message)
    app.event("message")(on_message)

    @app.action(FEEDBACK_ACTION)
    async def on_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        log_event(log, "feedback", value=action.get("value"), user=body.get("user", {}).get("id"),
                  channel=body.get("channel", {}).get("id"), message_ts=body.get("message", {}).get("ts"))

    return app


async def _answer_in_thread(answerer: Answerer, reply: ThreadReply, reader: ThreadReader, store: Store,
                            locks: KeyedLocks, message: IncomingMessage, bot: BotIdentity, request_id: str,
                            received: float) -> None:
    target = message.target()
    async with locks.hold((target.channel, target.thread_ts)):
        answer = await answerer.answer(request_id, lambda: reader.conversation(message, bot), reply, SLACK_SURFACE)
    # The bot's own messages never come back as events: the transcript learns them here,
    # an answer split over several messages as one turn (its other messages recorded empty).
    for n, ts in enumerate(reply.posted):
        text = answer.text if answer is not None and n == 0 else ""
        store.record(target.channel, target.thread_ts, StoredMessage(ts, "assistant", bot.name, text))
    log_event(log, "answered_in_thread", request_id=request_id, channel=target.channel,
              thread_ts=target.thread_ts, ok=answer is not None, messages=len(reply.posted),
              seconds=round(time.monotonic() - received, 3))


def _retry_num(request: Any) -> str | None:
    values = (request.headers or {}).get("x-slack-retry-num") if request is not None else None
    return values[0] if values else None
