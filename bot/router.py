"""Which agent takes a new conversation: one small Claude call that must answer by calling
the tool `route_to_agent` (forced tool choice, so the answer is structured)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anthropic

from bot.agents import Agent
from bot.claude import Usage
from bot.logs import log_event

log = logging.getLogger(__name__)

NONE = "none"
QUESTION_MAX_CHARS = 4_000  # the router needs the gist, not a pasted file

ROUTER_SYSTEM = (
    "You route questions asked in a company's Slack workspace to the one specialist agent best "
    "suited to answer them. Read each agent's description, including its examples, then call "
    "route_to_agent with that agent's exact name. If no agent's description fits the question "
    "(small talk, or a subject none of them covers), call it with \"none\". Never answer the "
    "question yourself."
)


@dataclass(frozen=True)
class Route:
    agent: str | None  # None: no agent fits
    usage: Usage
    seconds: float
    model: str


class RoutingError(Exception):
    """The router gave no usable answer; the caller falls back to the default agent."""


class Router:
    def __init__(self, client: anthropic.AsyncAnthropic, model: str, timeout_s: float = 15.0):
        self._client = client
        self._model = model
        self._timeout_s = timeout_s

    @staticmethod
    def request(agents: Sequence[Agent], question: str, model: str) -> dict[str, Any]:
        """The routing call's parameters: the agent list first and stable (cached), the question last."""
        listing = "\n\n".join(f'<agent name="{a.name}">\n{a.description}\n</agent>' for a in agents)
        return {
            "model": model,
            "max_tokens": 64,
            "system": [{"type": "text", "text": f"{ROUTER_SYSTEM}\n\n<agents>\n{listing}\n</agents>",
                        "cache_control": {"type": "ephemeral"}}],
            "tools": [{
                "name": "route_to_agent",
                "description": "Hand the question to one agent, or to none.",
                "input_schema": {"type": "object", "required": ["agent"], "properties": {
                    "agent": {"type": "string", "enum": [a.name for a in agents] + [NONE],
                              "description": "The exact name of the agent, or \"none\"."}}},
            }],
            "tool_choice": {"type": "tool", "name": "route_to_agent"},
            "messages": [{"role": "user", "content": question[:QUESTION_MAX_CHARS] or "(empty message)"}],
        }

    async def route(self, agents: Sequence[Agent], question: str) -> Route:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._timeout_s):
                message = await self._client.messages.create(**self.request(agents, question, self._model))
        except (anthropic.APIError, TimeoutError) as error:
            raise RoutingError(f"router call failed: {type(error).__name__}: {str(error)[:200]}") from error
        names = {a.name for a in agents}
        chosen = next((block.input.get("agent") for block in message.content
                       if block.type == "tool_use" and block.name == "route_to_agent"
                       and isinstance(block.input, dict)), None)
        if chosen != NONE and chosen not in names:
            raise RoutingError(f"router named an unknown agent: {chosen!r}")
        usage = message.usage
        return Route(None if chosen == NONE else chosen,
                     Usage(usage.input_tokens or 0, usage.output_tokens or 0,
                           usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0),
                     loop.time() - started, self._model)
