"""Slack's rate limits as a budget the bot spends on purpose, instead of finding them through
429s. One budget per app (the limits are per app, per workspace), shared by every answer.

Tiers from the docs.slack.dev method pages (field `rate_limits` in slack-ruby/slack-api-ref's
docs.slack.dev/methods/*.json): Tier 2 is 20+ calls a minute, Tier 3 50+, Tier 4 100+, with
bursts tolerated; chat.postMessage is about one message a second per channel, with short
bursts (modelled as 3). A method not listed has no budget here (e.g. assistant.threads.setStatus,
auth.test).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

_CALLING: ContextVar[tuple[str, str | None]] = ContextVar("slack_call", default=("", None))

PER_MINUTE = {2: 20, 3: 50, 4: 100}
TIERS = {
    "chat.startStream": 2,
    "chat.stopStream": 2,
    "reactions.remove": 2,
    "chat.update": 3,
    "chat.delete": 3,
    "reactions.add": 3,
    "conversations.replies": 3,
    "chat.appendStream": 4,
    "users.info": 4,
    "files.info": 4,
    "chat.postEphemeral": 4,
    "assistant.threads.setTitle": 4,
    "assistant.threads.setSuggestedPrompts": 4,
}
POST_PER_SECOND = 1.0  # chat.postMessage, per channel
POST_BURST = 2
# The bot keeps one call of each burst in hand: Slack counts a call when it arrives, a moment
# after the bot counted it, and a bucket that both fill to the brim must never come up short.
MARGIN = 1


class Bucket:
    """A token bucket that hands out its tokens in order: a caller that must wait is given the
    next token to come, so waiting callers are served first come, first served.

    A reservation takes a token now for a call made later; while it is held, the bucket
    refills only up to its burst less what is held, so the held calls, made late and together,
    still fit in what Slack counts when they arrive."""

    def __init__(self, per_second: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self._rate, self._burst, self._clock = per_second, burst, clock
        self._tokens, self._at = burst, clock()
        self.held = 0  # reserved tokens not spent yet
        self._not_before = -math.inf  # Slack said 429: nothing before then

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._burst - self.held, self._tokens + (now - self._at) * self._rate)
        self._at = now
        return self._tokens

    def available(self) -> float:
        """Tokens free now (below zero: that many are promised to callers already waiting)."""
        return self._refill() if self._clock() >= self._not_before else min(self._refill(), 0.0)

    def reserve(self) -> bool:
        if self.try_take():
            self.held += 1
            return True
        return False

    def try_take(self) -> bool:
        if self._clock() >= self._not_before and self._refill() >= 1:
            self._tokens -= 1
            return True
        return False

    async def take(self) -> None:
        self._refill()
        self._tokens -= 1
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self._rate)
        await self.paused()

    async def paused(self) -> None:
        """Wait out a 429's pause (one may come while waiting, too)."""
        while self._clock() < self._not_before:
            await asyncio.sleep(self._not_before - self._clock())

    def spend_held(self) -> bool:
        if self.held:
            self.held -= 1
            return True
        return False

    def release(self) -> None:
        if self.held:
            self.held -= 1
            self._tokens += 1

    def pause(self, seconds: float) -> None:
        """Slack answered 429 with Retry-After: nothing more until then (pauses overlap, not add)."""
        self._not_before = max(self._not_before, self._clock() + seconds)


# Set around a call the caller reserved a token for: that call spends its reservation, and no
# other call can (a call without one always waits its turn).
_PREPAID: ContextVar[bool] = ContextVar("slack_prepaid", default=False)


@contextmanager
def prepaid() -> Iterator[None]:
    token = _PREPAID.set(True)
    try:
        yield
    finally:
        _PREPAID.reset(token)


class SlackBudget:
    """The bot's Slack allowance: a bucket per method (per channel for chat.postMessage).
    `reserve` takes a token now for a call made later (e.g. the stopStream that will close a
    stream opened now); that call, made under `prepaid()`, spends the reservation."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def _bucket(self, method: str, channel: str | None) -> Bucket | None:
        if method == "chat.postMessage":
            key = (method, channel or "")
            if key not in self._buckets:
                self._buckets[key] = Bucket(POST_PER_SECOND, POST_BURST, self._clock)
            return self._buckets[key]
        tier = TIERS.get(method)
        if tier is None:
            return None
        key = (method, "")
        if key not in self._buckets:
            per_minute = PER_MINUTE[tier]
            self._buckets[key] = Bucket(per_minute / 60, per_minute - MARGIN, self._clock)
        return self._buckets[key]

    def available(self, method: str, channel: str | None = None) -> float:
        bucket = self._bucket(method, channel)
        return math.inf if bucket is None else bucket.available()

    def reserve(self, method: str, channel: str | None = None) -> bool:
        """Take a token now if one is free; the call made later under `prepaid()` spends it."""
        bucket = self._bucket(method, channel)
        return bucket is None or bucket.reserve()

    def release(self, method: str, channel: str | None = None) -> None:
        """A reserved call that will not be made after all."""
        bucket = self._bucket(method, channel)
        if bucket is not None:
            bucket.release()

    async def spend(self, method: str, channel: str | None = None) -> None:
        """Before a call: spend its reservation, or wait for this method's turn."""
        bucket = self._bucket(method, channel)
        if bucket is None:
            return
        if _PREPAID.get() and bucket.spend_held():
            await bucket.paused()  # paid for, but Slack asked everyone to wait
            return
        await bucket.take()

    def used(self, method: str, channel: str | None = None, count: int = 1) -> None:
        """Calls made outside this budget (another process of the same app) count too."""
        bucket = self._bucket(method, channel)
        for _ in range(count):
            if bucket is not None and not bucket.try_take():
                break

    def rate_limited(self, method: str, channel: str | None, retry_after_s: float) -> None:
        bucket = self._bucket(method, channel)
        if bucket is not None:
            bucket.pause(retry_after_s)


class BudgetedWebClient(AsyncWebClient):
    """An AsyncWebClient whose every call first waits for its turn in the budget."""

    def __init__(self, *args: Any, budget: SlackBudget | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.budget = budget or SlackBudget()

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        channel = channel_of(kwargs)
        await self.budget.spend(api_method, channel)
        calling = _CALLING.set((api_method, channel))  # for the 429 handler, which sees only the HTTP request
        try:
            return await super().api_call(api_method, **kwargs)
        finally:
            _CALLING.reset(calling)


class BudgetRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Waits out a 429's Retry-After and tells the budget, so every other call of that method
    waits for the same moment instead of collecting a 429 of its own. (slack_sdk's own handler
    reads only the header's first character: "30" would be 3 s.)"""

    def __init__(self, budget: SlackBudget, max_retry_count: int = 4, rng: random.Random | None = None):
        super().__init__(max_retry_count=max_retry_count)
        self._budget = budget
        self._rng = rng or random.Random()  # a little jitter, so the waiting calls don't return as one

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        wait = retry_after_s(response.headers)
        method, channel = _CALLING.get()
        self._budget.rate_limited(method, channel, wait)
        state.next_attempt_requested = True
        await asyncio.sleep(wait + self._rng.random() / 4)
        state.increment_current_attempt()


def retry_after_s(headers: dict[str, Any]) -> float:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except ValueError:
        return 1.0


def channel_of(call_kwargs: dict[str, Any]) -> str | None:
    for part in ("json", "data", "params"):
        args = call_kwargs.get(part)
        if isinstance(args, dict) and args.get("channel"):
            return str(args["channel"])
    return None
