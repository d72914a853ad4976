"""How quick the playground feels: start-up, then for questions typed on the page (over its
WebSocket, as the page sends them), how long until the page hears the message, the status,
and the finished dry-run report (footer and buttons included).

    .venv/bin/python bench/playground.py [--questions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp

from bot.agents import load_catalog
from bot.config import Settings
from bot.playground.app import CHANNELS, Playground

PAUSE_S = 1.0


async def one_question(page: aiohttp.ClientWebSocketResponse, n: int) -> dict[str, float]:
    started = time.perf_counter()
    seen: dict[str, float] = {}
    await page.send_json(
        {
            "type": "send",
            "channel": CHANNELS[0].id,
            "text": f"@backend-engineer question {n}: how should we index a 50 GB events table?",
        }
    )
    while "report" not in seen:
        update = await asyncio.wait_for(page.receive_json(), 30)
        at = (time.perf_counter() - started) * 1000
        if update["type"] == "sent":
            seen.setdefault("message on the page", at)
        elif update["type"] == "status" and update["status"]:
            seen.setdefault("status", at)
        elif update["type"] == "message" and update["message"]["is_bot"]:
            seen.setdefault("first text", at)
            if update["message"]["feedback"]:
                seen["report"] = at
    return seen


async def main(questions: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data))
        started = time.perf_counter()
        playground = await Playground(settings, load_catalog(settings), port=0).start()
        print(f"start-up: {(time.perf_counter() - started) * 1000:.0f} ms (dry run)")
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(playground.url + "ws") as page:
                await page.receive_json()  # hello
                runs = []
                for n in range(questions):
                    runs.append(await one_question(page, n))
                    # A person takes longer than this to type; it also lets Slack's appendStream
                    # pacing (100 a minute per workspace, shared by every answer) reset.
                    await asyncio.sleep(PAUSE_S)
        finally:
            await playground.stop()
    print(f"{questions} questions, {PAUSE_S:g} s apart; ms after the page sent each:")
    for step in ("message on the page", "status", "first text", "report"):
        values = sorted(run[step] for run in runs)
        print(f"  {step:20s} p50 {statistics.median(values):7.1f}   max {values[-1]:7.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    asyncio.run(main(parser.parse_args().questions))
