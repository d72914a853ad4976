"""How long the event loop stalls while a large pull request's diff is fitted to the review
budget: inline (as before) and in the diff worker process (bot/diff_worker.py).

1. In this process: the longest gap a 1 ms ticker sees while `fit_diff` runs inline, and while
   `fit_diff_off_loop` runs (first call starts the worker; then warm), for 5 MB and 34 MB diffs.
2. `--real`: the real bot as its own process (`python -m bot run --http`, then the
   `backend-engineer` console script), with local fakes of Slack, Claude and GitHub here: someone
   runs /backend-review on a 4.9 MB pull request (the diff endpoint) and on a 34 MB one (too large
   for GitHub's diff, rebuilt from the files API), while other commands keep arriving every 20 ms;
   the slowest ack among those, and the bot's child processes (one diff worker, no second bot).
   "inline" is the same bot with the worker threshold set out of reach (the old behaviour).

    .venv/bin/python bench/diff_off_loop.py [--real]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.claude_api import FakeClaude, Reply
from fakes.github_api import Change, FakeGitHub

from bot import diff_worker
from bot.playground.slack_emulator import BOT_TOKEN, SIGNING_SECRET, SlackEmulator, run_command
from bot.review import fit_diff

MB = 1024 * 1024


def pull_request_diff(chars: int, files: int) -> str:
    """About `chars` characters of diff over `files` files, each of hunks of a few changed lines."""
    per_file = chars // files
    parts = []
    for n in range(files):
        name = f"src/pkg{n % 40}/module_{n}.py"
        body, h = [], 0
        while sum(map(len, body)) < per_file:
            body.append(
                f"@@ -{h * 12 + 1},4 +{h * 12 + 1},6 @@ def handler_{h}(request):\n"
                f"     payload = request.json()\n+    validate(payload, schema=SCHEMA_{h})\n"
                f"+    audit.log('handler_{h}', payload.get('id'))\n-    legacy_check(payload)\n"
                f"     return respond(payload)\n"
            )
            h += 1
        parts.append(
            f"diff --git a/{name} b/{name}\nindex 1a2b3c4..5d6e7f8 100644\n--- a/{name}\n+++ b/{name}\n" + "".join(body)
        )
    return "".join(parts)


async def longest_stall(work) -> tuple[float, float]:
    """(seconds the work took, the longest the event loop did not run a 1 ms ticker)."""
    longest = 0.0

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last - 0.001)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await work
    took = time.perf_counter() - started
    await asyncio.sleep(0.01)
    ticking.cancel()
    return took, longest


async def in_process() -> None:
    print(f"In one process ({os.cpu_count()} cores): the longest event-loop stall while a diff is fitted")

    async def inline(diff: str) -> None:
        fit_diff(diff)

    for label, diff in (("5 MB", pull_request_diff(5 * MB, 300)), ("34 MB", pull_request_diff(34 * MB, 3000))):
        diff_worker.shutdown()
        for how, work in (
            ("inline (before)", inline),
            ("worker, cold start", diff_worker.fit_diff_off_loop),
            ("worker, warm", diff_worker.fit_diff_off_loop),
        ):
            took, stall = await longest_stall(work(diff))
            print(f"  {label:>6} {how:<20} took {took:6.2f} s   max loop stall {1000 * stall:7.1f} ms")
    diff_worker.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append((int(entry.name), command))
    return found


INLINE_BOT = (
    "import sys, bot.diff_worker as w; w.INLINE_MAX_CHARS = 1 << 62; from bot.cli import main; sys.exit(main())"
)


async def real_process(how: str, command: list[str], slack: SlackEmulator, github: FakeGitHub) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "BOT_", "GITHUB_"))}
    with tempfile.TemporaryDirectory() as data:
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.url,
            ANTHROPIC_API_KEY="sk-ant-bench",
            ANTHROPIC_BASE_URL=CLAUDE[0].url,
            BOT_DATA_DIR=data,
            BOT_ROUTING="off",
            BOT_LOG_LEVEL="WARNING",
            GITHUB_API_URL=github.url,
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            "run",
            "--http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        workers: list[tuple[int, str]] = []
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(300):
                    try:
                        async with session.get(url + "/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            events = url + "/slack/events"
            for size, number in (("4.9 MB", 1), ("34 MB", 2)):
                claude_before = len(CLAUDE[0].requests)
                await run_command(slack, events, f"https://github.com/acme/api/pull/{number}")
                acks: list[float] = []
                started = time.monotonic()
                while len(CLAUDE[0].requests) == claude_before and time.monotonic() - started < 60:
                    _, _, seconds = await run_command(slack, events, "help")
                    acks.append(seconds)
                    await asyncio.sleep(0.02)
                reviewed = len(CLAUDE[0].requests) > claude_before
                print(
                    f"  {how:<40} {size:>6} PR: {'reviewed' if reviewed else 'NOT reviewed'} after "
                    f"{time.monotonic() - started:5.2f} s; {len(acks)} commands meanwhile, slowest ack "
                    f"{1000 * max(acks):7.1f} ms"
                )
            workers = children(process.pid)
            for pid, cmd in workers:
                grandchildren = children(pid)
                print(f"    child {pid}: {cmd[:150]}" + (f"  (its children: {grandchildren})" if grandchildren else ""))
        finally:
            process.send_signal(signal.SIGTERM)
            await process.wait()
        await asyncio.sleep(0.2)
        leftover = [pid for pid, _ in workers if Path(f"/proc/{pid}").exists()]
        print(f"    after SIGTERM: bot exited {process.returncode}; its child processes left behind: {len(leftover)}")


CLAUDE: list[FakeClaude] = []


async def real() -> None:
    slack, github = await SlackEmulator().start(), await FakeGitHub().start()
    CLAUDE.append(await FakeClaude().start())
    CLAUDE[0].default = Reply(chunks=("Ship it.",))
    github.pulls[("acme", "api", "1")] = Change("Big change", "", pull_request_diff(int(4.9 * 1_000_000), 300))
    github.pulls[("acme", "api", "2")] = Change("Huge change", "", pull_request_diff(34 * MB, 3000), too_large=True)
    python = str(ROOT / ".venv" / "bin" / "python")
    print("\nThe real bot, its own process; /backend-review of a large PR while commands arrive every 20 ms:")
    try:
        await real_process("inline (before), python -c …main()", [python, "-c", INLINE_BOT], slack, github)
        await real_process("worker, python -m bot", [python, "-m", "bot"], slack, github)
        await real_process(
            "worker, backend-engineer (console script)",
            [str(ROOT / ".venv" / "bin" / "backend-engineer")],
            slack,
            github,
        )
    finally:
        await slack.stop()
        await github.stop()
        await CLAUDE[0].stop()


async def main(with_real: bool) -> None:
    await in_process()
    if with_real:
        await real()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", action="store_true", help="also run the real bot process (about a minute)")
    asyncio.run(main(parser.parse_args().real))
