"""Streaming Claude client: system prompt, prompt caching, stop reasons, usage, errors.

Knows nothing of Slack: the caller passes a short note about where the answer will be
shown (`surface`), and a callback that receives text as Claude writes it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import anthropic

from bot.agents import Agent
from bot.errors import ClaudeError
from bot.logs import log_event
from bot.metrics import FIRST_TOKEN_SECONDS
from bot.models import max_tokens_for, takes_effort
from bot.tokens import Usage  # here too, where the rest of the bot imports it

log = logging.getLogger(__name__)

OnText = Callable[[str], Awaitable[None]]
OnLostAttempt = Callable[["Usage", str, "str | None"], None]  # (usage, model, Claude's request id)
_CACHE = {"type": "ephemeral"}


@dataclass(frozen=True)
class Answer:
    text: str
    model: str
    stop_reason: str | None
    usage: Usage
    request_id: str | None
    seconds: float
    note: str | None = None  # an honest word to the user when the answer ended early
    fallback_from: str | None = None  # the agent's model, when Claude no longer serves it


def stop_note(stop_reason: str | None, max_tokens: int) -> str | None:
    """What the user should be told when Claude stopped for a reason other than finishing."""
    if stop_reason in (None, "end_turn", "stop_sequence"):
        return None
    if stop_reason == "max_tokens":
        return (
            f"This answer reached the length limit ({max_tokens:,} tokens, thinking included) and was cut "
            "off here. Ask me to continue, or ask about one part at a time."
        )
    if stop_reason == "refusal":
        return "Claude declined to answer this request, so the answer stops here."
    if stop_reason == "model_context_window_exceeded":
        return (
            "This conversation no longer fits in Claude's context window, so the answer stopped "
            "early. Start a new thread with the essentials."
        )
    return f"The answer stopped early (stop reason: {stop_reason})."


def fallback_notice(model: str) -> str:
    """What the footer says when the agent's own model is gone and the default model answered."""
    return f"The agent's model `{model}` is no longer served by Claude, so the default model answered."


class StreamListener(Protocol):
    """Where the answer goes as Claude writes it."""

    async def append(self, text: str) -> None: ...

    async def thinking(self) -> None:
        """Claude is thinking before it writes (which can take minutes at high effort): show it."""

    async def retrying(self, status: str) -> None:
        """Claude is busy: say so while the call is retried."""

    async def restart(self) -> None:
        """The answer broke off mid-stream and starts again: take back what was shown."""


class CircuitBreaker:
    """When Claude keeps failing, fail new questions at once instead of each waiting out the
    deadline. Open after `threshold` failed calls in a row spanning at least `span_s`; after
    `cool_down_s` one call is let through as a probe, and a success closes it again."""

    def __init__(
        self,
        threshold: int = 6,
        span_s: float = 20.0,
        cool_down_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._threshold, self._span_s, self._cool_down_s, self._clock = threshold, span_s, cool_down_s, clock
        self._failures = 0
        self._first_failure = 0.0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self._cool_down_s else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def abandoned(self) -> None:
        """The call ended for a reason that says nothing about Claude: let another probe through."""
        self._probing = False

    def succeeded(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def failed(self) -> None:
        now = self._clock()
        if self._failures == 0:
            self._first_failure = now
        self._failures += 1
        if self._probing or (self._failures >= self._threshold and now - self._first_failure >= self._span_s):
            self._opened_at, self._probing = now, False
            log_event(log, "circuit_open", failures=self._failures, cool_down_s=self._cool_down_s)


class Claude:
    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        max_tokens: int | None = None,
        deadline_s: float = 180.0,
        breaker: CircuitBreaker | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 20.0,
        fallback_model: str | None = None,
        rng: random.Random | None = None,
    ):
        # The client should have max_retries=0: retries happen here, bounded by the deadline,
        # with the user told, and for errors inside a 200 stream too (the SDK retries none of it).
        # `backoff_s`, `max_backoff_s` and `rng` (the jitter's source) are there for tests to
        # make retries quick and repeatable; the defaults are what production runs with.
        self._client = client
        self._max_tokens = max_tokens  # None: by effort (models.py)
        self._fallback_model = fallback_model  # answers when an agent's model is gone (404)
        self._deadline_s = deadline_s
        self._breaker = breaker or CircuitBreaker()
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._rng = rng or random.Random()

    async def aclose(self) -> None:
        """Close the HTTP connections (on shutdown)."""
        await self._client.close()

    @staticmethod
    def system_blocks(agent: Agent, surface: str) -> list[dict[str, Any]]:
        """The agent's body verbatim, then where the answer is shown. Both are stable, so
        the breakpoint after them caches the whole system prompt across every question."""
        return [
            {"type": "text", "text": agent.system_prompt},
            {"type": "text", "text": surface, "cache_control": _CACHE},
        ]

    def max_tokens(self, effort: str) -> int:
        return max_tokens_for(effort, self._max_tokens)

    async def stream(
        self,
        agent: Agent,
        messages: Sequence[dict[str, Any]],
        surface: str,
        listener: StreamListener,
        on_lost_attempt: OnLostAttempt | None = None,
        effort: str = "medium",
        max_tokens: int | None = None,
    ) -> Answer:
        """Stream an answer into `listener`, retrying what heals (overloads, rate limits, 5xx,
        dropped connections, errors mid-stream) with backoff until the deadline. An agent whose
        model Claude no longer serves (404) is answered once more by the fallback model.
        `on_lost_attempt` hears of tokens an attempt used before it failed (they are billed).
        `max_tokens` caps the output limit (what is left of a daily allowance); what a failed
        attempt was billed comes off it for the next."""
        started = time.monotonic()
        cap = max_tokens

        def lost(usage: Usage, model: str, claude_request_id: str | None) -> None:
            nonlocal cap
            if cap is not None:
                cap -= usage.tokens
            if on_lost_attempt is not None:
                on_lost_attempt(usage, model, claude_request_id)

        deadline = started + self._deadline_s
        attempt = 0
        last_failure: ClaudeError | None = None
        fallback_from: str | None = None
        # The breaker only turns away new questions: one already retrying keeps its deadline.
        if not self._breaker.allow():
            raise ClaudeError(
                "unavailable",
                f"Claude has been failing for a while, so I'm not sending new questions for a moment. {_TRY_AGAIN}",
                None,
                "circuit open",
            )
        while True:
            attempt += 1
            shown = False

            async def on_text(text: str) -> None:
                nonlocal shown
                shown = True
                await listener.append(text)

            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                    answer = await self._attempt(
                        agent, messages, surface, effort, listener, on_text, started, lost, cap
                    )
            except TimeoutError as error:
                self._breaker.failed()
                # Out of time while retrying: the failure that made us retry says it best.
                raise last_failure or ClaudeError(
                    "timeout",
                    f"Claude took too long to answer. {_TRY_AGAIN}",
                    None,
                    f"no complete answer within {self._deadline_s:g} s",
                ) from error
            except anthropic.APIError as error:
                failure = last_failure = _as_claude_error(error, None)
                if failure.kind == "model_not_found":
                    log_event(
                        log,
                        "model_not_found",
                        logging.WARNING,
                        model=agent.model,
                        agent=agent.name,
                        fallback=self._fallback_model,
                        claude_request_id=failure.request_id,
                    )
                    if fallback_from is None and self._fallback_model and agent.model != self._fallback_model:
                        # Straight on with the default model: this call stays the breaker's probe.
                        fallback_from, agent = agent.model, replace(agent, model=self._fallback_model)
                        last_failure = None
                        continue
                    if fallback_from is not None or agent.model == self._fallback_model:
                        failure = last_failure = ClaudeError(
                            "model_not_found",
                            f"Claude doesn't serve the default model `{agent.model}`, so I "
                            "couldn't answer. An admin needs to check BOT_DEFAULT_MODEL.",
                            failure.request_id,
                            str(failure),
                        )
                if failure.kind in RETRYABLE:
                    self._breaker.failed()  # a rejected request or key says nothing about Claude's health
                else:
                    self._breaker.abandoned()
                wait = self._wait_before_retry(error, attempt)
                if (
                    failure.kind not in RETRYABLE
                    or time.monotonic() + wait >= deadline
                    or (cap is not None and cap < 1)
                ):
                    raise failure from error
                log_event(
                    log,
                    "claude_retry",
                    logging.WARNING,
                    attempt=attempt,
                    kind=failure.kind,
                    wait_s=round(wait, 2),
                    claude_request_id=failure.request_id,
                    mid_stream=shown,
                )
                if shown:
                    await listener.restart()  # never a spliced answer
                await listener.retrying(RETRY_STATUS[failure.kind])
                await asyncio.sleep(wait)
                continue
            except BaseException:
                self._breaker.abandoned()  # the listener failed, or we were cancelled
                raise
            self._breaker.succeeded()
            return replace(answer, fallback_from=fallback_from) if fallback_from else answer

    def _wait_before_retry(self, error: anthropic.APIError, attempt: int) -> float:
        """Exponential backoff with full jitter, but never sooner than Claude asked (retry-after)."""
        backoff = self._rng.uniform(0, min(self._max_backoff_s, self._backoff_s * 2 ** (attempt - 1)))
        return max(backoff, retry_after_s(error))

    async def _attempt(
        self,
        agent: Agent,
        messages: Sequence[dict[str, Any]],
        surface: str,
        effort: str,
        listener: StreamListener,
        on_text: OnText,
        started: float,
        on_lost_attempt: OnLostAttempt | None,
        cap: int | None,
    ) -> Answer:
        parts: list[str] = []
        max_tokens = self.max_tokens(effort) if cap is None else min(self.max_tokens(effort), cap)
        # What this attempt is billed so far, from the stream's own events: `message_start` bills
        # the input, each `message_delta` carries the running totals. None: no message started.
        billed: Usage | None = None
        request_id: str | None = None
        try:
            # Thinking is left adaptive (the 5.5 models' default; `disabled` is refused on Sonnet
            # and Opus 5.5): effort sets its depth, and max_tokens leaves room for it.
            request: dict[str, Any] = {
                "model": agent.model,
                "max_tokens": max_tokens,
                "system": self.system_blocks(agent, surface),
                "messages": list(messages),
                # Top-level marker: caches the conversation so far for the next turn.
                "cache_control": _CACHE,
            }
            if takes_effort(agent.model):
                request["output_config"] = {"effort": effort}
            async with self._client.messages.stream(**request) as stream:
                request_id = stream.request_id
                called = time.monotonic()
                async for event in stream:
                    if event.type == "message_start":
                        billed = usage_of(event.message.usage)
                    elif event.type == "message_delta":
                        billed = _with_delta(billed, event.usage)
                    elif event.type == "content_block_start" and event.content_block.type != "text":
                        if not parts:  # a thinking block first: nothing to show but the status
                            await listener.thinking()
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        if not parts:
                            FIRST_TOKEN_SECONDS.observe(time.monotonic() - called)
                        parts.append(event.delta.text)
                        await on_text(event.delta.text)
                final = await stream.get_final_message()
                billed = usage_of(final.usage)
        except BaseException:
            # Broke off, ran out of time (the deadline), or was cut short by us (an off-topic
            # verdict, a shutdown): once the message started, its input and any output are billed.
            if billed is not None and on_lost_attempt is not None:
                on_lost_attempt(billed, agent.model, request_id)
            raise
        return Answer(
            text="".join(parts),
            model=final.model or agent.model,
            stop_reason=final.stop_reason,
            usage=billed,
            request_id=request_id,
            seconds=time.monotonic() - started,
            note=stop_note(final.stop_reason, max_tokens),
        )


def usage_of(usage: Any) -> Usage:
    """The SDK's usage -> ours (thinking tokens are inside output_tokens; kept apart too)."""
    details = getattr(usage, "output_tokens_details", None)
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
        thinking_tokens=(details.thinking_tokens or 0) if details is not None else 0,
    )


def _with_delta(billed: Usage | None, delta: Any) -> Usage:
    """`billed` updated by a `message_delta`'s usage: cumulative totals, so they replace what
    came before; a count the event leaves out keeps its `message_start` value."""
    billed = billed or Usage()
    details = getattr(delta, "output_tokens_details", None)
    thinking = getattr(details, "thinking_tokens", None) if details is not None else None

    def latest(name: str, before: int) -> int:
        value = getattr(delta, name, None)
        return before if value is None else value

    return Usage(
        input_tokens=latest("input_tokens", billed.input_tokens),
        output_tokens=latest("output_tokens", billed.output_tokens),
        cache_read_input_tokens=latest("cache_read_input_tokens", billed.cache_read_input_tokens),
        cache_creation_input_tokens=latest("cache_creation_input_tokens", billed.cache_creation_input_tokens),
        thinking_tokens=billed.thinking_tokens if thinking is None else thinking,
    )


def retry_after_s(error: anthropic.APIError) -> float:
    """How long Claude asked us to wait before retrying (retry-after-ms, then retry-after)."""
    response = getattr(error, "response", None)
    headers = response.headers if response is not None else {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except ValueError:
        pass
    return 0.0


RETRYABLE = frozenset({"overloaded", "rate_limited", "unavailable", "timeout"})


def retryable(error: anthropic.APIError) -> bool:
    """Whether a failed call may heal if tried again (overloaded, rate limited, 5xx, dropped)."""
    return _as_claude_error(error, None).kind in RETRYABLE


RETRY_STATUS = {
    "overloaded": "Claude is busy, retrying…",
    "rate_limited": "Claude's rate limit was hit, retrying…",
    "unavailable": "Claude didn't answer, retrying…",
    "timeout": "Claude is slow, retrying…",
}
_TRY_AGAIN = "Please try again in a minute."


def _as_claude_error(error: anthropic.APIError, request_id: str | None) -> ClaudeError:
    """Map SDK errors (including an `error` event inside a 200 stream) to user-facing words."""
    status = getattr(error, "status_code", None)
    kind_in_body = getattr(error, "type", None)
    request_id = getattr(error, "request_id", None) or request_id
    detail = f"{type(error).__name__} status={status} type={kind_in_body}"
    if kind_in_body == "overloaded_error" or status == 529:
        return ClaudeError(
            "overloaded", f"Claude is overloaded right now, so I couldn't answer. {_TRY_AGAIN}", request_id, detail
        )
    if kind_in_body == "rate_limit_error" or status == 429:
        return ClaudeError(
            "rate_limited", f"This workspace has hit its Claude rate limit. {_TRY_AGAIN}", request_id, detail
        )
    if isinstance(error, anthropic.APITimeoutError):
        return ClaudeError("timeout", f"Claude took too long to answer. {_TRY_AGAIN}", request_id, detail)
    if isinstance(error, anthropic.APIConnectionError):
        return ClaudeError("unavailable", f"I couldn't reach Claude. {_TRY_AGAIN}", request_id, detail)
    if status in (401, 403) or kind_in_body in ("authentication_error", "permission_error"):
        return ClaudeError(
            "auth",
            "Claude rejected this bot's API key, so I can't answer. An admin needs to check ANTHROPIC_API_KEY.",
            request_id,
            detail,
        )
    if status == 404 or kind_in_body == "not_found_error":
        return ClaudeError(
            "model_not_found",
            "Claude no longer serves the model this agent asks for, so I "
            "couldn't answer. An admin needs to update the agent file's `model:`.",
            request_id,
            detail,
        )
    rejected = kind_in_body in ("invalid_request_error", "request_too_large")
    if rejected or (status is not None and 400 <= status < 500 and status != 408):
        return ClaudeError(
            "bad_request",
            "Claude could not take this request (it may be too long). Try a shorter question or a new thread.",
            request_id,
            detail,
        )
    return ClaudeError(
        "unavailable", f"Claude had an internal error and couldn't answer. {_TRY_AGAIN}", request_id, detail
    )
