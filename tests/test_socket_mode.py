"""Socket Mode (the default): the same answers arrive over Slack's WebSocket connection."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from fakes.claude_api import Reply

from bot.playground.slack_emulator import APP_TOKEN, event_callback, mention, message_event
from bot.slack.app import create_app
from bot.slack.server import run_socket_mode
from bot.store import Store
from bot.wiring import create_answerer


async def connect_in_socket_mode(settings, fake_slack, grace: float = 5) -> tuple[asyncio.Task, asyncio.Event]:
    """The bot as `backend-engineer run` starts it, connected to the fake's WebSocket."""
    settings = replace(settings, slack_signing_secret=None, slack_app_token=APP_TOKEN)
    stop = asyncio.Event()
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)

    async def run() -> None:
        try:
            await run_socket_mode(create_app(settings, answerer, store), APP_TOKEN, stop, grace=grace)
        finally:  # what `run` does once the bot has stopped
            await answerer.claude.aclose()
            store.close()

    runner = asyncio.create_task(run())
    await asyncio.wait_for(fake_slack.socket_connected.wait(), timeout=10)
    return runner, stop


async def test_socket_mode_acks_at_once_and_answers_in_the_thread(settings, fake_slack, fake_claude):
    fake_claude.then(Reply(chunks=("Socket ", "answer."), first_delay=1.0))
    runner, stop = await connect_in_socket_mode(settings, fake_slack)
    try:
        question = fake_slack.post_user_message("C1", "<@UBOT> hi")
        sent = asyncio.get_running_loop().time()
        envelope = await fake_slack.send_over_socket(event_callback(mention("C1", question.ts, "hi")))
        deadline = time.monotonic() + 10
        while not (replies := fake_slack.thread("C1", question.ts)) or replies[0].streaming:
            assert time.monotonic() < deadline, "no answer arrived"
            await asyncio.sleep(0.05)
        assert fake_slack.socket_acks[envelope] - sent < 0.5  # acked long before the 1 s model answered
        assert replies[0].markdown == "Socket answer."
        assert "apps.connections.open" in fake_slack.methods()
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)


async def test_sigterm_during_an_answer_lets_it_finish_before_stopping(settings, fake_slack, fake_claude):
    fake_claude.then(Reply(chunks=("Finished ", "anyway."), first_delay=1.0))
    runner, stop = await connect_in_socket_mode(settings, fake_slack)
    question = fake_slack.post_user_message("C1", "<@UBOT> hi")
    await fake_slack.send_over_socket(event_callback(mention("C1", question.ts, "hi")))
    await asyncio.sleep(0.3)
    stop.set()  # what SIGTERM does
    await asyncio.wait_for(runner, timeout=10)
    assert fake_slack.thread("C1", question.ts)[0].markdown == "Finished anyway."


async def test_shutdown_past_the_grace_period_says_the_answer_was_interrupted(settings, fake_slack, fake_claude):
    fake_claude.then(Reply(chunks=tuple(f"w{i} " for i in range(40)), delay=0.2))  # 8 s of answer
    runner, stop = await connect_in_socket_mode(settings, fake_slack, grace=0.5)
    question = fake_slack.post_user_message("C1", "<@UBOT> hi")
    await fake_slack.send_over_socket(event_callback(mention("C1", question.ts, "hi")))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.wait_for(runner, timeout=15)
    (reply,) = fake_slack.thread("C1", question.ts)
    assert reply.markdown.startswith("w0 w1 ")
    assert "restarted in the middle of this answer" in reply.markdown
    assert not reply.streaming
    assert fake_slack.reactions[("C1", question.ts)] == set()


async def test_shutdown_tells_a_follow_up_still_waiting_its_turn_as_well(settings, fake_slack, fake_claude):
    fake_claude.then(Reply(chunks=tuple(f"w{i} " for i in range(40)), delay=0.2))
    runner, stop = await connect_in_socket_mode(settings, fake_slack, grace=0.5)
    question = fake_slack.post_user_message("C1", "<@UBOT> hi")
    await fake_slack.send_over_socket(event_callback(mention("C1", question.ts, "hi")))
    await asyncio.sleep(0.5)
    follow_up = fake_slack.post_user_message("C1", "and also?", thread_ts=question.ts)
    await fake_slack.send_over_socket(event_callback(message_event(follow_up)))
    await asyncio.sleep(0.5)
    assert fake_slack.reactions[("C1", follow_up.ts)] == {"eyes"}  # heard, while it waits its turn
    stop.set()
    await asyncio.wait_for(runner, timeout=15)
    replies = [m for m in fake_slack.thread("C1", question.ts) if m.bot_id]
    assert len(replies) == 2
    assert all("restarted in the middle of this answer" in m.markdown for m in replies)
