"""The playground without an Anthropic key: the bot runs its whole pipeline, and the request
it would send to Claude is answered with a description of that request instead of an answer.

The stand-in sits where Claude would (the anthropic SDK is pointed at it), so what it
describes is exactly what the SDK put on the wire: the model, the system prompt, the
conversation built from the thread with secrets already redacted. It never pretends to be
Claude: every reply opens by saying that nothing was sent, and reports no token usage.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.agents import AgentCatalog
from bot.conversation import estimate_tokens
from bot.playground import messages_stream as sse
from bot.playground.local_server import LocalServer
from bot.redact import Redaction
from bot.usage import CACHE_WRITE_FACTOR, Price

API_KEY = "dry-run"  # what the SDK is given: it must send some key, and this one goes nowhere
HEADING = "🧪 **Dry run: nothing was sent to Claude.**"
EXCERPT_CHARS = 400
_REDACTED = re.compile(r"\[REDACTED ([a-z0-9-]+)\]")


@dataclass(frozen=True)
class SentMessage:
    role: str
    text: str

    @property
    def earlier_report(self) -> bool:
        """One of these reports, back in the thread as the bot's turn: a live run would have
        Claude's answer there instead."""
        return self.role == "assistant" and self.text.startswith(HEADING)


@dataclass(frozen=True)
class DryRunReport:
    """What one Messages API request would have sent, in the terms a user cares about."""

    agent: str | None  # None: the system prompt matches no loaded agent
    model: str
    max_tokens: int
    effort: str | None  # None: the model's default
    system_parts: tuple[int, ...]  # characters in each system block
    messages: tuple[SentMessage, ...]
    redacted: Mapping[str, int]  # kind -> how many placeholders the request carries
    input_tokens: int  # estimated the way the bot budgets a thread (pessimistic)
    price: Price | None

    @classmethod
    def of(cls, body: Mapping[str, Any], catalog: AgentCatalog, prices: Mapping[str, Price]) -> DryRunReport:
        system = [block.get("text", "") for block in _blocks(body.get("system"))]
        messages = tuple(SentMessage(m.get("role", "?"), _text(m.get("content"))) for m in body.get("messages", []))
        agent = next((a.name for a in catalog.agents if system and a.system_prompt == system[0]), None)
        # Earlier reports are left out of the estimate: they stand where Claude's answers would be.
        sent = "".join(system) + "".join(m.text for m in messages if not m.earlier_report)
        people = "".join(m.text for m in messages if m.role == "user")
        model = str(body.get("model", "?"))
        effort = (body.get("output_config") or {}).get("effort")
        return cls(
            agent,
            model,
            int(body.get("max_tokens", 0)),
            effort,
            tuple(len(s) for s in system),
            messages,
            Counter(_REDACTED.findall(people)),
            estimate_tokens(sent),
            prices.get(model),
        )

    def markdown(self) -> str:
        """The report as the bot posts it in the thread."""
        system = sum(self.system_parts)
        parts = " + ".join(f"{n:,}" for n in self.system_parts)
        lines = [
            f"{HEADING} Without `ANTHROPIC_API_KEY` the playground shows what the bot would send instead of an answer.",
            "",
            f"- **Agent:** {self.agent or 'none of the loaded agents (system prompt not recognised)'}",
            (
                f"- **Model:** `{self.model}`, effort `{self.effort or 'the model default'}`, thinking and "
                f"answering in at most {self.max_tokens:,} tokens"
            ),
            (
                f"- **System prompt:** {system:,} characters ({parts}: the agent's instructions, then how to "
                "write for Slack)"
            ),
            (
                f"- **Conversation:** {len(self.messages)} message{'s' if len(self.messages) != 1 else ''} "
                "built from the thread"
            ),
            f"- **Redacted:** {self._redactions()}",
            (
                f"- **Estimated input:** about {self.input_tokens:,} tokens (3 characters a token, the rule "
                "the bot budgets threads with; Claude's own count is usually lower)"
            ),
            f"- **Estimated cost:** {self._cost()}",
            "",
            "**The conversation, as Claude would read it:**",
        ]
        earlier = sum(m.earlier_report for m in self.messages)
        if earlier:
            lines.insert(
                -2,
                f"- **Left out of the estimate:** {earlier} earlier dry-run report"
                f"{'s' if earlier != 1 else ''} in the thread (a live run sends Claude's answers there)",
            )
        for number, sent in enumerate(self.messages, 1):
            text = "(an earlier dry-run report: in a live run, Claude's answer)" if sent.earlier_report else sent.text
            lines += ["", f"*{number}. {sent.role}*", _quote(_excerpt(text))]
        return "\n".join(lines) + "\n"

    def _redactions(self) -> str:
        summary = Redaction("", self.redacted).summary()
        return summary.removeprefix("Redacted before sending: ").rstrip(".") if summary else "nothing"

    def _cost(self) -> str:
        if self.price is None:
            return f"no price known for `{self.model}` (set BOT_PRICES)"
        per_in, per_out = self.price.input, self.price.output
        # The whole request is written to the prompt cache (its last block carries the marker).
        first = self.input_tokens * per_in * CACHE_WRITE_FACTOR / 1_000_000
        most = self.max_tokens * per_out / 1_000_000
        read = self.price.read_per_million
        return (
            f"at most about ${first:.4f} for the input (all of it written to the prompt cache; what an "
            f"earlier question already cached is read back at ${read:g} per million tokens), plus at most "
            f"${most:.4f} for thinking and the answer (at ${per_in:g} / ${per_out:g} per million tokens)"
        )


class DryRunClaude(LocalServer):
    """Answers the Messages API with a report of each request; counts what it was asked."""

    def __init__(self, catalog: AgentCatalog, prices: Mapping[str, Price]):
        super().__init__()
        self.catalog = catalog
        self.prices = prices
        self.reports: list[DryRunReport] = []
        self.app.router.add_post("/v1/messages", self._messages)

    @property
    def url(self) -> str:
        """What ANTHROPIC_BASE_URL is set to."""
        return self.origin

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("tools") or body.get("output_config", {}).get("format") or not body.get("stream"):
            # Only routing asks this way, and the playground turns routing off in a dry run:
            # choosing an agent without Claude would be pretending.
            return sse.error(400, "invalid_request_error", "dry run: only streamed answers are described")
        report = DryRunReport.of(body, self.catalog, self.prices)
        self.reports.append(report)
        # The footer names the model the answer came from: here, none did.
        labelled = {**body, "model": f"{report.model} (dry run)"}
        response = await sse.start_stream(request, labelled, {}, f"dry_run_{len(self.reports)}")
        await sse.start_text(response)
        await sse.send_text(response, _paragraphs(report.markdown()))
        await sse.end_block(response)
        await sse.end_stream(response, "end_turn", 0)
        return response


def _blocks(content: Any) -> Sequence[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, Mapping)]


def _text(content: Any) -> str:
    return "\n\n".join(str(block.get("text", "")) for block in _blocks(content) if block.get("type") == "text")


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT_CHARS:
        return text
    return f"{text[:EXCERPT_CHARS].rstrip()}\n… ({len(text) - EXCERPT_CHARS:,} more characters)"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def _paragraphs(text: str) -> list[str]:
    """The report in pieces, so it streams into the thread the way an answer does."""
    pieces = text.split("\n\n")
    return [piece + "\n\n" for piece in pieces[:-1]] + [pieces[-1]]
