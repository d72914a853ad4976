"""The Claude client heals what heals (with backoff, honouring retry-after, within the
deadline) and stops hammering a Claude that keeps failing (circuit breaker)."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable

import anthropic
import pytest
from fakes.claude_api import Failure, Reply

from bot.agents import ModelChoices, load_agents, shipped_agents_dir
from bot.claude import CircuitBreaker, Claude
from bot.errors import ClaudeError

AGENT = load_agents(shipped_agents_dir(), ModelChoices("claude-sonnet-5-5", {"sonnet": "claude-sonnet-5-5"})).agents[0]
MESSAGES = [{"role": "user", "content": "hi"}]


class Listener:
    def __init__(self) -> None:
        self.text, self.statuses, self.restarts = "", [], 0

    async def append(self, text: str) -> None:
        self.text += text

    async def thinking(self) -> None:
        pass

    async def retrying(self, status: str) -> None:
        self.statuses.append(status)

    async def restart(self) -> None:
        self.text, self.restarts = "", self.restarts + 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def claude(fake_claude) -> AsyncIterator[Callable[..., Claude]]:
    """Makes Claude clients on the fake API; their connections are closed when the test ends."""
    made: list[Claude] = []

    def make(deadline: float = 10.0, breaker: CircuitBreaker | None = None) -> Claude:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=fake_claude.url, max_retries=0)
        made.append(Claude(client, None, deadline, breaker, backoff_s=0.01, max_backoff_s=0.05, rng=random.Random(0)))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def test_overloads_and_rate_limits_are_retried_with_the_user_told(fake_claude, claude):
    fake_claude.then(Failure(), Failure(429, "rate_limit_error"), Failure(503, "api_error"), Reply(chunks=("ok",)))
    listener = Listener()
    answer = await claude().stream(AGENT, MESSAGES, "terminal", listener)
    assert answer.text == "ok" and listener.text == "ok"
    assert listener.statuses == [
        "Claude is busy, retrying…",
        "Claude's rate limit was hit, retrying…",
        "Claude didn't answer, retrying…",
    ]


async def test_retry_after_is_honoured(fake_claude, claude):
    fake_claude.then(Failure(), Reply(chunks=("ok",)))
    fake_claude.retry_after_ms = 250  # far above the test's backoff (10 to 50 ms)
    started = time.monotonic()
    await claude().stream(AGENT, MESSAGES, "terminal", Listener())
    assert time.monotonic() - started >= 0.25


async def test_the_deadline_bounds_all_retries(fake_claude, claude):
    fake_claude.down = Failure()
    started = time.monotonic()
    with pytest.raises(ClaudeError) as error:
        await claude(deadline=0.5).stream(AGENT, MESSAGES, "terminal", Listener())
    assert error.value.kind == "overloaded"
    assert time.monotonic() - started < 1.5
    assert len(fake_claude.requests) > 3


async def test_a_bad_request_is_not_retried(fake_claude, claude):
    fake_claude.then(Failure(400, "invalid_request_error", "prompt is too long"))
    with pytest.raises(ClaudeError) as error:
        await claude().stream(AGENT, MESSAGES, "terminal", Listener())
    assert error.value.kind == "bad_request" and len(fake_claude.requests) == 1


def test_the_breaker_opens_after_failing_for_a_while_probes_after_cool_down_and_closes():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, span_s=10, cool_down_s=30, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.failed()
        clock.now += 2
    assert breaker.state == "closed"  # three failures in 4 s: still a blip
    clock.now += 10
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 30
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.failed()
    assert breaker.state == "open"  # the probe failed: open again
    clock.now += 30
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow()


async def test_while_the_breaker_is_open_new_questions_are_told_at_once(fake_claude, claude):
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, span_s=0, cool_down_s=30, clock=clock)
    fake_claude.down = Failure()
    with pytest.raises(ClaudeError):
        await claude(deadline=0.5, breaker=breaker).stream(AGENT, MESSAGES, "terminal", Listener())
    asked = len(fake_claude.requests)
    started = time.monotonic()
    with pytest.raises(ClaudeError) as error:
        await claude(breaker=breaker).stream(AGENT, MESSAGES, "terminal", Listener())
    assert time.monotonic() - started < 0.2 and len(fake_claude.requests) == asked
    assert "failing for a while" in error.value.user_message
    fake_claude.down = None
    clock.now += 31  # cool-down over: the next question is the probe, and closes the breaker
    answer = await claude(breaker=breaker).stream(AGENT, MESSAGES, "terminal", Listener())
    assert answer.text == "Hello from **Claude**." and breaker.state == "closed"


async def test_a_probe_that_fails_for_a_reason_outside_claude_lets_the_next_one_through(fake_claude, claude):
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, span_s=0, cool_down_s=30, clock=clock)
    breaker.failed()
    clock.now += 31

    class Broken(Listener):
        async def append(self, text: str) -> None:
            raise RuntimeError("Slack is down")

    with pytest.raises(RuntimeError):
        await claude(breaker=breaker).stream(AGENT, MESSAGES, "terminal", Broken())
    answer = await claude(breaker=breaker).stream(AGENT, MESSAGES, "terminal", Listener())
    assert answer.text and breaker.state == "closed"


async def test_rejected_requests_do_not_open_the_breaker(fake_claude, claude):
    breaker = CircuitBreaker(threshold=1, span_s=0, cool_down_s=30)
    fake_claude.then(Failure(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(ClaudeError) as error:
        await claude(breaker=breaker).stream(AGENT, MESSAGES, "terminal", Listener())
    assert error.value.kind == "auth" and breaker.state == "closed"


async def test_through_the_app_a_failing_claude_trips_the_breaker_and_it_closes_by_itself(
    settings, fake_slack, fake_claude
):
    import asyncio
    from dataclasses import replace

    from conftest import BotServer, RunningBot

    from bot.slack.app import create_app
    from bot.store import Store
    from bot.wiring import create_answerer

    settings = replace(settings, answer_deadline_s=0.5, routing=False)
    store = Store.in_data_dir(settings.data_dir)
    breaker = CircuitBreaker(threshold=1, span_s=0, cool_down_s=1.2)  # trips on the first failure: no timing luck
    slack_bot = create_app(settings, create_answerer(settings, store=store, breaker=breaker), store)
    server = await BotServer(slack_bot).start()
    bot = RunningBot(server.origin, slack_bot.answers, fake_slack, fake_claude)
    try:
        fake_claude.down = Failure()
        await bot.mention("first", channel="C1")
        await bot.idle()
        assert breaker.state == "open"
        asked = len(fake_claude.requests)
        started = time.monotonic()
        ts, _ = await bot.mention("second", channel="C2")
        await bot.idle()
        assert time.monotonic() - started < 0.8 and len(fake_claude.requests) == asked  # told at once
        assert "failing for a while" in fake_slack.thread("C2", ts)[0].markdown
        fake_claude.down = None
        await asyncio.sleep(1.3)  # cool-down: the next question is the probe
        ts, _ = await bot.mention("third", channel="C3")
        await bot.idle()
        assert fake_slack.thread("C3", ts)[0].markdown == "Hello from **Claude**." and breaker.state == "closed"
    finally:
        await server.stop()
