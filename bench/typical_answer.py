"""What one typical answer costs, against local fakes of Slack and Claude.

Prints: event ack latency while the model is slow, time until the status and the first
streamed text appear in the thread, and the Slack Web API calls one answer makes.

    .venv/bin/python bench/typical_answer.py [--mentions 20] [--first-token-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import bot_settings, start_bot
from fakes.claude_api import FakeClaude, Reply

from bot.playground.slack_emulator import SlackEmulator


def typical_answer() -> tuple[str, ...]:
    """~2,400 characters of Markdown in ~600 deltas, like a real medium-length answer."""
    text = (
        "## Short answer\n\nPut a **read-through cache** in front of the API, keyed by a hash of "
        "the normalised request.\n\n"
        + "- a point about TTLs, invalidation and stampedes\n" * 12
        + "\n```python\n"
        + "cache.set(key, value, ttl=3600)\n" * 20
        + "```\n\n"
        + "A closing paragraph about measuring the hit rate. " * 10
    )
    return tuple(text[i : i + 4] for i in range(0, len(text), 4))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main(mentions: int, first_token_s: float, stream_s: float) -> None:
    slack, claude = await SlackEmulator().start(), await FakeClaude().start()
    chunks = typical_answer()
    claude.default = Reply(chunks=chunks, first_delay=first_token_s, delay=stream_s / len(chunks))
    with tempfile.TemporaryDirectory() as data:
        bot, server = await start_bot(bot_settings(slack, claude, Path(data)), slack, claude)
        acks, to_status, to_text = [], [], []
        for n in range(mentions):  # one at a time: the figures are per answer, not under load
            len(slack.calls)
            asked = time.monotonic()
            ts, ack = await bot.mention(f"question {n}", channel=f"C{n}", event_id=f"Ev{n}")
            acks.append(ack)
            status_at = text_at = None
            while bot.answers.busy or text_at is None:
                now = time.monotonic()
                if status_at is None and any(s[1] == ts for s in slack.statuses):
                    status_at = now - asked
                if text_at is None and slack.thread(f"C{n}", ts):
                    text_at = now - asked
                await asyncio.sleep(0.005)
            to_status.append(status_at or 0.0)
            to_text.append(text_at)
            assert len(slack.thread(f"C{n}", ts)) == 1
        per_answer = Counter(c.method for c in slack.calls if c.method != "auth.test")
        command_acks = []
        for n in range(mentions):
            _, ack = await bot.review(
                f"is this safe?\n```python\ndef take(q):\n    return q.pop({n})\n```", channel=f"R{n}"
            )
            command_acks.append(ack)
        await bot.idle(timeout=60)
        await server.stop()
    await slack.stop()
    await claude.stop()

    print(
        f"{mentions} mentions, model: first token after {first_token_s:.1f} s, "
        f"{len(''.join(chunks)):,} characters over {stream_s:.1f} s in {len(chunks)} deltas"
    )
    print(
        f"event ack latency      p50 {1000 * statistics.median(acks):6.1f} ms   "
        f"p99 {1000 * percentile(acks, 99):6.1f} ms   max {1000 * max(acks):6.1f} ms"
    )
    print(
        f"/backend-review ack    p50 {1000 * statistics.median(command_acks):6.1f} ms   "
        f"max {1000 * max(command_acks):6.1f} ms (Slack allows 3,000 ms)"
    )
    print(f"status visible after   p50 {1000 * statistics.median(to_status):6.1f} ms")
    print(
        f"first text visible     p50 {1000 * statistics.median(to_text):6.1f} ms "
        f"(model's first token at {1000 * first_token_s:.0f} ms)"
    )
    total = sum(per_answer.values()) / mentions
    detail = ", ".join(f"{method} {count / mentions:g}" for method, count in sorted(per_answer.items()))
    print(f"Slack API calls per answer: {total:g} ({detail})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=20)
    parser.add_argument("--first-token-s", type=float, default=2.0)
    parser.add_argument("--stream-s", type=float, default=4.0)
    args = parser.parse_args()
    asyncio.run(main(args.mentions, args.first_token_s, args.stream_s))
