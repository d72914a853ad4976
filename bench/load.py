"""Load on one small machine: the real bot as its own process (HTTP mode, its own SQLite),
local fakes of Slack and Claude in this process. The Slack emulation enforces Slack's rate
tiers (429 + Retry-After), as Slack does.

Scenario 0: single questions, one at a time: ack, status, first text, complete, calls.
Scenario 1: N mentions arrive at once in 10 channels (each as app_mention + message.channels),
the model takes 1 s to answer. Scenario 2: M ordinary channel messages the bot must ignore.
Prints ack latency p50/p99, time until all are answered, 429s, how the answers reached Slack
(streamed, posted then edited, posted whole), the bot's CPU time per event, Slack API calls
per answer by method, and the bot's peak memory.

    .venv/bin/python bench/load.py [--mentions 200] [--channels 10] [--messages 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.claude_api import FakeClaude, Reply

from bot.playground.slack_emulator import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackEmulator,
    deliver,
    event_callback,
    message_event,
)

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def start_bot(
    slack: SlackEmulator, claude: FakeClaude, data: str, concurrency: int
) -> tuple[asyncio.subprocess.Process, str]:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "BOT_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.url,
        ANTHROPIC_API_KEY="sk-ant-bench",
        ANTHROPIC_BASE_URL=claude.url,
        BOT_DATA_DIR=data,
        BOT_MAX_CONCURRENCY=str(concurrency),
        BOT_ROUTING="off",
        BOT_LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return process, url + "/slack/events"
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not start")


# Slack's senders keep connections to an app open; one pool of 100 here, opened before the
# figures are taken, so the ack latency measured is the bot's, not this script's connecting.
SESSION: list[aiohttp.ClientSession] = []


async def timed_delivery(url: str, payload: dict) -> float:
    started = time.monotonic()
    response = await deliver(url, payload, session=SESSION[0])
    assert response.status == 200, response.status
    return time.monotonic() - started


async def _warm(url: str) -> None:
    async with SESSION[0].get(url.replace("/slack/events", "/healthz")) as response:
        await response.read()


async def singles(slack: SlackEmulator, url: str, count: int = 5) -> None:
    """One question at a time, each in its own channel: what one user sees."""
    figures: dict[str, list[float]] = {"ack": [], "status": [], "first text": [], "complete": []}
    calls: Counter[str] = Counter()
    for n in range(count):
        question = slack.post_user_message(f"CS{n}", f"<@UBOT> single question {n}", user=f"U{n:04d}")
        before, asked = len(slack.calls), time.monotonic()
        figures["ack"].append(await timed_delivery(url, event_callback(message_event(question), event_id=f"EvS{n}")))
        seen: dict[str, float] = {}
        while "complete" not in seen:
            now = time.monotonic() - asked
            replies = [m for m in slack.thread(question.channel, question.ts) if m.bot_id]
            if "status" not in seen and any(s[1] == question.ts and s[2] for s in slack.statuses):
                seen["status"] = now
            if "first text" not in seen and replies and replies[0].markdown:
                seen["first text"] = now
            if replies and not replies[-1].streaming and replies[-1].blocks:
                seen["complete"] = now
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.3)  # the reaction's removal
        for key in ("status", "first text", "complete"):
            figures[key].append(seen[key])
        calls.update(c.method for c in slack.calls[before:])
    print(f"{count} single questions, one at a time (model: first text after 1 s, then 2 s of text):")
    for key, values in figures.items():
        print(f"  {key:<22} p50 {1000 * percentile(values, 50):7.1f} ms   max {1000 * max(values):7.1f} ms")
    print("  Slack calls per answer " + ", ".join(f"{m} {c / count:g}" for m, c in sorted(calls.items())))


async def mentions(slack: SlackEmulator, url: str, pid: int, count: int, channels: int) -> None:
    questions = [
        slack.post_user_message(f"C{n % channels}", f"<@UBOT> question {n}", user=f"U{n % 30:04d}")
        for n in range(count)
    ]
    payloads = []
    for n, question in enumerate(questions):
        event = message_event(question)
        payloads.append(event_callback(event, event_id=f"EvM{n}"))
        payloads.append(
            event_callback(
                {**{k: v for k, v in event.items() if k != "channel_type"}, "type": "app_mention"}, event_id=f"EvA{n}"
            )
        )
    cpu_before, calls_before, started = cpu_seconds(pid), len(slack.calls), time.monotonic()
    limited_before = len(slack.rate_limited)
    acks = await asyncio.gather(*(timed_delivery(url, p) for p in payloads))
    while not all(any(m.bot_id and not m.streaming for m in slack.thread(q.channel, q.ts)) for q in questions):
        await asyncio.sleep(0.05)
    seconds = time.monotonic() - started
    await asyncio.sleep(0.5)  # let the last reactions.remove land
    calls = Counter(c.method for c in slack.calls[calls_before:])
    calls.pop("auth.test", None)
    streamed = calls["chat.startStream"]
    edited = len({c.args.get("ts") for c in slack.calls[calls_before:] if c.method == "chat.update"})
    print(f"{count} mentions at once in {channels} channels ({len(payloads)} events), model answers after 1 s:")
    print(
        f"  ack latency            p50 {1000 * percentile(acks, 50):7.1f} ms   p99 {1000 * percentile(acks, 99):7.1f} ms"
    )
    print(f"  all answered after     {seconds:7.2f} s")
    print(f"  429s from Slack        {len(slack.rate_limited) - limited_before}")
    print(
        f"  answers                {streamed} streamed, {edited} posted then edited, "
        f"{count - streamed - edited} posted whole"
    )
    print(f"  bot CPU per answer     {1000 * (cpu_seconds(pid) - cpu_before) / count:7.1f} ms")
    print(
        f"  Slack calls per answer {sum(calls.values()) / count:7.2f}  "
        + ", ".join(f"{m} {c / count:g}" for m, c in sorted(calls.items()))
    )


async def chatter(slack: SlackEmulator, url: str, pid: int, count: int) -> None:
    messages = [slack.post_user_message(f"C{n % 50}", f"lunch at {n}?", user=f"U{n % 30:04d}") for n in range(count)]
    cpu_before, calls_before = cpu_seconds(pid), len(slack.calls)
    acks: list[float] = []
    for start in range(0, count, 200):  # bursts of 200 at once
        acks += await asyncio.gather(
            *(
                timed_delivery(url, event_callback(message_event(m), event_id=f"EvC{n}"))
                for n, m in enumerate(messages[start : start + 200], start)
            )
        )
    print(f"{count} ordinary channel messages (bursts of 200):")
    print(
        f"  ack latency            p50 {1000 * percentile(acks, 50):7.1f} ms   p99 {1000 * percentile(acks, 99):7.1f} ms"
    )
    print(f"  bot CPU per message    {1000 * (cpu_seconds(pid) - cpu_before) / count:7.2f} ms")
    print(f"  Slack calls            {len(slack.calls) - calls_before}")


async def main(count: int, channels: int, ignored: int, concurrency: int) -> None:
    slack, claude = await SlackEmulator().start(), await FakeClaude().start()
    claude.default = Reply(chunks=tuple(f"word{i} " for i in range(40)), delay=0.05, first_delay=1.0)  # 2 s of text
    with tempfile.TemporaryDirectory() as data:
        process, url = await start_bot(slack, claude, data, concurrency)
        try:
            SESSION.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)))
            async with SESSION[0].get(url.replace("/slack/events", "/healthz")) as response:
                await response.read()
            await asyncio.gather(*(_warm(url) for _ in range(100)))
            print(f"BOT_MAX_CONCURRENCY={concurrency}, {os.cpu_count()} cores")
            await singles(slack, url)
            await asyncio.sleep(20)  # the single questions' allowance comes back
            claude.default = Reply(chunks=("A short answer ", "that took a second."), first_delay=1.0)
            await mentions(slack, url, process.pid, count, channels)
            await chatter(slack, url, process.pid, ignored)
            print(f"bot peak memory (VmHWM)  {peak_memory_mb(process.pid):7.1f} MB")
        finally:
            if SESSION:
                await SESSION[0].close()
            process.send_signal(signal.SIGTERM)
            await process.wait()
    await slack.stop()
    await claude.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=200)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.mentions, args.channels, args.messages, args.concurrency))
