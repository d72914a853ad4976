"""A 10-turn thread against local fakes: how much of each request Anthropic's prompt cache
would serve, and what each follow-up costs in Slack API calls.

The fake Claude bills like the real cache: a request reads the longest prefix an earlier
request wrote at one of its cache breakpoints (see tests/fakes/claude_api.py, PromptCache).

    .venv/bin/python bench/thread_follow_ups.py [--turns 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import bot_settings, start_bot
from fakes.claude_api import FakeClaude, Reply

from bot.playground.slack_emulator import SlackEmulator

ANSWER = (
    "Short answer: **batch the writes** and put a queue in front.\n\n"
    + "- a point with some reasoning about throughput and back-pressure\n" * 8
    + "\n```python\nasync def worker(queue):\n    while True:\n        job = await queue.get()\n```\n"
)


async def main(turns: int) -> None:
    slack, claude = await SlackEmulator().start(), await FakeClaude().start()
    claude.default = Reply(chunks=tuple(ANSWER[i : i + 40] for i in range(0, len(ANSWER), 40)))
    with tempfile.TemporaryDirectory() as data:
        bot, server = await start_bot(bot_settings(slack, claude, Path(data)), slack, claude)
        ts, _ = await bot.mention("Our ingestion API drops writes under load. Where do I start?")
        await bot.idle()
        per_follow_up: Counter[str] = Counter()
        for n in range(2, turns + 1):
            before = len(slack.calls)
            await bot.answered("C1", await bot.say(f"Follow-up {n}: what about case {n}?", thread_ts=ts))
            per_follow_up.update(c.method for c in slack.calls[before:])
        await server.stop()
    await slack.stop()
    await claude.stop()

    print(f"{turns}-turn thread, answers of {len(ANSWER):,} characters")
    print("turn  input  cache write  cache read  share from cache")
    read_total = all_total = 0
    for n, usage in enumerate(claude.usages, start=1):
        total = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
        read_total += usage["cache_read_input_tokens"]
        all_total += total
        print(
            f"{n:4d} {usage['input_tokens']:6d} {usage['cache_creation_input_tokens']:12d} "
            f"{usage['cache_read_input_tokens']:11d} {usage['cache_read_input_tokens'] / total:17.1%}"
        )
    follow_ups = turns - 1
    print(f"input tokens served from cache over the thread: {read_total / all_total:.1%}")
    calls = sum(per_follow_up.values()) / follow_ups
    detail = ", ".join(f"{m} {c / follow_ups:g}" for m, c in sorted(per_follow_up.items()))
    print(f"Slack API calls per follow-up: {calls:g} ({detail})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10)
    asyncio.run(main(parser.parse_args().turns))
