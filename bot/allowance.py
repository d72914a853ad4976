"""Each user's daily Claude tokens (BOT_USER_DAILY_TOKENS): held before a call, settled after it.

Reading the ledger alone lets questions asked at once each see the same tokens left and
overshoot together (8 parallel questions spent 35x a 1,000-token allowance). So a question
holds what it may spend (its prompt's estimate and its output limit) before Claude is called,
and lets go once the ledger has the real usage. The holds live in this process's memory: one
process serves one store (the store's lock sees to that).
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol


class TokensToday(Protocol):
    def tokens_today(self, user: str) -> int: ...


class DailyAllowance:
    def __init__(self, ledger: TokensToday | None, limit: int | None):
        self._ledger = ledger
        self.limit = limit if ledger is not None else None  # None: unlimited
        self._held: Counter[str] = Counter()

    def left(self, user: str | None) -> int | None:
        """Tokens `user` may still spend today, beyond what their answers in flight hold
        (None: no limit, or nobody to count it against)."""
        if self.limit is None or self._ledger is None or user is None:
            return None
        return self.limit - self._ledger.tokens_today(user) - self._held[user]

    def hold(self, user: str | None) -> Hold:
        return Hold(self, user)

    def _take(self, user: str, tokens: int) -> None:
        self._held[user] += tokens

    def _give_back(self, user: str, tokens: int) -> None:
        self._held[user] -= tokens
        if self._held[user] <= 0:
            del self._held[user]


class Hold:
    """What one question holds of its user's allowance; released when it is answered (the
    ledger then counts what it really spent)."""

    def __init__(self, allowance: DailyAllowance, user: str | None):
        self._allowance = allowance
        self.user = user
        self.tokens = 0

    def take(self, at_least: int, at_most: int) -> int | None:
        """Hold up to `at_most` more tokens; None (nothing held) when fewer than `at_least` are left."""
        left = self._allowance.left(self.user)
        if left is None:
            return at_most
        if left < at_least:
            return None
        granted = min(at_most, left)
        self._allowance._take(self.user or "", granted)
        self.tokens += granted
        return granted

    def release(self) -> None:
        if self.tokens:
            self._allowance._give_back(self.user or "", self.tokens)
            self.tokens = 0
