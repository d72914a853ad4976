"""What Claude costs: a price table, the usage ledger (every call, in SQLite), daily limits,
and the totals `backend-engineer usage` prints."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.tokens import Usage

MILLION = 1_000_000
CACHE_READ_FACTOR = 0.1  # cache reads, where a model's price does not say otherwise
CACHE_WRITE_FACTOR = 1.25  # 5-minute cache writes (the bot's cache_control has no ttl)
LONG_PROMPT_TOKENS = 100_000  # Haiku 5.5 bills a longer prompt at its higher band


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Thinking tokens are output tokens (the API counts them in
    `output_tokens`) and cost the same."""

    input: float
    output: float
    cache_read: float | None = None  # None: 0.1x input
    long_prompt: Price | None = None  # every token of a request whose prompt is over LONG_PROMPT_TOKENS

    @property
    def read_per_million(self) -> float:
        """What a million tokens read from the prompt cache cost."""
        return self.input * CACHE_READ_FACTOR if self.cache_read is None else self.cache_read

    def cost(self, usage: Usage) -> float:
        prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        if self.long_prompt is not None and prompt > LONG_PROMPT_TOKENS:
            return self.long_prompt.cost(usage)
        return (
            usage.input_tokens * self.input
            + usage.cache_read_input_tokens * self.read_per_million
            + usage.cache_creation_input_tokens * self.input * CACHE_WRITE_FACTOR
            + usage.output_tokens * self.output
        ) / MILLION


# Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing), 2026-12: cache
# hits on Sonnet and Opus 5.5 cost 0.05x input since 2026-10-07; Haiku 5.5 is priced in two
# bands by prompt length (input, cache reads and writes), the higher one on every token.
DEFAULT_PRICES: Mapping[str, Price] = {
    "claude-sonnet-5-5": Price(2.0, 10.0, cache_read=0.10),
    "claude-opus-5-5": Price(4.0, 20.0, cache_read=0.20),
    "claude-haiku-5-5": Price(0.10, 0.50, cache_read=0.01, long_prompt=Price(0.50, 2.50, cache_read=0.05)),
}


def parse_prices(text: str) -> dict[str, Price]:
    """`BOT_PRICES`: "model=in/out[/cache_read],…" in USD per million tokens."""
    prices: dict[str, Price] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        model, _, values = item.partition("=")
        try:
            numbers = [float(x) for x in values.split("/")]
            if len(numbers) not in (2, 3) or min(numbers) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"BOT_PRICES: {item!r} should look like model=2/10 or model=2/10/0.1") from None
        prices[model.strip()] = Price(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)
    return prices


def cost_usd(usage: Usage, model: str, prices: Mapping[str, Price]) -> float | None:
    """The call's cost, or None when the model has no price."""
    price = prices.get(model)
    return None if price is None else price.cost(usage)


@dataclass(frozen=True)
class Requester:
    """Who a call was for, as the ledger and the limits see it."""

    user: str
    channel: str
    thread: str


@dataclass(frozen=True)
class LedgerEntry:
    requester: Requester
    purpose: str  # "answer" or "route"
    agent: str
    model: str
    usage: Usage
    cost_usd: float | None
    seconds: float
    request_id: str
    claude_request_id: str | None
    at: float = 0.0

    @property
    def day(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.at or time.time()))


@dataclass(frozen=True)
class Totals:
    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    unpriced_calls: int


def format_totals(title: str, rows: list[Totals]) -> str:
    lines = [
        f"{title:<28} {'calls':>6} {'input':>10} {'output':>10} {'cache read':>11} {'cache write':>12} {'cost USD':>10}"
    ]
    for row in rows:
        cost = f"{row.cost_usd:10.4f}" + (" *" if row.unpriced_calls else "")
        lines.append(
            f"{row.key[:28]:<28} {row.calls:6d} {row.input_tokens:10,d} {row.output_tokens:10,d} "
            f"{row.cache_read_tokens:11,d} {row.cache_write_tokens:12,d} {cost}"
        )
    return "\n".join(lines)
