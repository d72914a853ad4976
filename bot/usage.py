"""What Claude costs: a price table, the usage ledger (every call, in SQLite), daily limits,
and the totals `backend-engineer usage` prints."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.claude import Usage

MILLION = 1_000_000
# USD per million tokens (input, output). Cache reads cost 0.1x input, 5-minute cache writes 1.25x.
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {"claude-sonnet-5-5": (2.0, 10.0)}
CACHE_READ_FACTOR = 0.1
CACHE_WRITE_FACTOR = 1.25


def parse_prices(text: str) -> dict[str, tuple[float, float]]:
    """`BOT_PRICES`: "model=in/out,model=in/out" in USD per million tokens."""
    prices: dict[str, tuple[float, float]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        model, _, pair = item.partition("=")
        try:
            given, taken = (float(x) for x in pair.split("/"))
        except ValueError:
            raise ValueError(f"BOT_PRICES: {item!r} should look like model=2/10") from None
        prices[model.strip()] = (given, taken)
    return prices


def cost_usd(usage: Usage, model: str, prices: Mapping[str, tuple[float, float]]) -> float | None:
    """The call's cost, or None when the model has no price."""
    if model not in prices:
        return None
    per_in, per_out = prices[model]
    return (usage.input_tokens * per_in + usage.cache_read_input_tokens * per_in * CACHE_READ_FACTOR
            + usage.cache_creation_input_tokens * per_in * CACHE_WRITE_FACTOR
            + usage.output_tokens * per_out) / MILLION


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
    lines = [f"{title:<28} {'calls':>6} {'input':>10} {'output':>10} {'cache read':>11} {'cache write':>12} "
             f"{'cost USD':>10}"]
    for row in rows:
        cost = f"{row.cost_usd:10.4f}" + (" *" if row.unpriced_calls else "")
        lines.append(f"{row.key[:28]:<28} {row.calls:6d} {row.input_tokens:10,d} {row.output_tokens:10,d} "
                     f"{row.cache_read_tokens:11,d} {row.cache_write_tokens:12,d} {cost}")
    return "\n".join(lines)
