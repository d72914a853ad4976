"""One question, answered: pick the agent, build the conversation, stream from Claude into a sink.

A sink is wherever the answer is shown (a Slack thread, a terminal); the pipeline only
knows the four things every sink does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.agents import Agent, AgentCatalog, first_sentence
from bot.allowance import DailyAllowance, Hold
from bot.claude import Answer, Claude, StreamListener, Usage
from bot.conversation import Turn, build_messages, estimate_tokens
from bot.errors import ClaudeError, ConversationUnavailable, RoutingError
from bot.logs import log_event
from bot.metrics import COST, FAILURES, TOKENS
from bot.router import NONE, Router
from bot.usage import DEFAULT_PRICES, LedgerEntry, Price, Requester, cost_usd

log = logging.getLogger(__name__)


ROUTER = "(router)"  # the ledger's name for routing calls
# What the router sees of a thread: its opening and the question (each cut on its own, so a
# long opening never pushes the question out).
OPENING_CHARS = 1_500
QUESTION_CHARS = 2_500
# Less room than this for the answer (thinking included) is no answer worth starting.
MIN_ANSWER_TOKENS = 1_024
NOTHING_TO_ANSWER = (
    "Hi! Ask me a backend question — design, debugging, performance, databases, "
    "APIs — in the same message as the mention, or mention me in a thread to discuss it."
)

ReadConversation = Callable[[], Awaitable[Sequence[Turn]]]


class AnswerSink(StreamListener, Protocol):
    async def working(self) -> None:
        """Show at once that the question was heard."""

    async def finish(self, answer: Answer, agent: Agent) -> None:
        """The answer is complete: close it, with its note and footer."""

    async def fail(self, message: str, warning: bool = True) -> None:
        """No (complete) answer: tell the user, in one clear message (`warning`: marked as one)."""


class AgentMemory(Protocol):
    """Which agent a conversation was routed to, kept across restarts."""

    def agent_of(self, conversation: str) -> str | None: ...

    def remember_agent(self, conversation: str, agent: str) -> None: ...


class Ledger(Protocol):
    """Where every Claude call is recorded, and what a user has used today."""

    def record_usage(self, entry: LedgerEntry) -> None: ...

    def tokens_today(self, user: str) -> int: ...


@dataclass(frozen=True)
class Budget:
    prices: Mapping[str, Price]
    user_daily_tokens: int | None = None  # None: unlimited


@dataclass(frozen=True)
class Efforts:
    """How hard Claude thinks (output_config.effort); an agent file's own `effort` wins."""

    chat: str = "medium"  # answers in a chat want a fast first token
    review: str = "high"  # reviews are asked for on purpose and read with care

    def for_answer(self, agent: Agent, review: bool) -> str:
        return agent.effort or (self.review if review else self.chat)


class Answerer:
    """Answers questions with the agents of `catalog`, through `claude`. The rest is optional and
    named: `router` (None: every question goes to `default_agent`), `memory` (which agent each
    conversation has), `ledger` (what each call was billed; the daily allowance reads it)."""

    def __init__(
        self,
        catalog: AgentCatalog,
        claude: Claude,
        default_agent: str,
        *,
        max_context_tokens: int = 150_000,
        router: Router | None = None,
        memory: AgentMemory | None = None,
        ledger: Ledger | None = None,
        budget: Budget = Budget(DEFAULT_PRICES),
        efforts: Efforts = Efforts(),
    ):
        self.catalog = catalog
        self.claude = claude
        self.default_agent = default_agent
        self.max_context_tokens = max_context_tokens
        self.router = router  # None: every question goes to the default agent
        self.memory = memory
        self.ledger = ledger
        self.budget = budget
        self.efforts = efforts
        self.allowance = DailyAllowance(ledger, budget.user_daily_tokens)

    def _record(
        self,
        requester: Requester | None,
        purpose: str,
        agent: str,
        model: str,
        usage: Usage,
        seconds: float,
        request_id: str,
        claude_request_id: str | None,
    ) -> None:
        cost = cost_usd(usage, model, self.budget.prices)
        for kind, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_input_tokens),
            ("cache_write", usage.cache_creation_input_tokens),
        ):
            TOKENS.labels(model, kind).inc(count)
        if cost is not None:
            COST.labels(model).inc(cost)
        if self.ledger is None or requester is None:
            return
        self.ledger.record_usage(
            LedgerEntry(requester, purpose, agent, model, usage, cost, seconds, request_id, claude_request_id)
        )

    def over_daily_limit(self, user: str) -> str | None:
        """What to tell `user` when today's allowance is used up (None: it is not)."""
        left = self.allowance.left(user)
        if left is None or left > 0:
            return None
        return (
            f"You've used today's allowance of {self.allowance.limit:,} Claude tokens; it starts again at midnight UTC."
        )

    def _short_of_allowance(self, needed: int, user: str | None) -> str:
        left = max(self.allowance.left(user) or 0, 0)
        return (
            f"This needs about {needed:,} Claude tokens with its conversation, and you have {left:,} left of "
            f"today's allowance of {self.allowance.limit:,} (your answers in progress included). It starts "
            "again at midnight UTC; a shorter question in a new thread needs fewer."
        )

    def help_text(self) -> str:
        """What the bot can help with, for a question no agent fits."""
        lines = "\n".join(f"• *{a.name}* — {first_sentence(a.description)}" for a in self.catalog.agents)
        return f"That's outside what I can help with here. I can help with:\n{lines}"

    def _default(self) -> Agent:
        default = self.catalog.get(self.default_agent)
        if default is None:
            raise LookupError(f"default agent {self.default_agent!r} is not loaded")
        return default

    def _settled_agent(self, conversation: str | None, agent_name: str | None) -> Agent | None:
        """The agent this conversation already has (named, remembered, or the only choice without
        a router); None: the router decides."""
        default = self._default()
        remembered = self.memory.agent_of(conversation) if self.memory and conversation else None
        if remembered == NONE:
            remembered = None  # nothing fitted before: a new question in the thread is routed afresh
        if agent_name or remembered:
            chosen = self.catalog.get(agent_name or remembered or "") or default
            if self.memory and conversation and not remembered:
                self.memory.remember_agent(conversation, chosen.name)  # e.g. a review: follow-ups stay
            return chosen
        return default if self.router is None else None

    async def choose_agent(
        self,
        turns: Sequence[Turn],
        request_id: str,
        conversation: str | None,
        agent_name: str | None,
        requester: Requester | None = None,
    ) -> Agent | None:
        """The agent for this conversation (None: no agent fits). A conversation keeps its agent."""
        return self._settled_agent(conversation, agent_name) or await self._route(
            turns, request_id, conversation, requester
        )

    async def _verdict(
        self, turns: Sequence[Turn], request_id: str, conversation: str | None, requester: Requester | None
    ) -> Agent | None:
        """The router's word on an answer already under way: any failure of its own (not only
        the router's) lets the answer through, as a failed router does."""
        try:
            return await self._route(turns, request_id, conversation, requester)
        except Exception:
            log.exception("routing crashed", extra={"fields": {"request_id": request_id}})
            return self._default()

    async def _route(
        self, turns: Sequence[Turn], request_id: str, conversation: str | None, requester: Requester | None
    ) -> Agent | None:
        """Ask the router (None: no agent fits); when it fails, the default agent answers."""
        assert self.router is not None
        default = self._default()
        try:
            route = await self.router.route(self.catalog.agents, _gist(turns))
        except RoutingError as error:
            log_event(
                log, "routing_failed", logging.WARNING, request_id=request_id, error=str(error), fallback=default.name
            )
            if error.usage is not None:  # it answered, unusably: still billed
                self._record(requester, "route", ROUTER, error.model, error.usage, 0.0, request_id, None)
            chosen: Agent | None = default
        else:
            chosen = self.catalog.get(route.agent) if route.agent else None
            self._record(requester, "route", ROUTER, route.model, route.usage, route.seconds, request_id, None)
            log_event(
                log,
                "routed",
                request_id=request_id,
                agent=route.agent or "none",
                seconds=round(route.seconds, 3),
                attempts=route.attempts,
                input_tokens=route.usage.input_tokens,
                output_tokens=route.usage.output_tokens,
                cache_read_tokens=route.usage.cache_read_input_tokens,
                cache_write_tokens=route.usage.cache_creation_input_tokens,
                thinking_tokens=route.usage.thinking_tokens,
            )
        if self.memory and conversation:
            # "none" is remembered too: the edge then answers that thread only when mentioned.
            self.memory.remember_agent(conversation, chosen.name if chosen else NONE)
        return chosen

    async def answer(
        self,
        request_id: str,
        read_conversation: ReadConversation,
        sink: AnswerSink,
        surface: str,
        *,
        conversation: str | None = None,
        agent_name: str | None = None,
        requester: Requester | None = None,
        review: bool = False,
    ) -> Answer | None:
        """Answer the conversation's last turn into `sink`; returns the answer, or None when the
        user was told it failed. `conversation` names the thread (its agent is remembered);
        `agent_name` skips routing; `review`: a code review, which may think harder."""
        verdict: asyncio.Task[Agent | None] | None = None
        hold = self.allowance.hold(requester.user if requester else None)
        try:
            await sink.working()  # first, so the user sees at once that the question was heard
            used_up = requester and self.over_daily_limit(requester.user)
            if used_up:
                log_event(log, "over_daily_limit", request_id=request_id, user=requester and requester.user)
                await sink.fail(used_up, warning=False)
                return None
            turns = list(await read_conversation())
            if not any(t.text.strip() for t in turns):  # a bare mention, nothing before it
                await sink.fail(NOTHING_TO_ANSWER, warning=False)
                return None
            agent = self._settled_agent(conversation, agent_name)
            routing = self._routing_cost(turns) if agent is None else 0
            if routing and hold.take(routing, routing) is None:
                await self._refuse(sink, hold, request_id, routing)
                return None
            if agent is None and len(self.catalog.agents) == 1:
                # One agent: the router only tells on-topic from off-topic. It runs beside the
                # answer, whose text waits for its verdict: Claude thinks before it writes for
                # longer than the router takes, so the check costs no wait (bench/routing_cost.py).
                verdict = asyncio.create_task(self._verdict(turns, request_id, conversation, requester))
                agent, sink = self._default(), HeldForVerdict(sink, verdict)
            elif agent is None:
                agent = await self._route(turns, request_id, conversation, requester)
            if agent is None:
                await sink.fail(self.help_text(), warning=False)
                return None
            budget = self.max_context_tokens - estimate_tokens(agent.system_prompt + surface)
            messages = build_messages(turns, budget)
            if not messages:
                await sink.fail(NOTHING_TO_ANSWER, warning=False)
                return None
            effort = self.efforts.for_answer(agent, review)
            prompt = estimate_tokens(agent.system_prompt + surface) + sum(
                estimate_tokens(m["content"]) for m in messages
            )
            most = self.claude.max_tokens(effort)
            granted = hold.take(prompt + MIN_ANSWER_TOKENS, prompt + most)
            if granted is None:
                await self._refuse(sink, hold, request_id, prompt + MIN_ANSWER_TOKENS)
                return None
            capped = granted - prompt < most

            def lost(usage: Usage, model: str, claude_request_id: str | None) -> None:
                self._record(requester, "failed attempt", agent.name, model, usage, 0.0, request_id, claude_request_id)

            answer = await _unless_off_topic(
                self.claude.stream(agent, messages, surface, sink, lost, effort, granted - prompt if capped else None),
                verdict,
            )
            if capped and answer.stop_reason == "max_tokens":
                answer = replace(
                    answer,
                    note=f"This answer was cut at {granted - prompt:,} tokens (thinking "
                    "included): that is what was left of your daily allowance.",
                )
            # Billed, whatever happens next (an off-topic verdict, Slack failing to show it).
            self._record(
                requester,
                "answer",
                agent.name,
                answer.model,
                answer.usage,
                answer.seconds,
                request_id,
                answer.request_id,
            )
            await sink.finish(answer, agent)
        except OffTopic:
            log_event(log, "declined", request_id=request_id, reason="no agent fits")
            await sink.fail(self.help_text(), warning=False)
            return None
        except ClaudeError as error:
            FAILURES.labels(error.kind).inc()
            log_event(
                log,
                "answer_failed",
                logging.WARNING,
                request_id=request_id,
                kind=error.kind,
                claude_request_id=error.request_id,
                error=str(error),
            )
            await _tell(sink, error.user_message, request_id)
            return None
        except ConversationUnavailable as error:
            FAILURES.labels("conversation").inc()
            log_event(
                log,
                "answer_failed",
                logging.WARNING,
                request_id=request_id,
                kind="conversation",
                error=repr(error.__cause__ or error),
            )
            await _tell(sink, error.user_message, request_id)
            return None
        except asyncio.CancelledError:
            # Shutting down past the grace period: the thread must not be left mid-sentence.
            log_event(log, "answer_interrupted", logging.WARNING, request_id=request_id)
            await asyncio.shield(
                _tell(
                    sink,
                    "I was restarted in the middle of this answer; I'll finish it as soon as I'm back.",
                    request_id,
                )
            )
            raise
        except Exception:
            FAILURES.labels("crash").inc()
            log.exception("answer crashed", extra={"fields": {"request_id": request_id}})
            await _tell(
                sink, "Something went wrong on my side and I couldn't finish this answer. Please try again.", request_id
            )
            return None
        finally:
            if verdict is not None and not verdict.done():
                verdict.cancel()  # the answer failed first: its verdict no longer matters
            hold.release()  # the ledger has what was spent (a verdict still running adds its own)
        log_event(
            log,
            "answer",
            request_id=request_id,
            agent=agent.name,
            model=answer.model,
            fallback_from=answer.fallback_from,
            effort=effort,
            stop_reason=answer.stop_reason,
            seconds=round(answer.seconds, 3),
            claude_request_id=answer.request_id,
            chars=len(answer.text),
            turns=len(turns),
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            cache_read_tokens=answer.usage.cache_read_input_tokens,
            cache_write_tokens=answer.usage.cache_creation_input_tokens,
            thinking_tokens=answer.usage.thinking_tokens,
        )
        return answer

    def _routing_cost(self, turns: Sequence[Turn]) -> int:
        """The most the routing call may be billed, which the allowance holds (0: no router)."""
        return 0 if self.router is None else self.router.tokens_to_hold(self.catalog.agents, _gist(turns))

    async def _refuse(self, sink: AnswerSink, hold: Hold, request_id: str, needed: int) -> None:
        log_event(log, "over_daily_limit", request_id=request_id, needed_tokens=needed)
        await sink.fail(self._short_of_allowance(needed, hold.user), warning=False)


def _gist(turns: Sequence[Turn]) -> str:
    """What the router sees: the thread's first message and the question. A mid-thread "what
    do you make of this?" means nothing without what it is about."""
    question = turns[-1].rendered()[:QUESTION_CHARS]
    opening = turns[0].rendered()[:OPENING_CHARS] if len(turns) > 1 else ""
    return f"{opening}\n\n[…]\n\n{question}" if opening else question


class OffTopic(Exception):
    """The router found that no agent fits, after the answer had started."""


async def _unless_off_topic(
    answering: Coroutine[Any, Any, Answer], verdict: asyncio.Task[Agent | None] | None
) -> Answer:
    """The answer, cut short the moment the router finds no agent fits (closing the stream
    stops Claude), rather than when its first text arrives, which may be minutes of thinking
    away."""
    if verdict is None:
        return await answering
    streaming = asyncio.ensure_future(answering)
    verdict.add_done_callback(lambda done: streaming.cancel() if _declined(done) else None)
    try:
        return await streaming
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if _declined(verdict) and not (current and current.cancelling()):
            raise OffTopic() from None
        raise  # a shutdown


def _declined(verdict: asyncio.Task[Agent | None]) -> bool:
    return verdict.done() and not verdict.cancelled() and verdict.exception() is None and verdict.result() is None


class HeldForVerdict:
    """An AnswerSink whose text waits for the router: status and retries show at once, the first
    text (or the finish) only once the router agrees that the agent fits."""

    def __init__(self, sink: AnswerSink, verdict: asyncio.Task[Agent | None]):
        self._sink = sink
        self._verdict = verdict

    async def _agreed(self) -> None:
        if await asyncio.shield(self._verdict) is None:
            raise OffTopic()

    async def working(self) -> None:
        await self._sink.working()

    async def thinking(self) -> None:
        await self._sink.thinking()

    async def append(self, text: str) -> None:
        await self._agreed()
        await self._sink.append(text)

    async def retrying(self, status: str) -> None:
        await self._sink.retrying(status)

    async def restart(self) -> None:
        await self._sink.restart()

    async def finish(self, answer: Answer, agent: Agent) -> None:
        await self._agreed()
        await self._sink.finish(answer, agent)

    async def fail(self, message: str, warning: bool = True) -> None:
        await self._sink.fail(message, warning)


async def _tell(sink: AnswerSink, message: str, request_id: str) -> None:
    try:
        await sink.fail(f"{message} (ref `{request_id}`)")
    except Exception:
        # The sink itself is broken (e.g. Slack is down): nothing more can reach the user.
        log.exception("could not tell the user", extra={"fields": {"request_id": request_id}})
