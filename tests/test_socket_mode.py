"""Socket Mode (the default): the same answers arrive over Slack's WebSocket connection."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fakes.claude_api import Reply
from test_cli import start_cli

from bot.playground.slack_emulator import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackEmulator,
    event_callback,
    mention,
    message_event,
)
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


# -- `backend-engineer run` as an operator starts it: rejected tokens, no Slack, signals ---------


def run_env(api_url: str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "BOT_", "GITHUB_"))}
    defaults = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": api_url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "BOT_SHUTDOWN_GRACE_S": "1",
    }
    return {**env, **defaults, **values}


async def start_run(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await start_cli("run", *args, env=env, cwd=cwd)


async def finish(process: asyncio.subprocess.Process, timeout: float) -> str:
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise AssertionError(f"still running {timeout} s on") from None
    return err.decode()


async def read_until(process: asyncio.subprocess.Process, text: str, timeout: float = 20) -> str:
    """stderr up to and including the first line holding `text`."""
    assert process.stderr is not None
    seen = ""
    async with asyncio.timeout(timeout):
        while text not in seen:
            line = await process.stderr.readline()
            assert line, f"exited before logging {text!r}: {seen}"
            seen += line.decode()
    return seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_with_a_rejected_app_token_says_which_token_and_exits_2(fake_slack, tmp_path):
    process = await start_run(run_env(fake_slack.url, SLACK_APP_TOKEN="xapp-made-up"), tmp_path)
    started = time.monotonic()
    err = await finish(process, timeout=20)
    assert process.returncode == 2, err
    assert time.monotonic() - started < 15
    (line,) = [line for line in err.splitlines() if line.startswith("backend-engineer:")]
    assert "SLACK_APP_TOKEN" in line and "invalid_auth" in line and "App-Level Tokens" in line
    assert "SLACK_BOT_TOKEN" not in line
    assert "Traceback" not in err and "Retrying" not in err
    assert "xapp-made-up" not in err


async def test_run_http_with_a_rejected_bot_token_says_which_token_and_exits_2(fake_slack, tmp_path):
    env = run_env(fake_slack.url, SLACK_BOT_TOKEN="xoxb-made-up", SLACK_SIGNING_SECRET=SIGNING_SECRET)
    process = await start_run(env, tmp_path, "--http", "--host", "127.0.0.1", "--port", str(free_port()))
    err = await finish(process, timeout=20)
    assert process.returncode == 2, err
    (line,) = [line for line in err.splitlines() if line.startswith("backend-engineer:")]
    assert "SLACK_BOT_TOKEN" in line and "OAuth & Permissions" in line
    assert "Traceback" not in err


async def test_run_connects_without_spurious_sdk_warnings_and_stops_on_sigterm(fake_slack, tmp_path):
    process = await start_run(run_env(fake_slack.url), tmp_path)
    try:
        log = await read_until(process, '"event": "listening"')
    finally:
        process.send_signal(signal.SIGTERM)
        log += await finish(process, timeout=15)
    assert process.returncode == 0, log
    assert fake_slack.socket_connected.is_set()
    assert "As you gave `client`" not in log and "Traceback" not in log


@pytest.mark.parametrize("slack", ["hangs", "refuses connections"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_stops_on_a_signal_while_slack_cannot_be_reached(slack, sig, tmp_path):
    fake = await SlackEmulator().start()
    try:
        if slack == "hangs":
            fake.hang.add("apps.connections.open")
            api_url = fake.url
        else:
            api_url = f"http://127.0.0.1:{free_port()}/api/"
        process = await start_run(run_env(api_url), tmp_path)
        if slack == "hangs":
            deadline = time.monotonic() + 20
            while "apps.connections.open" not in fake.methods():
                assert time.monotonic() < deadline and process.returncode is None, "never asked for a connection"
                await asyncio.sleep(0.05)
            log = ""
        else:
            log = await read_until(process, '"event": "slack_unreachable"')
        await asyncio.sleep(0.3)
        process.send_signal(sig)
        started = time.monotonic()
        log += await finish(process, timeout=10)
        assert time.monotonic() - started < 5  # BOT_SHUTDOWN_GRACE_S=1
        assert process.returncode == 0, log
        assert "Traceback" not in log
        assert not fake.socket_connected.is_set()
    finally:
        await fake.stop()
