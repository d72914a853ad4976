"""Never lose a question: a crash (SIGKILL) or a deploy (SIGTERM) in the middle of answers,
with the real process, the real database, and the fakes outliving it."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from fakes.claude_api import Reply
from test_cli import clean_env, free_port, wait_until_healthy

from bot.playground.slack_emulator import BOT_TOKEN, SIGNING_SECRET, message_event, say
from bot.slack.answers import INTERRUPTED

SLOW = Reply(chunks=tuple(f"part{i} " for i in range(40)), delay=0.05)  # ~2 s of answer
COMPLETE = "".join(SLOW.chunks)


async def start_process(fake_slack, fake_claude, data_dir, **extra: str):
    port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        ANTHROPIC_API_KEY="sk-ant-test",
        ANTHROPIC_BASE_URL=fake_claude.url,
        BOT_DATA_DIR=str(data_dir),
        BOT_ROUTING="off",
        **extra,
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
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    await wait_until_healthy(url)
    return process, url + "/slack/events"


async def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def bot_replies(fake_slack, channel: str, ts: str):
    return [m for m in fake_slack.thread(channel, ts) if m.bot_id]


async def test_killed_mid_answer_the_restarted_bot_finishes_it_exactly_once(fake_slack, fake_claude, tmp_path):
    fake_claude.then(SLOW, SLOW)
    process, events = await start_process(fake_slack, fake_claude, tmp_path)
    question, _ = await say(fake_slack, events, "C1", "<@UBOT> explain sharding")
    await wait_for(lambda: any(len(m.markdown) > 20 for m in bot_replies(fake_slack, "C1", question.ts)))
    process.kill()  # SIGKILL: no goodbye
    await process.wait()
    half = bot_replies(fake_slack, "C1", question.ts)[0]
    assert half.streaming and half.markdown != COMPLETE

    process, _ = await start_process(fake_slack, fake_claude, tmp_path)
    try:
        await wait_for(
            lambda: any(m.markdown == COMPLETE and not m.streaming for m in bot_replies(fake_slack, "C1", question.ts))
        )
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
    replies = bot_replies(fake_slack, "C1", question.ts)
    assert [m.markdown for m in replies] == [INTERRUPTED, COMPLETE]  # the half answer is closed and superseded
    assert not any(m.streaming for m in replies)
    assert len(fake_claude.requests) == 2


async def test_sigterm_finishes_answers_in_flight_leaves_the_rest_queued_and_exits_0(fake_slack, fake_claude, tmp_path):
    fake_claude.then(Reply(chunks=("first done",), first_delay=1.0), Reply(chunks=("second done",)))
    process, events = await start_process(
        fake_slack, fake_claude, tmp_path, BOT_MAX_CONCURRENCY="1", BOT_SHUTDOWN_GRACE_S="10"
    )
    first, _ = await say(fake_slack, events, "C1", "<@UBOT> one")
    second, _ = await say(fake_slack, events, "C2", "<@UBOT> two")
    await asyncio.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    assert [m.markdown for m in bot_replies(fake_slack, "C1", first.ts)] == ["first done"]
    assert bot_replies(fake_slack, "C2", second.ts) == []  # not lost: still queued

    process, _ = await start_process(fake_slack, fake_claude, tmp_path)
    try:
        await wait_for(lambda: [m.markdown for m in bot_replies(fake_slack, "C2", second.ts)] == ["second done"])
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
    assert len(fake_claude.requests) == 2


async def test_questions_beyond_the_concurrency_limit_wait_and_are_told_they_are_queued(
    settings, fake_slack, fake_claude, monkeypatch
):
    from dataclasses import replace

    from conftest import start_bot

    from bot.slack import answers

    monkeypatch.setattr(answers, "QUEUED_NOTICE_S", 0.3)  # 3 s in production
    fake_claude.then(Reply(chunks=("slow",), first_delay=2.0), Reply(chunks=("next",)))
    bot, server = await start_bot(replace(settings, max_concurrency=1), fake_slack, fake_claude)
    try:
        _ts1, _ = await bot.mention("first", channel="C1")
        ts2, _ = await bot.mention("second", channel="C2")
        await wait_for(lambda: ("C2", ts2, "is queued, starting soon…") in fake_slack.statuses, timeout=1.8)
        assert len(fake_claude.requests) == 1  # one Claude call at a time
        await bot.idle(timeout=20)
        assert fake_slack.thread("C2", ts2)[0].markdown == "next"
    finally:
        await server.stop()


async def test_a_fast_answer_is_not_followed_by_a_stale_queued_notice(bot, monkeypatch):
    from bot.slack import answers

    monkeypatch.setattr(answers, "QUEUED_NOTICE_S", 0.5)  # 3 s in production
    ts, _ = await bot.mention("quick one")
    await bot.idle()
    await asyncio.sleep(0.8)  # past the queued-notice delay
    assert bot.slack.reactions[("C1", ts)] == set()
    assert not any("queued" in status for *_, status in bot.slack.statuses)


async def test_sigterm_with_every_slot_busy_still_keeps_to_the_grace_period(settings, fake_slack, fake_claude):
    from dataclasses import replace

    from conftest import start_bot

    fake_claude.then(Reply(chunks=("long",), first_delay=8.0), Reply(chunks=("queued",)))
    bot, server = await start_bot(replace(settings, max_concurrency=1), fake_slack, fake_claude)
    await bot.mention("first", channel="C1")
    await bot.mention("second", channel="C2")
    await asyncio.sleep(0.5)
    server.grace = 1.0
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < 4.0


async def test_a_second_bot_on_the_same_data_folder_refuses_to_start(fake_slack, fake_claude, tmp_path):
    first, _ = await start_process(fake_slack, fake_claude, tmp_path)
    try:
        port = free_port()
        env = clean_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.url,
            ANTHROPIC_API_KEY="sk-ant-test",
            ANTHROPIC_BASE_URL=fake_claude.url,
            BOT_DATA_DIR=str(tmp_path),
        )
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--http",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), timeout=30)
        assert second.returncode == 2 and "another backend-engineer is running" in err.decode()
    finally:
        first.send_signal(signal.SIGTERM)
        await first.wait()


async def test_a_follow_up_waiting_for_its_thread_does_not_hold_up_other_channels(settings, fake_slack, fake_claude):
    from dataclasses import replace

    from conftest import start_bot

    fake_claude.then(
        Reply(chunks=("slow",), first_delay=4.0), Reply(chunks=("other channel",)), Reply(chunks=("follow-up",))
    )
    bot, server = await start_bot(replace(settings, max_concurrency=2), fake_slack, fake_claude)
    try:
        ts, _ = await bot.mention("slow question", channel="C1")
        await asyncio.sleep(0.3)
        await bot.say("and also?", channel="C1", thread_ts=ts)  # waits for the slow answer
        await asyncio.sleep(0.3)
        started = time.monotonic()
        other, _ = await bot.mention("elsewhere", channel="C2")
        while not (fake_slack.thread("C2", other) and not fake_slack.thread("C2", other)[0].streaming):
            await asyncio.sleep(0.05)
        assert time.monotonic() - started < 2.0  # not behind the slow answer's 4 s
        await bot.idle(timeout=20)
    finally:
        await server.stop()


async def test_a_question_edited_while_it_waits_in_the_queue_is_answered_as_edited(settings, fake_slack, fake_claude):
    from dataclasses import replace

    from conftest import start_bot

    from bot.playground.slack_emulator import deliver, event_callback

    fake_claude.then(Reply(chunks=("slow",), first_delay=2.0), Reply(chunks=("edited one",)))
    bot, server = await start_bot(replace(settings, max_concurrency=1), fake_slack, fake_claude)
    try:
        await bot.mention("first", channel="C1")
        ts, _ = await bot.mention("typo", channel="C2")
        await asyncio.sleep(0.3)
        original = next(m for m in fake_slack.messages if m.ts == ts)
        edit = {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C2",
            "channel_type": "channel",
            "ts": "1700000099.000001",
            "message": {**message_event(original), "text": "<@UBOT> what I really meant", "edited": {"ts": "1"}},
        }
        await deliver(bot.events_url, event_callback(edit, event_id="EvEdit"))
        await bot.idle(timeout=20)
        assert fake_claude.requests[-1]["messages"][-1]["content"] == "Alice: what I really meant"
    finally:
        await server.stop()


async def test_a_review_cut_short_while_fetching_its_pull_request_is_finished_after_a_restart(
    fake_slack, fake_claude, fake_github, tmp_path
):
    from fakes.github_api import Change

    from bot.playground.slack_emulator import run_command

    diff = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1,2 @@\n x\n+y = 1\n"
    fake_github.pulls[("acme", "api", "5")] = Change("Slow PR", "", diff, delay=3.0)
    process, events = await start_process(fake_slack, fake_claude, tmp_path, GITHUB_API_URL=fake_github.url)
    response, _, _ = await run_command(fake_slack, events, "https://github.com/acme/api/pull/5")
    assert response.status == 200
    await asyncio.sleep(1.0)  # the bot is waiting for GitHub
    process.kill()
    await process.wait()
    assert not [m for m in fake_slack.messages if m.bot_id]

    fake_github.pulls[("acme", "api", "5")] = Change("Slow PR", "", diff)
    process, _ = await start_process(fake_slack, fake_claude, tmp_path, GITHUB_API_URL=fake_github.url)
    try:
        await wait_for(lambda: any(m.bot_id and m.thread_ts and not m.streaming for m in fake_slack.messages))
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
    posts = [m for m in fake_slack.top_level("C1") if m.bot_id]
    assert [p.markdown for p in posts] == ["<@UALICE> asked for a review of pull request *acme/api#5: Slow PR*"]
    assert len(bot_replies(fake_slack, "C1", posts[0].ts)) == 1
