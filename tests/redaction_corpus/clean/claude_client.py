"""Thin wrapper over the Anthropic SDK with token accounting."""

from __future__ import annotations

import os
from dataclasses import dataclass

import anthropic

MODEL = "claude-sonnet-4-5"
MAX_TOKENS = 4096


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Claude:
    def __init__(self, api_key: str | None = None, max_tokens: int = MAX_TOKENS) -> None:
        api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not api_key:
            raise RuntimeError("Set ANTHROPIC_API_KEY (see README).")
        self._client = anthropic.Anthropic(api_key=api_key)
        self.max_tokens = max_tokens
        self.usage = Usage()

    def ask(self, prompt: str, *, system: str = "", stop_sequences: list[str] | None = None) -> str:
        response = self._client.messages.create(
            model=MODEL,
            max_tokens=self.max_tokens,
            system=system,
            messages=[{"role": "user", "content": prompt}],
            stop_sequences=stop_sequences or [],
        )
        self.usage.input_tokens += response.usage.input_tokens
        self.usage.output_tokens += response.usage.output_tokens
        if response.stop_reason == "max_tokens":
            return response.content[0].text + "\n\n_(cut off at the token limit)_"
        return response.content[0].text


def count_tokens(client: anthropic.Anthropic, text: str) -> int:
    token_count = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": text}])
    return token_count.input_tokens
