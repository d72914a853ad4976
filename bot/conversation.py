"""A thread -> the Messages API conversation Claude is sent.

Rendering is deterministic: the same turns always give the same messages, so each follow-up
repeats the previous request as an exact prefix and Anthropic's prompt cache serves it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Cheap and deliberately pessimistic (code and non-English text run ~3 characters a token):
# the budget must hold without an API call to count.
CHARS_PER_TOKEN = 3.0
DROP_STEP = 8
THREAD_STARTS_WITH_BOT = "(This Slack thread starts with your own message, below.)"


@dataclass(frozen=True)
class Turn:
    role: str  # "user" (people, other bots) or "assistant" (this bot)
    text: str
    author: str | None = None  # who said it, for user turns in shared threads

    def rendered(self) -> str:
        return f"{self.author}: {self.text}" if self.author and self.role == "user" else self.text


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def fit_to_budget(turns: list[Turn], budget_tokens: int) -> list[Turn]:
    """Keep the first turn and the latest that fit; say what was left out between.

    Older turns are left out DROP_STEP at a time, not one by one: the kept conversation then
    starts the same way for several follow-ups, so Anthropic's prompt cache keeps serving it
    instead of re-writing the whole window on every turn.
    """
    costs = [estimate_tokens(t.rendered()) + 4 for t in turns]
    if sum(costs) <= budget_tokens or len(turns) <= 2:
        return turns
    room = budget_tokens - costs[0] - 30  # the note costs about 30
    dropped = DROP_STEP
    while dropped < len(turns) - 2 and sum(costs[1 + dropped :]) > room:
        dropped += DROP_STEP
    dropped = min(dropped, len(turns) - 2)  # the first turn and the question always go
    note = Turn(
        "user",
        f"[{dropped} earlier message{'s' if dropped != 1 else ''} of this thread left out to fit the context budget]",
    )
    return [turns[0], note, *turns[1 + dropped :]]


def build_messages(turns: list[Turn], budget_tokens: int = 150_000) -> list[dict[str, Any]]:
    """Turns -> Messages API messages: within budget, roles alternating, starting with the user."""
    messages: list[dict[str, Any]] = []
    for turn in fit_to_budget([t for t in turns if t.text.strip()], budget_tokens):
        text = turn.rendered()
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"] += "\n\n" + text
        else:
            messages.append({"role": turn.role, "content": text})
    if messages and messages[0]["role"] == "assistant":
        messages.insert(0, {"role": "user", "content": THREAD_STARTS_WITH_BOT})
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()  # Claude answers the last user turn; a trailing answer would be prefill
    return messages
