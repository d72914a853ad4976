"""What Claude is sent for a question: the Messages API conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    author: str | None = None  # who said it, for user turns in shared threads


def build_messages(turns: list[Turn]) -> list[dict[str, Any]]:
    """Turns -> Messages API messages; consecutive turns of one role merge into one message."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        text = f"{turn.author}: {turn.text}" if turn.author and turn.role == "user" else turn.text
        if not text.strip():
            continue
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"] += "\n\n" + text
        else:
            messages.append({"role": turn.role, "content": text})
    return messages
