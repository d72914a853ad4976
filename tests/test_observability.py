"""What an operator sees: /healthz, /readyz and /metrics on BOT_OPS_PORT, beside HTTP mode and
Socket Mode. (Which port serves what, and to whom: test_ops_port.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest
from conftest import RunningBot, start_bot
from test_cli import free_port

from bot.playground.slack_emulator import APP_TOKEN
from bot.slack.app import create_app
from bot.slack.server import run_socket_mode, serving_ops
from bot.store import Store
from bot.wiring import create_answerer


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


@pytest.fixture
async def bot_and_ops(settings, fake_slack, fake_claude):
    """The bot in HTTP mode, and its operator endpoints served beside it as `run --http` serves
    them with BOT_OPS_PORT set: (the bot, the ops site's base URL, the server)."""
    running, server = await start_bot(settings, fake_slack, fake_claude)
    try:
        async with serving_ops(server.bot, "127.0.0.1", 0) as addresses:
            yield running, f"http://127.0.0.1:{addresses[0][1]}", server
    finally:
        await server.stop()


@pytest.fixture
def bot(bot_and_ops) -> RunningBot:
    return bot_and_ops[0]


@pytest.fixture
def ops(bot_and_ops) -> str:
    return bot_and_ops[1]


async def test_readyz_checks_slack_auth_and_the_database(bot, ops, monkeypatch):
    from bot.slack import app

    monkeypatch.setattr(app, "SLACK_CHECK_TTL_S", 0.2)
    status, body = await get(ops + "/readyz")
    assert status == 200 and '"slack": true' in body and '"database": true' in body
    bot.slack.refuse["auth.test"] = "invalid_auth"  # the token was revoked
    await asyncio.sleep(0.3)
    status, body = await get(ops + "/readyz")
    assert status == 503 and '"slack": false' in body


async def test_readyz_asked_again_and_again_asks_slack_once_in_a_while(bot, ops):
    before = bot.slack.methods().count("auth.test")
    for _ in range(20):  # anyone who can reach the port
        await get(ops + "/readyz")
    assert bot.slack.methods().count("auth.test") - before <= 1


async def test_metrics_count_events_answers_tokens_cost_and_latencies(bot, ops):
    await bot.mention("q")
    await bot.idle()
    status, text = await get(ops + "/metrics")
    assert status == 200
    # The mention came as two events: one was answered, the other was the duplicate.
    for line in (
        'bot_events_total{outcome="answer"',
        'bot_events_total{outcome="duplicate"',
        'bot_answers_total{outcome="answered"}',
        "bot_queue_depth 0.0",
        "bot_in_flight_answers 0.0",
        'bot_claude_tokens_total{kind="output",model="claude-sonnet-5-5"}',
        'bot_claude_cost_usd_total{model="claude-sonnet-5-5"}',
    ):
        assert line in text, line
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and line[0] != "#"}
    for histogram in ("bot_ack_seconds_count", "bot_first_token_seconds_count", "bot_answer_seconds_count"):
        assert values[histogram] >= 1, histogram  # observed, not just declared


async def test_socket_mode_serves_the_operator_endpoints_on_bot_ops_port(settings, fake_slack, fake_claude):
    settings = replace(settings, slack_signing_secret=None, slack_app_token=APP_TOKEN)
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)
    port, stop = free_port(), asyncio.Event()
    runner = asyncio.create_task(
        run_socket_mode(create_app(settings, answerer, store), APP_TOKEN, stop, grace=1, ops_port=port)
    )
    try:
        await asyncio.wait_for(fake_slack.socket_connected.wait(), timeout=10)
        base = f"http://127.0.0.1:{port}"
        assert (await get(base + "/healthz"))[0] == 200
        status, body = await get(base + "/readyz")
        assert status == 200 and '"socket_connected": true' in body  # 503 while the SDK reconnects
        assert "bot_events_total" in (await get(base + "/metrics"))[1]
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)
        await answerer.claude.aclose()
        store.close()


async def test_readyz_says_not_ready_once_the_bot_stops_taking_work(bot_and_ops):
    _, ops, server = bot_and_ops
    assert (await get(ops + "/readyz"))[0] == 200
    await server.bot.stop(1)
    status, body = await get(ops + "/readyz")
    assert status == 503 and '"taking_work": false' in body
    await server.bot.start()


async def test_the_queue_gauges_add_up_every_running_queue_and_forget_a_stopped_one(tmp_path):
    """Each queue used to rebind the gauges when it started: the last one won, and once it was
    stopped and its store closed, /metrics failed on reading that closed store."""
    from bot.metrics import REGISTRY, exposition
    from bot.slack.answers import ThreadAnswers
    from bot.store import JobOwner

    stores = [Store(tmp_path / f"{n}.sqlite3") for n in range(2)]
    first, second = (ThreadAnswers(None, None, store, None) for store in stores)
    await first.start()
    await second.start()
    await asyncio.sleep(0.05)  # both dispatchers waiting for work
    stores[0].enqueue({"kind": "message", "body": {}}, JobOwner("UALICE", "C1", None))  # not woken: stays queued
    assert REGISTRY.get_sample_value("bot_queue_depth") == 1
    await second.stop(0)
    stores[1].close()
    assert b"bot_queue_depth 1.0" in exposition()
    assert REGISTRY.get_sample_value("bot_in_flight_answers") == 0
    await first.stop(0)
    assert REGISTRY.get_sample_value("bot_queue_depth") == 0
    stores[0].close()
