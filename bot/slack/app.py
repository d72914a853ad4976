"""The Bolt app: which listener handles what. Listeners ack at once and hand work on."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.answering import Answerer
from bot.config import Settings
from bot.conversation import CHARS_PER_TOKEN
from bot.github import GitHub
from bot.logs import log_event
from bot.metrics import EVENTS
from bot.review import wants_review
from bot.router import NONE
from bot.slack.answers import ThreadAnswers
from bot.slack.budget import BudgetedWebClient, BudgetRateLimitRetryHandler, SlackBudget
from bot.slack.commands import register_review_command
from bot.slack.events import Action, decide, incoming, new_request_id
from bot.slack.reply import FEEDBACK_ACTION
from bot.slack.threads import BotIdentity, ThreadReader
from bot.store import Store

log = logging.getLogger(__name__)

SLACK_CHECK_TTL_S = 10.0  # how long /readyz trusts Slack's last answer about the token
NOT_ENABLED_HERE = "Sorry, I'm not enabled in this channel. Ask your Slack admin, or try a channel where I answer."


# Calls that may be sent twice without harm. The others (chat.postMessage, chat.*Stream) are
# not retried after a server or connection error: Slack may have applied them, and a second
# copy would double text. Their failures are handled by the reply (fallback, or a clear word).
IDEMPOTENT_METHODS = frozenset(
    {
        "chat.update",
        "chat.delete",
        "assistant.threads.setStatus",
        "reactions.add",
        "reactions.remove",
        "conversations.replies",
        "users.info",
        "files.info",
        "auth.test",
        "apps.connections.open",
    }
)


def _method(request: HttpRequest) -> str:
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class IdempotentServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return _method(request) in IDEMPOTENT_METHODS and await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class IdempotentConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return _method(request) in IDEMPOTENT_METHODS and await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def slack_client(settings: Settings, budget: SlackBudget | None = None) -> BudgetedWebClient:
    """Every Web API call goes through SLACK_API_URL and waits for its turn in the rate-tier
    budget; a 429 anyway is waited out (Retry-After, any method: Slack applied nothing) and
    feeds the budget; server and connection errors are retried where safe."""
    client = BudgetedWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, budget=budget)
    client.retry_handlers = [
        BudgetRateLimitRetryHandler(client.budget, max_retry_count=4),
        IdempotentServerErrorRetryHandler(max_retry_count=2),
        IdempotentConnectionErrorRetryHandler(max_retry_count=2),
    ]
    return client


@dataclass
class SlackBot:
    """The Bolt app and the queue of answers behind it."""

    app: AsyncApp
    answers: ThreadAnswers
    store: Store
    signing_secret: str | None = None  # HTTP mode: events are acked once their signature checks out
    _slack_ok: bool = field(default=False, init=False)
    _slack_checked_at: float = field(default=-math.inf, init=False)

    async def start(self) -> None:
        self.store.lock_exclusively()  # two bots on one queue would both answer
        await self.answers.start()

    async def stop(self, grace: float) -> int:
        try:
            return await self.answers.stop(grace)
        finally:
            self.store.unlock()

    async def readiness(self) -> dict[str, bool]:
        """Ready when Slack accepts the token and the database takes writes. Slack's answer is
        kept for a few seconds: anyone who can reach /readyz must not be able to make the bot
        call Slack with its token at will."""
        now = time.monotonic()
        if now - self._slack_checked_at >= SLACK_CHECK_TTL_S:
            try:
                async with asyncio.timeout(5):
                    self._slack_ok = bool((await self.app.client.auth_test()).get("ok"))
            except Exception:  # noqa: BLE001
                self._slack_ok = False
            self._slack_checked_at = now
        return {"slack": self._slack_ok, "database": self.store.writable(), "taking_work": self.answers.dispatching}


def create_app(settings: Settings, answerer: Answerer, store: Store, client: AsyncWebClient | None = None) -> SlackBot:
    client = client or slack_client(settings)
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Socket Mode needs no signing secret; HTTP mode refuses to start without one.
        request_verification_enabled=bool(settings.slack_signing_secret),
    )
    reader = ThreadReader(client, store, int(settings.max_context_tokens * CHARS_PER_TOKEN))

    def allowed(channel: str) -> bool:
        return settings.allowed_channels is None or channel in settings.allowed_channels

    answers = ThreadAnswers(
        client, answerer, store, reader, settings.max_concurrency, user_max_queued=settings.user_max_queued
    )

    async def on_message(body: dict[str, Any], context: Any, request: Any) -> None:
        """app_mention and message.* alike: one message, one decision, at most one answer."""
        message = incoming(body)
        if message is None:
            return
        bot = BotIdentity(context.bot_user_id, context.bot_id)
        thread_ts = message.thread_ts or message.ts
        # A thread where no agent fitted is answered again only when the bot is mentioned.
        in_bot_thread = (
            store.in_thread(message.channel, thread_ts) and store.agent_of(f"{message.channel}/{thread_ts}") != NONE
        )
        action = decide(message, bot.user_id, in_bot_thread)
        request_id = new_request_id()
        if action is Action.ANSWER and not allowed(message.channel):
            if store.take(message.channel, message.ts):  # one reply, even to both copies of a mention
                await client.chat_postMessage(channel=message.channel, thread_ts=thread_ts, text=NOT_ENABLED_HERE)
            log_event(
                log,
                "event",
                type=body["event"].get("type"),
                request_id=request_id,
                channel=message.channel,
                user=message.user,
                outcome="channel_not_allowed",
            )
            EVENTS.labels(body["event"].get("type", "?"), "channel_not_allowed").inc()
            return
        full = None
        if action is Action.ANSWER:
            review = wants_review(message.text, bool(message.raw.get("files")))
            with store.transaction():  # claimed and queued together, or neither
                if not store.take(message.channel, message.ts):
                    action = None  # the other copy of this message, or a retry: already answered
                elif full := answers.queue_full(message.user or ""):
                    pass  # taken, so its other copy and Slack's retries are not answered either
                else:
                    store.join_thread(message.channel, thread_ts)  # follow-ups count from now
                    answers.ask(body, bot, request_id, review, settings.review_agent if review else None)
        if full:
            log_event(
                log,
                "event",
                type=body["event"].get("type"),
                request_id=request_id,
                channel=message.channel,
                user=message.user,
                outcome="user_queue_full",
            )
            EVENTS.labels(body["event"].get("type", "?"), "user_queue_full").inc()
            if answers.first_time_full(message.user or ""):
                await client.chat_postMessage(channel=message.channel, thread_ts=thread_ts, text=full)
            return
        log_event(
            log,
            "event",
            type=body["event"].get("type"),
            subtype=message.subtype,
            event_id=body.get("event_id"),
            request_id=request_id,
            channel=message.channel,
            thread_ts=thread_ts,
            user=message.user,
            retry=_retry_num(request),
            outcome=action.value if action else "duplicate",
        )
        EVENTS.labels(body["event"].get("type", "?"), action.value if action else "duplicate").inc()
        if action is None or action is Action.ANSWER:
            return
        if action in (Action.RECORD, Action.EDIT):
            # In the thread's order: a follow-up right after this message must see it.
            async with answers.in_order(message.target()):
                # An edit is the message as it now reads: recorded whole, so a question edited
                # while it waits in the queue is answered as edited.
                store.record(message.channel, thread_ts, await reader.stored(message.raw, bot, message.channel))
        elif action is Action.DELETE:
            store.forget(message.channel, message.ts)

    app.event("app_mention")(on_message)
    app.event("message")(on_message)
    register_review_command(
        app,
        client,
        answers,
        reader,
        store,
        GitHub(settings.github_api_url, settings.github_token),
        settings.review_agent,
        allowed,
        settings.github_repos,
    )

    @app.error
    async def on_error(error: Exception, body: Any, response: Any) -> None:
        """Bolt failed before any listener ran: the payload is malformed or unexpected. Say so
        with a 400 (a 5xx would only make Slack send it again); our listeners' own errors never
        come here, they run after the ack."""
        log_event(
            log,
            "bad_payload",
            logging.WARNING,
            error=repr(error)[:300],
            keys=sorted(body)[:20] if isinstance(body, dict) else type(body).__name__,
        )
        if response is not None:
            response.status, response.body = 400, ""

    @app.action(FEEDBACK_ACTION)
    async def on_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        log_event(
            log,
            "feedback",
            value=action.get("value"),
            user=body.get("user", {}).get("id"),
            channel=body.get("channel", {}).get("id"),
            message_ts=body.get("message", {}).get("ts"),
        )

    return SlackBot(app, answers, store, settings.slack_signing_secret)


def _retry_num(request: Any) -> str | None:
    values = (request.headers or {}).get("x-slack-retry-num") if request is not None else None
    return values[0] if values else None
