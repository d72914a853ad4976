"""Streaming Claude client: system prompt, prompt caching, stop reasons, usage, errors.

Knows nothing of Slack: the caller passes a short note about where the answer will be
shown (`surface`), and a callback that receives text as Claude writes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anthropic

from bot.agents import Agent

log = logging.getLogger(__name__)

OnText = Callable[[str], Awaitable[None]]
_CACHE = {"type": "ephemeral"}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


@dataclass(frozen=True)
class Answer:
    text: str
    model: str
    stop_reason: str | None
    usage: Usage
    request_id: str | None
    seconds: float
    note: str | None = None  # an honest word to the user when the answer ended early


class ClaudeError(Exception):
    """A call that produced no complete answer, with words fit for the user."""

    def __init__(self, kind: str, user_message: str, request_id: str | None = None, detail: str = ""):
        super().__init__(f"{kind}: {detail or user_message}")
        self.kind = kind
        self.user_message = user_message
        self.request_id = request_id


def stop_note(stop_reason: str | None, max_tokens: int) -> str | None:
    """What the user should be told when Claude stopped for a reason other than finishing."""
    if stop_reason in (None, "end_turn", "stop_sequence"):
        return None
    if stop_reason == "max_tokens":
        return (f"This answer reached the length limit ({max_tokens:,} tokens) and was cut off here. "
                "Ask me to continue, or ask about one part at a time.")
    if stop_reason == "refusal":
        return "Claude declined to answer this request, so the answer stops here."
    if stop_reason == "model_context_window_exceeded":
        return ("This conversation no longer fits in Claude's context window, so the answer stopped "
                "early. Start a new thread with the essentials.")
    return f"The answer stopped early (stop reason: {stop_reason})."


class Claude:
    def __init__(self, client: anthropic.AsyncAnthropic, max_tokens: int, deadline_s: float = 180.0):
        self._client = client
        self._max_tokens = max_tokens
        # The SDK's retries honour retry-after without an upper bound: this caps the whole answer.
        self._deadline_s = deadline_s

    @staticmethod
    def system_blocks(agent: Agent, surface: str) -> list[dict[str, Any]]:
        """The agent's body verbatim, then where the answer is shown. Both are stable, so
        the breakpoint after them caches the whole system prompt across every question."""
        return [
            {"type": "text", "text": agent.system_prompt},
            {"type": "text", "text": surface, "cache_control": _CACHE},
        ]

    async def stream(
        self, agent: Agent, messages: Sequence[dict[str, Any]], surface: str, on_text: OnText
    ) -> Answer:
        started = time.monotonic()
        request_id: str | None = None
        parts: list[str] = []
        try:
            async with asyncio.timeout(self._deadline_s), self._client.messages.stream(
                model=agent.model,
                max_tokens=self._max_tokens,
                system=self.system_blocks(agent, surface),
                messages=list(messages),
                # Top-level marker: caches the conversation so far for the next turn.
                cache_control=_CACHE,
            ) as stream:
                request_id = stream.request_id
                async for text in stream.text_stream:
                    parts.append(text)
                    await on_text(text)
                final = await stream.get_final_message()
        except anthropic.APIError as error:
            raise _as_claude_error(error, request_id) from error
        except TimeoutError as error:
            raise ClaudeError("timeout", f"Claude took too long to answer. {_TRY_AGAIN}", request_id,
                              f"no complete answer within {self._deadline_s:g} s") from error
        usage = final.usage
        return Answer(
            text="".join(parts),
            model=final.model or agent.model,
            stop_reason=final.stop_reason,
            usage=Usage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_input_tokens=usage.cache_read_input_tokens or 0,
                cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            ),
            request_id=request_id,
            seconds=time.monotonic() - started,
            note=stop_note(final.stop_reason, self._max_tokens),
        )


_TRY_AGAIN = "Please try again in a minute."


def _as_claude_error(error: anthropic.APIError, request_id: str | None) -> ClaudeError:
    """Map SDK errors (including an `error` event inside a 200 stream) to user-facing words."""
    status = getattr(error, "status_code", None)
    kind_in_body = getattr(error, "type", None)
    request_id = getattr(error, "request_id", None) or request_id
    detail = f"{type(error).__name__} status={status} type={kind_in_body}"
    if kind_in_body == "overloaded_error" or status == 529:
        return ClaudeError("overloaded", f"Claude is overloaded right now, so I couldn't answer. {_TRY_AGAIN}",
                           request_id, detail)
    if kind_in_body == "rate_limit_error" or status == 429:
        return ClaudeError("rate_limited", f"This workspace has hit its Claude rate limit. {_TRY_AGAIN}",
                           request_id, detail)
    if isinstance(error, anthropic.APITimeoutError):
        return ClaudeError("timeout", f"Claude took too long to answer. {_TRY_AGAIN}", request_id, detail)
    if isinstance(error, anthropic.APIConnectionError):
        return ClaudeError("unavailable", f"I couldn't reach Claude. {_TRY_AGAIN}", request_id, detail)
    if status in (401, 403) or kind_in_body in ("authentication_error", "permission_error"):
        return ClaudeError("auth", "Claude rejected this bot's API key, so I can't answer. "
                           "An admin needs to check ANTHROPIC_API_KEY.", request_id, detail)
    if status is not None and 400 <= status < 500 and status != 408:
        return ClaudeError("bad_request", "Claude could not take this request (it may be too long). "
                           "Try a shorter question or a new thread.", request_id, detail)
    return ClaudeError("unavailable", f"Claude had an internal error and couldn't answer. {_TRY_AGAIN}",
                       request_id, detail)
