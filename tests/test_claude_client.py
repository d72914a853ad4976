"""The core's Claude client and router on their own, through the anthropic SDK's transport hook
(`http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(...))`): the responses are
built the way the Messages API sends them (JSON, or server-sent events: message_start,
content_block_start, content_block_delta, content_block_stop, message_delta, message_stop),
and no bot, Slack or HTTP server runs."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from bot.agents import Agent
from bot.claude import Claude
from bot.errors import ClaudeError, RoutingError
from bot.router import Router
from bot.tokens import Usage

MODEL = "claude-sonnet-5-5"
AGENT = Agent("backend", "Backend questions.", "You are a backend engineer.", MODEL, Path("backend.md"))
SQL = Agent("sql-tuner", "Tunes slow SQL queries.", "You tune SQL.", "claude-haiku-5-5", Path("sql-tuner.md"))
MESSAGES = [{"role": "user", "content": "How do I absorb spikes?"}]
START_USAGE = {"input_tokens": 120, "output_tokens": 1, "cache_read_input_tokens": 30, "cache_creation_input_tokens": 7}


# -- the Messages API, as it answers -------------------------------------------------


def event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def message(model: str = MODEL, content: list[dict[str, Any]] | None = None, **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content or [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**START_USAGE, **usage},
    }


def message_start(model: str = MODEL) -> bytes:
    return event("message_start", {"type": "message_start", "message": message(model)})


def thinking_block(index: int = 0) -> list[bytes]:
    """A thinking block with its text omitted (the 5.5 models' default display)."""
    return [
        event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}},
        ),
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "sig"}},
        ),
        event("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def text_start(index: int = 0) -> bytes:
    return event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
    )


def text_delta(text: str, index: int = 0) -> bytes:
    return event(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
    )


def message_end(stop_reason: str = "end_turn", **usage: Any) -> list[bytes]:
    return [
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 40, **usage},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]


def answer_events(*chunks: str, thinking: bool = True, model: str = MODEL, **usage: Any) -> list[bytes]:
    """A whole streamed answer: thinking first (when the model thought), then the text."""
    index = 1 if thinking else 0
    return [
        message_start(model),
        *(thinking_block() if thinking else []),
        text_start(index),
        *(text_delta(chunk, index) for chunk in chunks),
        event("content_block_stop", {"type": "content_block_stop", "index": index}),
        *message_end(**usage),
    ]


def error_event(error_type: str = "overloaded_error") -> bytes:
    """An error inside a 200 stream (the SDK raises it while iterating, and never retries it)."""
    return event("error", {"type": "error", "error": {"type": error_type, "message": "boom"}})


@dataclass
class Hang:
    """Stop sending here and keep the connection open (a stalled stream)."""


Step = bytes | Hang


def streamed(*steps: Step, request_id: str = "req_stream") -> httpx2.Response:
    async def body() -> AsyncIterator[bytes]:
        for step in steps:
            if isinstance(step, Hang):
                await asyncio.sleep(3600)
            else:
                yield step

    return httpx2.Response(200, headers={"content-type": "text/event-stream", "request-id": request_id}, content=body())


def failed(status: int, error_type: str, retry_after_ms: int | None = None) -> httpx2.Response:
    headers = {"request-id": f"req_{status}"}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return httpx2.Response(
        status, headers=headers, json={"type": "error", "error": {"type": error_type, "message": error_type}}
    )


def routed(text: str, stop_reason: str = "end_turn", model: str = "claude-haiku-5-5") -> httpx2.Response:
    """The router's JSON answer: a thinking block, then the structured text."""
    body = message(
        model,
        [{"type": "thinking", "thinking": "", "signature": "sig"}, {"type": "text", "text": text}],
        output_tokens=12,
    )
    return httpx2.Response(200, json={**body, "stop_reason": stop_reason}, headers={"request-id": "req_route"})


Reply = httpx2.Response | Callable[[], Any]

MADE: list[anthropic.AsyncAnthropic] = []  # the clients this test made, closed when it ends


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    """A mock transport opens no connection, but a client left open is closed by the SDK's
    `__del__` as a task on whatever event loop runs at the time: close each in its own test."""
    yield
    while MADE:
        await MADE.pop().close()


@dataclass
class MessagesAPI:
    """POST /v1/messages answered from a script; every request body and when it came are kept."""

    script: list[Reply] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages"
        self.bodies.append(json.loads(request.content))
        self.times.append(time.monotonic())
        reply = self.script.pop(0)
        if isinstance(reply, httpx2.Response):
            return reply
        result = reply()
        return await result if asyncio.iscoroutine(result) else result

    def client(self) -> anthropic.AsyncAnthropic:
        transport = httpx2.MockTransport(self)
        MADE.append(
            anthropic.AsyncAnthropic(
                api_key="sk-ant-test", max_retries=0, http_client=httpx2.AsyncClient(transport=transport)
            )
        )
        return MADE[-1]


class Listener:
    def __init__(self) -> None:
        self.text, self.statuses, self.restarts, self.thought = "", [], 0, 0
        self.wrote = asyncio.Event()

    async def append(self, text: str) -> None:
        self.text += text
        self.wrote.set()

    async def thinking(self) -> None:
        self.thought += 1

    async def retrying(self, status: str) -> None:
        self.statuses.append(status)

    async def restart(self) -> None:
        self.text, self.restarts = "", self.restarts + 1


class Ledger:
    """What on_lost_attempt heard: (usage, model, Claude's request id) per billed attempt."""

    def __init__(self) -> None:
        self.lost: list[tuple[Usage, str, str | None]] = []

    def __call__(self, usage: Usage, model: str, request_id: str | None) -> None:
        self.lost.append((usage, model, request_id))


class Jitter(random.Random):
    """The backoff's source of randomness: records each range it draws from, returns its low end."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a


def claude(api: MessagesAPI, deadline_s: float = 5.0, **kwargs: Any) -> Claude:
    kwargs = {"backoff_s": 0.001, "max_backoff_s": 0.004, "rng": random.Random(0), **kwargs}
    return Claude(api.client(), None, deadline_s, **kwargs)


# -- Claude.stream ---------------------------------------------------------------------


async def test_an_answer_streams_to_the_listener_with_its_usage_from_the_events():
    api = MessagesAPI([streamed(*answer_events("Use ", "a queue."), request_id="req_1")])
    listener = Listener()
    answer = await claude(api).stream(AGENT, MESSAGES, "a terminal", listener, effort="high")
    assert answer.text == listener.text == "Use a queue."
    assert listener.thought == 1 and answer.request_id == "req_1" and answer.stop_reason == "end_turn"
    assert answer.usage == Usage(120, 40, 30, 7)
    (body,) = api.bodies
    assert body["stream"] is True and body["model"] == MODEL and body["messages"] == MESSAGES
    assert body["output_config"] == {"effort": "high"} and body["cache_control"] == {"type": "ephemeral"}
    assert body["system"][-1] == {"type": "text", "text": "a terminal", "cache_control": {"type": "ephemeral"}}


async def test_message_delta_totals_replace_the_start_and_count_thinking():
    end = {"output_tokens": 900, "input_tokens": 150, "output_tokens_details": {"thinking_tokens": 800}}
    api = MessagesAPI([streamed(*answer_events("ok", **end))])
    answer = await claude(api).stream(AGENT, MESSAGES, "t", Listener())
    # input from the delta (cumulative), cache counts the delta left out kept from message_start
    assert answer.usage == Usage(150, 900, 30, 7, thinking_tokens=800)


async def test_an_overload_is_retried_no_sooner_than_retry_after_with_the_user_told():
    api = MessagesAPI([failed(529, "overloaded_error", retry_after_ms=80), streamed(*answer_events("ok"))])
    listener, ledger = Listener(), Ledger()
    answer = await claude(api).stream(AGENT, MESSAGES, "t", listener, ledger)
    assert answer.text == "ok" and listener.statuses == ["Claude is busy, retrying…"]
    assert api.times[1] - api.times[0] >= 0.08
    assert ledger.lost == []  # a 529 bills nothing


async def test_backoff_grows_exponentially_up_to_its_cap_and_retry_after_wins():
    rng = Jitter()
    api = MessagesAPI([failed(529, "overloaded_error") for _ in range(4)] + [streamed(*answer_events("ok"))])
    answer = await claude(api, backoff_s=0.001, max_backoff_s=0.004, rng=rng).stream(AGENT, MESSAGES, "t", Listener())
    assert answer.text == "ok" and rng.ranges == [(0, 0.001), (0, 0.002), (0, 0.004), (0, 0.004)]


async def test_the_same_seed_gives_the_same_waits():
    def waits(seed: int) -> list[float]:
        client = claude(MessagesAPI(), backoff_s=1.0, max_backoff_s=20.0, rng=random.Random(seed))
        error = anthropic.APIConnectionError(request=httpx2.Request("POST", "https://api.anthropic.com/v1/messages"))
        return [client._wait_before_retry(error, attempt) for attempt in range(1, 8)]

    assert waits(3) == waits(3) != waits(4)
    assert all(0 <= wait <= 20.0 for wait in waits(3))


async def test_an_error_mid_stream_takes_back_the_text_starts_again_and_bills_the_lost_attempt():
    broken = streamed(message_start(), text_start(), text_delta("Partial "), error_event(), request_id="req_broken")
    api = MessagesAPI([broken, streamed(*answer_events("Whole answer."))])
    listener, ledger = Listener(), Ledger()
    answer = await claude(api).stream(AGENT, MESSAGES, "t", listener, ledger)
    assert answer.text == listener.text == "Whole answer." and listener.restarts == 1
    assert ledger.lost == [(Usage(120, 1, 30, 7), MODEL, "req_broken")]


async def before_message_start() -> list[str]:
    """Streams that end before `message_start`: one broken (retried), one cut by the deadline
    (its words for the user). Nothing was billed, so nothing is recorded."""
    seen = []
    api = MessagesAPI([streamed(error_event()), streamed(*answer_events("ok"))])
    ledger = Ledger()
    answer = await claude(api).stream(AGENT, MESSAGES, "t", Listener(), ledger)
    seen.append(f"{answer.text} after {len(api.bodies)} requests, {len(ledger.lost)} lost")
    api = MessagesAPI([streamed(event("ping", {"type": "ping"}), Hang())])
    try:
        await claude(api, deadline_s=0.2).stream(AGENT, MESSAGES, "t", Listener(), ledger)
    except ClaudeError as error:
        seen.append(f"{error.kind}, {len(ledger.lost)} lost")
    return seen


EXPECTED_BEFORE_START = ["ok after 2 requests, 0 lost", "timeout, 0 lost"]


async def test_a_stream_that_ends_before_message_start_bills_nothing_and_is_handled():
    assert await before_message_start() == EXPECTED_BEFORE_START


async def test_the_same_under_python_O():
    """The lost-attempt bookkeeping used to read the SDK's message snapshot and catch the
    AssertionError it raises before `message_start`. `python -O` (PYTHONOPTIMIZE) strips that
    assert: an AttributeError took the place of the retry and of the deadline's message."""
    probe = "import asyncio, test_claude_client as t; print(asyncio.run(t.before_message_start()))"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-O", "-c", probe, cwd=Path(__file__).parent, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0 and out.decode().strip() == repr(EXPECTED_BEFORE_START)


async def test_a_retired_model_is_answered_once_more_by_the_fallback_model():
    retired = Agent("old", "Old.", "You are old.", "claude-sonnet-4-0", Path("old.md"))
    api = MessagesAPI([failed(404, "not_found_error"), streamed(*answer_events("ok"))])
    answer = await claude(api, fallback_model=MODEL).stream(retired, MESSAGES, "t", Listener())
    assert answer.text == "ok" and answer.fallback_from == "claude-sonnet-4-0"
    assert [b["model"] for b in api.bodies] == ["claude-sonnet-4-0", MODEL]


async def test_when_the_fallback_model_is_gone_too_the_admin_is_told_which_setting():
    api = MessagesAPI([failed(404, "not_found_error")])
    with pytest.raises(ClaudeError) as error:
        await claude(api, fallback_model=MODEL).stream(AGENT, MESSAGES, "t", Listener())
    assert error.value.kind == "model_not_found" and "BOT_DEFAULT_MODEL" in error.value.user_message
    assert len(api.bodies) == 1


async def test_the_deadline_cuts_a_stalled_stream_and_its_billed_tokens_are_recorded():
    api = MessagesAPI([streamed(message_start(), text_start(), text_delta("Half"), Hang(), request_id="req_slow")])
    ledger = Ledger()
    started = time.monotonic()
    with pytest.raises(ClaudeError) as error:
        await claude(api, deadline_s=0.3).stream(AGENT, MESSAGES, "t", Listener(), ledger)
    assert error.value.kind == "timeout" and time.monotonic() - started < 2
    assert ledger.lost == [(Usage(120, 1, 30, 7), MODEL, "req_slow")]


async def test_a_cancelled_attempt_is_recorded_with_what_it_was_billed():
    """An off-topic verdict or a shutdown cancels the answer mid-stream."""
    end = {"output_tokens": 300, "output_tokens_details": {"thinking_tokens": 250}}
    steps = [message_start(), *thinking_block(), text_start(1), text_delta("Half", 1)]
    # A message_delta before the stall: the running totals it carries are what was billed.
    steps += [event("message_delta", {"type": "message_delta", "delta": {"stop_reason": None}, "usage": end}), Hang()]
    api = MessagesAPI([streamed(*steps, request_id="req_cut")])
    listener, ledger = Listener(), Ledger()
    task = asyncio.create_task(claude(api).stream(AGENT, MESSAGES, "t", listener, ledger))
    await asyncio.wait_for(listener.wrote.wait(), 5)
    await asyncio.sleep(0.05)  # the delta arrives
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.lost == [(Usage(120, 300, 30, 7, thinking_tokens=250), MODEL, "req_cut")]


async def test_retries_stop_at_the_deadline_with_the_failure_that_made_them_retry():
    api = MessagesAPI([failed(529, "overloaded_error", retry_after_ms=150) for _ in range(10)])
    with pytest.raises(ClaudeError) as error:
        await claude(api, deadline_s=0.4).stream(AGENT, MESSAGES, "t", Listener())
    assert error.value.kind == "overloaded" and 2 <= len(api.bodies) <= 3


async def test_what_a_lost_attempt_billed_comes_off_the_next_attempts_cap():
    broken = streamed(message_start(), text_start(), text_delta("x"), error_event())
    api = MessagesAPI([broken, streamed(*answer_events("ok"))])
    await claude(api).stream(AGENT, MESSAGES, "t", Listener(), Ledger(), max_tokens=1_000)
    assert [b["max_tokens"] for b in api.bodies] == [1_000, 1_000 - (120 + 1 + 30 + 7)]


# -- Router.route ----------------------------------------------------------------------


def router(api: MessagesAPI, timeout_s: float = 5.0) -> Router:
    return Router(api.client(), "claude-haiku-5-5", timeout_s)


async def test_the_router_reads_the_agent_from_the_structured_answer():
    api = MessagesAPI([routed('{"agent": "sql-tuner"}')])
    route = await router(api).route([AGENT, SQL], "Why is this query slow?")
    assert route.agent == "sql-tuner" and route.attempts == 1 and route.model == "claude-haiku-5-5"
    assert route.usage == Usage(120, 12, 30, 7)
    schema = api.bodies[0]["output_config"]["format"]["schema"]
    assert schema["properties"]["agent"]["enum"] == ["backend", "sql-tuner", "none"]
    assert "stream" not in api.bodies[0]


async def test_none_means_no_agent_fits():
    api = MessagesAPI([routed('{"agent": "none"}')])
    assert (await router(api).route([AGENT, SQL], "hi there")).agent is None


@pytest.mark.parametrize("text", ['{"agent": "frontend"}', "", '["backend"]', '{"agent": 3}'])
async def test_an_unusable_answer_raises_with_what_it_was_billed(text):
    api = MessagesAPI([routed(text, stop_reason="refusal" if not text else "end_turn")])
    with pytest.raises(RoutingError) as error:
        await router(api).route([AGENT, SQL], "q")
    assert error.value.usage == Usage(120, 12, 30, 7) and error.value.model == "claude-haiku-5-5"


async def test_the_router_retries_one_overload_after_retry_after():
    api = MessagesAPI([failed(529, "overloaded_error", retry_after_ms=60), routed('{"agent": "backend"}')])
    route = await router(api).route([AGENT, SQL], "q")
    assert route.agent == "backend" and route.attempts == 2
    assert api.times[1] - api.times[0] >= 0.06


async def test_the_router_gives_up_after_its_retry_and_bills_nothing_for_overloads():
    api = MessagesAPI([failed(529, "overloaded_error", retry_after_ms=1) for _ in range(2)])
    with pytest.raises(RoutingError) as error:
        await router(api).route([AGENT, SQL], "q")
    assert error.value.usage is None and len(api.bodies) == 2


async def test_a_hanging_router_call_is_cut_at_half_the_deadline_and_retried():
    async def hang() -> httpx2.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    api = MessagesAPI([hang, routed('{"agent": "sql-tuner"}')])
    route = await router(api, timeout_s=0.4).route([AGENT, SQL], "q")
    assert route.agent == "sql-tuner" and route.attempts == 2
    assert 0.15 <= api.times[1] - api.times[0] < 0.4  # cut at 0.2 s from before the request was sent


async def test_a_rejected_router_request_is_not_retried():
    api = MessagesAPI([failed(400, "invalid_request_error")])
    with pytest.raises(RoutingError):
        await router(api).route([AGENT, SQL], "q")
    assert len(api.bodies) == 1
