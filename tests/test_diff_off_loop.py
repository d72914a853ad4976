"""Large diffs are fitted to the review budget off the event loop (in the diff worker process),
so the bot keeps acking Slack while a multi-megabyte pull request is prepared; the result is
the same as fitting inline, and a worker that dies or hangs is a clear message, not silence."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pytest
from fakes.github_api import Change

from bot import diff_worker
from bot.errors import ReviewMaterialError
from bot.github import GitHub
from bot.review import CommitRef, Material, PullRequestRef, fit_diff

TICK_S = 0.01
MAX_STALL_S = 0.2


@pytest.fixture(autouse=True)
def fresh_worker():
    diff_worker.shutdown()
    yield
    diff_worker.shutdown()


def big_diff(chars: int, tag: str = "") -> str:
    """A pull request's diff of about `chars` characters: many files of many small hunks (what
    costs the most to parse per megabyte)."""
    parts, size, n = [], 0, 0
    while size < chars:
        name = f"src/pkg{n % 40}/module_{n}.py"
        hunks = "".join(
            f"@@ -{h * 9 + 1},2 +{h * 9 + 1},3 @@\n context {h}\n+added line {h} of {n}{tag}\n-removed {h}\n"
            for h in range(30)
        )
        part = f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n" + hunks
        parts.append(part)
        size += len(part)
        n += 1
    return "".join(parts)


def diff_workers() -> list[int]:
    """This process's diff worker processes (their pids)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"bot.diff_worker" in command:
            pids.append(int(entry.name))
    return pids


async def longest_stall(work) -> tuple[object, float]:
    """(work's result, the longest the event loop went without running a 10 ms ticker)."""
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            gaps.append(now - last - TICK_S)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(TICK_S * 3)
    try:
        result = await work
        await asyncio.sleep(TICK_S * 3)  # the ticker's first run after the work sees a stall at its end
    finally:
        ticking.cancel()
    return result, max(gaps)


async def test_the_event_loop_keeps_ticking_while_a_large_pull_request_diff_is_fitted(fake_github):
    raw = big_diff(4_800_000)  # under the 5 MB GitHub diff the bot takes; ~1 s of fitting inline
    fake_github.pulls[("acme", "api", "500")] = Change("Big refactor", "", raw)
    github = GitHub(fake_github.url, None)

    (material, _), stall = await longest_stall(github.pull_request(PullRequestRef("acme", "api", 500, "")))

    assert stall < MAX_STALL_S, f"the event loop stalled {1000 * stall:.0f} ms while the diff was fitted"
    assert material.body and material.left_out  # it was fitted: over budget, so cut


async def test_the_worker_gives_exactly_what_fitting_inline_gives(fake_github):
    key = (
        "diff --git a/deploy/id_rsa b/deploy/id_rsa\n--- a/deploy/id_rsa\n+++ b/deploy/id_rsa\n"
        "@@ -0,0 +1,2 @@\n+-----BEGIN OPENSSH PRIVATE KEY-----\n+b3BlbnNzaC1rZXktdjE\n"
    )
    one_huge_hunk = (
        "diff --git a/gen/table.py b/gen/table.py\n--- a/gen/table.py\n+++ b/gen/table.py\n"
        "@@ -0,0 +1,40000 @@\n" + "".join(f"+ROW_{n} = {n}\n" for n in range(40000))
    )
    diffs = {
        "many files, with a key file": big_diff(600_000) + key + big_diff(300_000, " again"),
        "one hunk larger than the budget": one_huge_hunk * 2,
        # Non-ASCII text, and a lone surrogate (JSON's "\ud83d" decodes to one), cross the pipe intact.
        "unicode": big_diff(400_000, " café ✓ \ud83d"),
        "deletions only": big_diff(400_000).replace("\n+added", "\n-added"),
    }
    for what, raw in diffs.items():
        assert len(raw) > diff_worker.INLINE_MAX_CHARS, what
        assert await diff_worker.fit_diff_off_loop(raw) == fit_diff(raw), what
    assert len(diff_workers()) == 1  # one long-lived worker served them all

    raw = diffs["many files, with a key file"]
    fake_github.pulls[("acme", "api", "501")] = Change("Rotate keys", "why", raw)
    fake_github.commits[("acme", "api", "abcdef1")] = Change("Rotate keys", "why", raw)
    github = GitHub(fake_github.url, None)
    material, _ = await github.pull_request(PullRequestRef("acme", "api", 501, ""))
    body, left_out = fit_diff(raw)
    assert material == Material("pull request", "acme/api#501: Rotate keys", body, "diff", left_out)
    assert "deploy/id_rsa" in material.left_out and "BEGIN OPENSSH" not in material.body
    material, _ = await github.commit(CommitRef("acme", "api", "abcdef1", ""))
    assert (material.body, material.left_out) == fit_diff(raw)


async def test_small_diffs_stay_inline_and_the_worker_stops_with_the_bot(fake_github):
    fake_github.pulls[("acme", "api", "502")] = Change("Small", "", big_diff(50_000))
    github = GitHub(fake_github.url, None)
    await github.pull_request(PullRequestRef("acme", "api", 502, ""))
    assert diff_workers() == []  # no process round trip for what fits in milliseconds

    await diff_worker.fit_diff_off_loop(big_diff(400_000))
    assert len(diff_workers()) == 1
    diff_worker.shutdown()
    await asyncio.sleep(0.1)
    assert diff_workers() == []


async def test_a_worker_that_dies_is_a_clear_message_to_the_asker_and_a_log_line_and_the_next_review_works(
    bot, fake_github, caplog
):
    caplog.set_level(logging.INFO)
    fake_github.pulls[("acme", "api", "503")] = Change("Big refactor", "", big_diff(2_000_000))
    killed: list[int] = []

    async def kill_diff_workers() -> None:
        while True:
            for pid in diff_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            await asyncio.sleep(0.005)

    killing = asyncio.create_task(kill_diff_workers())
    try:
        await bot.review("https://github.com/acme/api/pull/503")
        await bot.idle(timeout=30)
    finally:
        killing.cancel()
    assert killed
    (response,) = bot.slack.responses
    assert response["text"] == (
        "⚠️ I couldn't prepare the diff of acme/api#503 for review: the process preparing "
        "it stopped unexpectedly. Please try again; if it keeps failing, link a smaller pull "
        "request or single commits."
    )
    assert not bot.slack.messages and bot.claude.requests == []
    (failed,) = [r for r in caplog.records if r.getMessage() == "diff_worker_failed"]
    assert failed.levelno == logging.WARNING and failed.fields["exit_code"] == -signal.SIGKILL

    await bot.review("https://github.com/acme/api/pull/503")  # a new worker takes over
    await bot.idle(timeout=30)
    assert "+added line 0 of 0" in bot.claude.requests[-1]["messages"][-1]["content"]


async def test_a_fit_that_takes_too_long_is_given_up_and_said(fake_github, monkeypatch):
    monkeypatch.setattr(diff_worker, "TIMEOUT_S", 0.05)
    fake_github.pulls[("acme", "api", "504")] = Change("Big refactor", "", big_diff(2_000_000))
    github = GitHub(fake_github.url, None)
    with pytest.raises(ReviewMaterialError, match="preparing it took longer than 0.05 s"):
        await github.pull_request(PullRequestRef("acme", "api", 504, ""))
    await asyncio.sleep(0.1)
    assert diff_workers() == []  # the worker that ran over was killed (a new one starts when needed)


async def test_a_worker_that_cannot_start_is_said_too(fake_github, monkeypatch):
    monkeypatch.setattr(diff_worker.sys, "executable", "/nonexistent/python3")
    fake_github.pulls[("acme", "api", "505")] = Change("Big refactor", "", big_diff(400_000))
    with pytest.raises(ReviewMaterialError, match="the process to prepare it could not start"):
        await GitHub(fake_github.url, None).pull_request(PullRequestRef("acme", "api", 505, ""))
