"""Prometheus metrics (served on /metrics): what an operator watches."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_SLOW = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 240)

EVENTS = Counter(
    "bot_events_total", "Slack events handled, by type and outcome", ["type", "outcome"], registry=REGISTRY
)
ANSWERS = Counter("bot_answers_total", "Answers finished, by outcome", ["outcome"], registry=REGISTRY)
FAILURES = Counter("bot_failures_total", "Answers that failed, by kind", ["kind"], registry=REGISTRY)
ACK_SECONDS = Histogram(
    "bot_ack_seconds", "Time to acknowledge a Slack request (HTTP mode)", buckets=_FAST, registry=REGISTRY
)
FIRST_TOKEN_SECONDS = Histogram(
    "bot_first_token_seconds", "From calling Claude to its first streamed text", buckets=_SLOW, registry=REGISTRY
)
ANSWER_SECONDS = Histogram(
    "bot_answer_seconds", "From taking a question to its finished answer", buckets=_SLOW, registry=REGISTRY
)
QUEUE_DEPTH = Gauge("bot_queue_depth", "Questions waiting for a worker", registry=REGISTRY)
IN_FLIGHT = Gauge("bot_in_flight_answers", "Answers being written now", registry=REGISTRY)
TOKENS = Counter("bot_claude_tokens_total", "Claude tokens, by model and kind", ["model", "kind"], registry=REGISTRY)
COST = Counter("bot_claude_cost_usd_total", "Claude cost in USD (models with a price)", ["model"], registry=REGISTRY)


class AnswerQueue(Protocol):
    """What QUEUE_DEPTH and IN_FLIGHT read, of each queue of answers taking work."""

    @property
    def waiting(self) -> int: ...

    @property
    def answering(self) -> int: ...


_QUEUES: list[AnswerQueue] = []  # taking work in this process: one, in a running bot


def watch_queue(queue: AnswerQueue) -> None:
    """Count `queue` in the gauges from now on (it started taking work). The gauges add up every
    queue watched, so a second one never silently replaces the first."""
    if not any(q is queue for q in _QUEUES):
        _QUEUES.append(queue)


def unwatch_queue(queue: AnswerQueue) -> None:
    """Stop counting `queue` (it stopped): the gauges no longer read it, nor its closed store."""
    _QUEUES[:] = [q for q in _QUEUES if q is not queue]


QUEUE_DEPTH.set_function(lambda: sum(q.waiting for q in _QUEUES))
IN_FLIGHT.set_function(lambda: sum(q.answering for q in _QUEUES))


def exposition() -> bytes:
    return generate_latest(REGISTRY)
