"""Which agent takes a new conversation: one small Claude call whose answer is JSON held to a
schema (structured outputs), naming one of the loaded agents or "none".

Not a forced tool call: the 5.5 models refuse forced tool use with a 400 on Sonnet and Opus
("What's new in Claude Sonnet 5.5"), and thinking does not combine with it. The router thinks
as little as its model allows, at low effort, so its few output tokens are the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anthropic

from bot.agents import Agent
from bot.claude import Usage, retry_after_s, retryable, usage_of
from bot.conversation import estimate_tokens
from bot.errors import RoutingError
from bot.models import least_thinking, takes_effort

log = logging.getLogger(__name__)

NONE = "none"
QUESTION_MAX_CHARS = 4_000  # the router needs the gist, not a pasted file
EFFORT = "low"
# The JSON is a dozen tokens; the rest is room for what thinking a model will not turn off
# (Opus 5.5 always thinks). Only what is used is billed.
MAX_TOKENS = 2_000
RETRIES = 1  # one overload or timeout is retried, within the router's deadline

ROUTER_SYSTEM = (
    "You route questions asked in a company's Slack workspace to the one specialist agent best "
    "suited to answer them. Read each agent's description, including its examples, then answer "
    "with that agent's exact name. If no agent's description fits the question (small talk, or a "
    'subject none of them covers), answer "none". Never answer the question yourself.'
)


@dataclass(frozen=True)
class Route:
    agent: str | None  # None: no agent fits
    usage: Usage
    seconds: float
    model: str
    attempts: int = 1


class Router:
    def __init__(self, client: anthropic.AsyncAnthropic, model: str, timeout_s: float = 10.0):
        self._client = client
        self._model = model
        self._timeout_s = timeout_s

    @staticmethod
    def request(agents: Sequence[Agent], question: str, model: str) -> dict[str, Any]:
        """The routing call's parameters: the agent list first and stable (cached), the question last."""
        listing = "\n\n".join(f'<agent name="{a.name}">\n{a.description}\n</agent>' for a in agents)
        schema = {
            "type": "object",
            "properties": {
                "agent": {
                    "type": "string",
                    "enum": [a.name for a in agents] + [NONE],
                    "description": 'The exact name of the agent, or "none".',
                }
            },
            "required": ["agent"],
            "additionalProperties": False,
        }
        request: dict[str, Any] = {
            "model": model,
            "max_tokens": MAX_TOKENS,
            "system": [
                {
                    "type": "text",
                    "text": f"{ROUTER_SYSTEM}\n\n<agents>\n{listing}\n</agents>",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            "messages": [{"role": "user", "content": question[:QUESTION_MAX_CHARS] or "(empty message)"}],
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
        }
        if takes_effort(model):
            request["output_config"]["effort"] = EFFORT
        thinking = least_thinking(model, EFFORT)
        if thinking is not None:
            request["thinking"] = thinking
        return request

    @staticmethod
    def tokens_to_hold(agents: Sequence[Agent], question: str) -> int:
        """The most a routing call can be billed (every attempt its whole prompt and output
        limit), which the asker's daily allowance holds while it runs."""
        request = Router.request(agents, question, "")
        prompt = request["system"][0]["text"] + request["messages"][0]["content"]
        return (RETRIES + 1) * (estimate_tokens(prompt) + MAX_TOKENS)

    async def route(self, agents: Sequence[Agent], question: str) -> Route:
        """The agent for `question`. Each attempt gets half the deadline, so one that hangs
        leaves time for the retry (an overload or a timeout bills nothing)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self._timeout_s
        request = self.request(agents, question, self._model)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(min(self._timeout_s / 2, deadline - loop.time())):
                    message = await self._client.messages.create(**request)
                break
            except (anthropic.APIError, TimeoutError) as error:
                wait = retry_after_s(error) if isinstance(error, anthropic.APIError) else 0.0
                if (
                    attempt > RETRIES
                    or not (isinstance(error, TimeoutError) or retryable(error))
                    or loop.time() + wait >= deadline
                ):
                    raise RoutingError(
                        f"router call failed after {attempt} attempt(s): {type(error).__name__}: {str(error)[:200]}"
                    ) from error
                log.info("router attempt failed, retrying", extra={"fields": {"error": type(error).__name__}})
                await asyncio.sleep(wait)
        chosen = _chosen_agent(message)
        if chosen != NONE and chosen not in {a.name for a in agents}:
            raise RoutingError(
                f"router gave no agent name (stop_reason={message.stop_reason}): {chosen!r}",
                usage_of(message.usage),
                self._model,
            )
        return Route(
            None if chosen == NONE else chosen, usage_of(message.usage), loop.time() - started, self._model, attempt
        )


def _chosen_agent(message: Any) -> str | None:
    """The `agent` of the JSON answer. Blocks are picked by type: a 5.5 model may put a
    `thinking` block first."""
    text = "".join(block.text for block in message.content if block.type == "text")
    try:
        answer = json.loads(text)
    except ValueError:
        return None  # e.g. a refusal, or cut off at max_tokens
    agent = answer.get("agent") if isinstance(answer, dict) else None
    return agent if isinstance(agent, str) else None
