"""One question, answered: pick the agent, build the conversation, stream from Claude into a sink.

A sink is wherever the answer is shown (a Slack thread, a terminal); the pipeline only
knows the four things every sink does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.agents import Agent, AgentCatalog
from bot.claude import Answer, Claude, ClaudeError
from bot.conversation import Turn, build_messages
from bot.logs import log_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    text: str
    request_id: str
    asker: str | None = None


class AnswerSink(Protocol):
    async def working(self) -> None:
        """Show at once that the question was heard."""

    async def append(self, text: str) -> None:
        """More of the answer, as Claude writes it."""

    async def finish(self, answer: Answer, agent: Agent) -> None:
        """The answer is complete: close it, with its note and footer."""

    async def fail(self, message: str) -> None:
        """No (complete) answer: tell the user, in one clear message."""


class Answerer:
    def __init__(self, catalog: AgentCatalog, claude: Claude, default_agent: str):
        self.catalog = catalog
        self.claude = claude
        self.default_agent = default_agent

    def agent_for(self, question: Question) -> Agent:
        agent = self.catalog.get(self.default_agent)
        if agent is None:
            raise LookupError(f"default agent {self.default_agent!r} is not loaded")
        return agent

    async def answer(self, question: Question, sink: AnswerSink, surface: str) -> Answer | None:
        """Answer into `sink`; returns the answer, or None when the user was told it failed."""
        try:
            await sink.working()
            agent = self.agent_for(question)
            messages = build_messages([Turn("user", question.text)])
            answer = await self.claude.stream(agent, messages, surface, sink.append)
            await sink.finish(answer, agent)
        except ClaudeError as error:
            log_event(log, "answer_failed", logging.WARNING, request_id=question.request_id,
                      kind=error.kind, claude_request_id=error.request_id, error=str(error))
            await _tell(sink, error.user_message, question.request_id)
            return None
        except Exception:
            log.exception("answer crashed", extra={"fields": {"request_id": question.request_id}})
            await _tell(sink, "Something went wrong on my side and I couldn't finish this answer. "
                              "Please try again.", question.request_id)
            return None
        log_event(log, "answer", request_id=question.request_id, agent=agent.name, model=answer.model,
                  stop_reason=answer.stop_reason, seconds=round(answer.seconds, 3),
                  claude_request_id=answer.request_id, chars=len(answer.text),
                  input_tokens=answer.usage.input_tokens, output_tokens=answer.usage.output_tokens,
                  cache_read_tokens=answer.usage.cache_read_input_tokens,
                  cache_write_tokens=answer.usage.cache_creation_input_tokens)
        return answer


async def _tell(sink: AnswerSink, message: str, request_id: str) -> None:
    try:
        await sink.fail(f"{message} (ref `{request_id}`)")
    except Exception:
        # The sink itself is broken (e.g. Slack is down): nothing more can reach the user.
        log.exception("could not tell the user", extra={"fields": {"request_id": request_id}})
