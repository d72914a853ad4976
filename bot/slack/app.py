"""The Bolt app: which listener handles what. Listeners ack at once and hand work on."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
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
from bot.router import NONE
from bot.slack.answers import ThreadAnswers
from bot.slack.budget import BudgetedWebClient, BudgetRateLimitRetryHandler, SlackBudget
from bot.slack.commands import ReviewCommand
from bot.slack.events import Action, IncomingMessage, ThreadKey, decide, incoming, new_request_id
from bot.slack.intake import Decision, Outcome, in_allowed_channels, intake, needs_claim
from bot.slack.reply import FEEDBACK_ACTION
from bot.slack.threads import BotIdentity, ThreadReader
from bot.store import Store

log = logging.getLogger(__name__)

SLACK_CHECK_TTL_S = 10.0  # how long /readyz trusts Slack's last answer about the token


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


class IdempotentOnly(AsyncRetryHandler):
    """Mixed in before one of slack_sdk's retry handlers: its retries, for IDEMPOTENT_METHODS only."""

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


class IdempotentServerErrorRetryHandler(IdempotentOnly, AsyncServerErrorRetryHandler):
    pass


class IdempotentConnectionErrorRetryHandler(IdempotentOnly, AsyncConnectionErrorRetryHandler):
    pass


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


@dataclass(frozen=True)
class MessageListener:
    """app_mention and message.* alike: one message, one decision, at most one answer. The
    decision is `decide` and `intake`'s (pure); this gathers their facts and carries it out."""

    client: AsyncWebClient
    store: Store
    answers: ThreadAnswers
    reader: ThreadReader
    allowed: Callable[[str], bool]
    review_agent: str

    async def on_message(self, body: dict[str, Any], context: Any, request: Any) -> None:
        message = incoming(body)
        if message is None:
            return
        bot = BotIdentity(context.bot_user_id, context.bot_id)
        action = decide(message, bot.user_id, self._in_bot_thread(message.thread))
        request_id = new_request_id()
        if needs_claim(action):
            decision = self._claim(action, message, body, bot, request_id)
        else:
            decision = intake(action, message)
        log_event(
            log,
            "event",
            type=body["event"].get("type"),
            subtype=message.subtype,
            event_id=body.get("event_id"),
            request_id=request_id,
            channel=message.channel,
            thread_ts=message.thread.thread_ts,
            user=message.user,
            retry=_retry_num(request),
            outcome=decision.outcome.value,
        )
        EVENTS.labels(body["event"].get("type", "?"), decision.outcome.value).inc()
        await self._carry_out(decision, message, bot)

    def _in_bot_thread(self, thread: ThreadKey) -> bool:
        """A thread the bot is part of. One where no agent fitted is answered again only when
        the bot is mentioned."""
        return self.store.in_thread(thread.channel, thread.thread_ts) and self.store.agent_of(str(thread)) != NONE

    def _claim(
        self, action: Action, message: IncomingMessage, body: dict[str, Any], bot: BotIdentity, request_id: str
    ) -> Decision:
        """Claim the message, weigh it and queue its answer: claimed and queued together, or neither."""
        channel_allowed = self.allowed(message.channel)
        with self.store.transaction():
            first_copy = self.store.take(message.channel, message.ts)
            full = self.answers.queue_full(message.user or "") if first_copy and channel_allowed else None
            decision = intake(action, message, channel_allowed=channel_allowed, first_copy=first_copy, queue_full=full)
            if decision.outcome is Outcome.ANSWER:
                self.store.join_thread(message.channel, message.thread.thread_ts)  # follow-ups count from now
                agent = self.review_agent if decision.review else None
                self.answers.ask(body, bot, request_id, decision.review, agent)
        return decision

    async def _carry_out(self, decision: Decision, message: IncomingMessage, bot: BotIdentity) -> None:
        if decision.reply is not None:
            if decision.outcome is Outcome.USER_QUEUE_FULL and not self.answers.first_time_full(message.user or ""):
                return  # told already, while their queue stays full
            await self.client.chat_postMessage(
                channel=message.channel, thread_ts=message.thread.thread_ts, text=decision.reply
            )
        elif decision.outcome in (Outcome.RECORD, Outcome.EDIT):
            # In the thread's order: a follow-up right after this message must see it.
            async with self.answers.in_order(message.target()):
                # An edit is the message as it now reads: recorded whole, so a question edited
                # while it waits in the queue is answered as edited.
                stored = await self.reader.stored(message.raw, bot, message.channel)
                self.store.record(message.channel, message.thread.thread_ts, stored)
        elif decision.outcome is Outcome.DELETE:
            self.store.forget(message.channel, message.ts)


class _WithoutTokenUnusedWarning(logging.Filter):
    """AsyncApp reads SLACK_BOT_TOKEN from the environment whenever `token` is not given (any
    falsy `token` too), then, given `client` as well, warns that the token will be unused. The
    client it is given is built from that same token: nothing is unused, nothing to warn of."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def create_app(settings: Settings, answerer: Answerer, store: Store, client: AsyncWebClient | None = None) -> SlackBot:
    client = client or slack_client(settings)
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")  # the framework logger AsyncApp warns on
    if not any(isinstance(f, _WithoutTokenUnusedWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_WithoutTokenUnusedWarning())
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Socket Mode needs no signing secret; HTTP mode refuses to start without one.
        request_verification_enabled=bool(settings.slack_signing_secret),
    )
    reader = ThreadReader(client, store, int(settings.max_context_tokens * CHARS_PER_TOKEN))

    def allowed(channel: str) -> bool:
        return in_allowed_channels(channel, settings.allowed_channels)

    answers = ThreadAnswers(
        client, answerer, store, reader, settings.max_concurrency, user_max_queued=settings.user_max_queued
    )
    messages = MessageListener(client, store, answers, reader, allowed, settings.review_agent)
    app.event("app_mention")(messages.on_message)
    app.event("message")(messages.on_message)
    ReviewCommand(
        client,
        answers,
        reader,
        store,
        GitHub(settings.github_api_url, settings.github_token),
        settings.review_agent,
        allowed,
        settings.github_repos,
    ).register(app)

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
