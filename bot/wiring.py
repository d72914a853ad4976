"""Settings -> the objects that answer questions (shared by `run` and `ask`)."""

from __future__ import annotations

import anthropic

from bot.agents import AgentCatalog, load_catalog
from bot.answering import Answerer, Budget, Efforts
from bot.claude import CircuitBreaker, Claude
from bot.config import Settings
from bot.router import Router
from bot.store import Store


def anthropic_client(settings: Settings, timeout: float | None = None) -> anthropic.AsyncAnthropic:
    """The Messages API client every caller uses; no retries of its own (claude.py retries,
    bounded by the answer's deadline)."""
    return anthropic.AsyncAnthropic(
        # A gateway (ANTHROPIC_BASE_URL) may need no key; the SDK still insists on one.
        api_key=settings.anthropic_api_key or ("no-key" if settings.anthropic_base_url else None),
        base_url=settings.anthropic_base_url,  # None: the SDK's own default
        timeout=settings.claude_timeout_s if timeout is None else timeout,
        max_retries=0,
    )


def create_answerer(
    settings: Settings,
    catalog: AgentCatalog | None = None,
    store: Store | None = None,
    breaker: CircuitBreaker | None = None,
) -> Answerer:
    """`store` remembers each thread's agent and keeps the usage ledger (the CLI's ask has none)."""
    client = anthropic_client(settings)
    router = Router(client, settings.router_model, settings.router_timeout_s) if settings.routing else None
    claude = Claude(
        client, settings.max_tokens, settings.answer_deadline_s, breaker, fallback_model=settings.default_model
    )
    return Answerer(
        catalog or load_catalog(settings),
        claude,
        settings.default_agent,
        max_context_tokens=settings.max_context_tokens,
        router=router,
        memory=store,
        ledger=store,
        budget=Budget(settings.prices, settings.user_daily_tokens),
        efforts=Efforts(settings.effort, settings.review_effort),
    )
