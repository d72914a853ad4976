"""What a Claude call was billed, in tokens: the one type the Claude client, the router, the
ledger and the settings share. Kept apart from `bot.claude` so the settings and the command
line load without the anthropic SDK."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    thinking_tokens: int = 0  # part of output_tokens (billed as output), for the record

    @property
    def tokens(self) -> int:
        """Every token the call was billed for, as daily allowances count them."""
        return self.input_tokens + self.output_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens
