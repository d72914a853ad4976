"""What routing a new conversation costs: the router's tokens (thinking included), price and
latency per new thread, and what it adds to the wait for the first text of an answer.

    .venv/bin/python bench/routing_cost.py [--live] [--router-s 0.6] [--think-s 2.0] [AGENTS_DIR ...]

1. The router call itself, for each folder of agents and each router model: two new threads
   (the first writes the prompt cache, the second reads it). Against the tests' fake Messages
   API by default, which holds requests to the 5.5 models' rules and bills 4 characters a
   token; with --live, against Claude itself (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL), for
   real token counts and latency.
2. The wait for the first text of an answer in Slack, with the router taking --router-s and
   the answering model thinking --think-s before it writes (both modelled by the fake): with
   one agent the router runs beside the answer; with several, before it.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import anthropic
from conftest import bot_settings, start_bot
from fakes.claude_api import FakeClaude, Reply, Route

from bot.agents import ModelChoices, load_agents, shipped_agents_dir
from bot.config import DEFAULT_MODEL, DEFAULT_MODEL_ALIASES
from bot.playground.slack_emulator import SlackEmulator
from bot.router import Router
from bot.usage import DEFAULT_PRICES, cost_usd

QUESTIONS = (
    "Alice: Our p99 latency doubled after the deploy. Where do I start?",
    "Bob: Should this queue consumer be idempotent, and how?",
)
ROUTER_MODELS = ("claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5")


async def router_calls(folders: list[Path], live: bool) -> None:
    fake = None if live else await FakeClaude().start()
    client = (
        anthropic.AsyncAnthropic(max_retries=0)
        if live
        else anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=fake.url, max_retries=0)
    )
    models = ModelChoices(DEFAULT_MODEL, DEFAULT_MODEL_ALIASES)
    print(f"1. The router call, {'live against Claude' if live else 'against the fake Messages API'}\n")
    print(
        f"{'agents':>6}  {'router model':<18} {'thread':>6} {'input':>6} {'cache write':>11} {'cache read':>10} "
        f"{'output':>6} {'thinking':>8} {'cost USD':>9} {'seconds':>7}  folder"
    )
    try:
        for folder in folders:
            agents = load_agents(folder, models).agents
            for model in ROUTER_MODELS:
                router = Router(client, model, timeout_s=30)
                for n, question in enumerate(QUESTIONS, 1):
                    route = await router.route(agents, question)
                    u = route.usage
                    cost = cost_usd(u, model, DEFAULT_PRICES) or 0.0
                    print(
                        f"{len(agents):6d}  {model:<18} {n:6d} {u.input_tokens:6d} {u.cache_creation_input_tokens:11d} "
                        f"{u.cache_read_input_tokens:10d} {u.output_tokens:6d} {u.thinking_tokens:8d} {cost:9.6f} "
                        f"{route.seconds:7.3f}  {folder.name} -> {route.agent}"
                    )
    finally:
        await client.close()
        if fake is not None:
            await fake.stop()


async def first_text_seconds(agents_dir: Path, route_to: str, router_s: float, think_s: float, runs: int) -> float:
    slack, claude = await SlackEmulator().start(), await FakeClaude().start()
    claude.default = Reply(chunks=("The answer.",), first_delay=think_s)
    claude.default_route = route_to
    waits = []
    with tempfile.TemporaryDirectory() as data:
        settings = replace(bot_settings(slack, claude, Path(data)), agents_dir=agents_dir)
        bot, server = await start_bot(settings, slack, claude)
        try:
            for n in range(runs):
                claude.routes.append(Route(route_to, delay=router_s))
                asked = time.monotonic()
                ts, _ = await bot.mention(f"question {n}", channel=f"C{n}", event_id=f"Ev{n}")
                while not any(m.bot_id for m in slack.thread(f"C{n}", ts)):
                    await asyncio.sleep(0.005)
                waits.append(time.monotonic() - asked)
                await bot.idle()
        finally:
            await server.stop()
            await slack.stop()
            await claude.stop()
    return sorted(waits)[len(waits) // 2]


async def first_text(router_s: float, think_s: float, runs: int) -> None:
    print(
        f"\n2. Wait for the first text in Slack (median of {runs}), router {router_s:g} s, "
        f"model thinking {think_s:g} s before it writes\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        two = Path(folder)
        shutil.copy(shipped_agents_dir() / "backend-senior-engineer.md", two)
        shutil.copy(ROOT / "tests" / "agent_fixtures" / "single-quoted.md", two / "sql-tuner.md")
        beside = await first_text_seconds(shipped_agents_dir(), "backend-senior-engineer", router_s, think_s, runs)
        before = await first_text_seconds(two, "backend-senior-engineer", router_s, think_s, runs)
    print(f"one agent, router beside the answer:  {beside:6.3f} s")
    print(f"two agents, router before the answer: {before:6.3f} s")
    print(f"what routing first would add:         {before - beside:6.3f} s")


async def main(folders: list[Path], live: bool, router_s: float, think_s: float, runs: int) -> None:
    await router_calls(folders, live)
    await first_text(router_s, think_s, runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--live", action="store_true", help="call Claude itself (needs ANTHROPIC_API_KEY)")
    parser.add_argument("--router-s", type=float, default=0.6)
    parser.add_argument("--think-s", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    paths = args.folders or [shipped_agents_dir(), ROOT / "tests" / "agent_fixtures"]
    asyncio.run(main(paths, args.live, args.router_s, args.think_s, args.runs))
