"""One question, answered: pick the agent, build the conversation, stream from Claude into a sink.

A sink is wherever the answer is shown (a Slack thread, a terminal); the pipeline only
knows the four things every sink does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.agents import Agent, AgentCatalog
from bot.claude import Answer, Claude, ClaudeError
from bot.conversation import Turn, build_messages, estimate_tokens
from bot.logs import log_event

log = logging.getLogger(__name__)


NOTHING_TO_ANSWER = ("Hi! Ask me a backend question — design, debugging, performance, databases, "
                     "APIs — in the same message as the mention, or mention me in a thread to discuss it.")

ReadConversation = Callable[[], Awaitable[Sequence[Turn]]]


class ConversationUnavailable(Exception):
    """The conversation could not be read (e.g. Slack refused); says so in words for the user."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


class AnswerSink(Protocol):
    async def working(self) -> None:
        """Show at once that the question was heard."""

    async def append(self, text: str) -> None:
        """More of the answer, as Claude writes it."""

    async def finish(self, answer: Answer, agent: Agent) -> None:
        """The answer is complete: close it, with its note and footer."""

    async def fail(self, message: str, warning: bool = True) -> None:
        """No (complete) answer: tell the user, in one clear message (`warning`: marked as one)."""


class Answerer:
    def __init__(self, catalog: AgentCatalog, claude: Claude, default_agent: str,
                 max_context_tokens: int = 150_000):
        self.catalog = catalog
        self.claude = claude
        self.default_agent = default_agent
        self.max_context_tokens = max_context_tokens

    def agent_for(self, turns: Sequence[Turn]) -> Agent:
        agent = self.catalog.get(self.default_agent)
        if agent is None:
            raise LookupError(f"default agent {self.default_agent!r} is not loaded")
        return agent

    async def answer(self, request_id: str, read_conversation: ReadConversation, sink: AnswerSink,
                     surface: str) -> Answer | None:
        """Answer the conversation's last turn into `sink`; returns the answer, or None when the
        user was told it failed."""
        try:
            await sink.working()  # first, so the user sees at once that the question was heard
            turns = list(await read_conversation())
            agent = self.agent_for(turns)
            budget = self.max_context_tokens - estimate_tokens(agent.system_prompt + surface)
            messages = build_messages(turns, budget)
            if not messages:  # a bare mention, nothing before it
                await sink.fail(NOTHING_TO_ANSWER, warning=False)
                return None
            answer = await self.claude.stream(agent, messages, surface, sink.append)
            await sink.finish(answer, agent)
        except ClaudeError as error:
            log_event(log, "answer_failed", logging.WARNING, request_id=request_id,
                      kind=error.kind, claude_request_id=error.request_id, error=str(error))
            await _tell(sink, error.user_message, request_id)
            return None
        except ConversationUnavailable as error:
            log_event(log, "answer_failed", logging.WARNING, request_id=request_id, kind="conversation",
                      error=repr(error.__cause__ or error))
            await _tell(sink, error.user_message, request_id)
            return None
        except asyncio.CancelledError:
            # Shutting down past the grace period: the thread must not be left mid-sentence.
            log_event(log, "answer_interrupted", logging.WARNING, request_id=request_id)
            await asyncio.shield(_tell(sink, "I was restarted in the middle of this answer, so it stops "
                                             "here. Please ask again.", request_id))
            raise
        except Exception:
            log.exception("answer crashed", extra={"fields": {"request_id": request_id}})
            await _tell(sink, "Something went wrong on my side and I couldn't finish this answer. "
                              "Please try again.", request_id)
            return None
        log_event(log, "answer", request_id=request_id, agent=agent.name, model=answer.model,
                  stop_reason=answer.stop_reason, seconds=round(answer.seconds, 3),
                  claude_request_id=answer.request_id, chars=len(answer.text),
                  turns=len(turns), input_tokens=answer.usage.input_tokens, output_tokens=answer.usage.output_tokens,
                  cache_read_tokens=answer.usage.cache_read_input_tokens,
                  cache_write_tokens=answer.usage.cache_creation_input_tokens)
        return answer


async def _tell(sink: AnswerSink, message: str, request_id: str) -> None:
    try:
        await sink.fail(f"{message} (ref `{request_id}`)")
    except Exception:
        # The sink itself is broken (e.g. Slack is down): nothing more can reach the user.
        log.exception("could not tell the user", extra={"fields": {"request_id": request_id}})
