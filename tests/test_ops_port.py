"""The operator endpoints (/healthz, /readyz, /metrics) are off the port the world reaches:
served on BOT_OPS_PORT, bound to 127.0.0.1 unless BOT_OPS_HOST says otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from test_cli import clean_env, free_port, run_cli, start_cli

from bot.config import load_settings
from bot.errors import ConfigError, OpsPortUnavailable, PortUnavailable
from bot.playground.slack_emulator import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, deliver, event_callback, mention
from bot.slack.app import create_app
from bot.slack.server import run_http, run_socket_mode, serving_ops
from bot.store import Store
from bot.wiring import create_answerer

OPERATOR_PATHS = ("/healthz", "/readyz", "/metrics")


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def refused(url: str) -> bool:
    """Nothing listens there (connection refused, or an address this machine doesn't have)."""
    try:
        await get(url)
    except aiohttp.ClientConnectionError:
        return True
    return False


async def until_listening(base: str, timeout: float = 20.0) -> None:
    """Until something answers HTTP at `base`, whatever the status."""
    deadline = time.monotonic() + timeout
    while await refused(base + "/"):
        assert time.monotonic() < deadline, f"nothing came up on {base}"
        await asyncio.sleep(0.05)


async def until_ready(base: str, timeout: float = 20.0) -> None:
    """Until /readyz says 200: in Socket Mode, once the bot is connected and taking work."""
    await until_listening(base, timeout)
    deadline = time.monotonic() + timeout
    while (await get(base + "/readyz"))[0] != 200:
        assert time.monotonic() < deadline, f"{base}/readyz never said ready"
        await asyncio.sleep(0.05)


def loopback_alias_available() -> bool:
    """127.0.0.2 is this machine's too (Linux: all of 127/8 is the loopback)."""
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


needs_127_0_0_2 = pytest.mark.skipif(not loopback_alias_available(), reason="127.0.0.2 is not a local address here")


def ops_records(caplog, event: str) -> list:
    return [r for r in caplog.records if r.getMessage() == event]


@contextlib.asynccontextmanager
async def running_http(settings, **ops) -> AsyncIterator[str]:
    """The bot as `run --http` runs it, events on a free port of 127.0.0.1, and `ops` (ops_port,
    ops_host) as given; yields the events port's base URL."""
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)
    port, stop = free_port(), asyncio.Event()
    runner = asyncio.create_task(run_http(create_app(settings, answerer, store), "127.0.0.1", port, stop, 1, **ops))
    base = f"http://127.0.0.1:{port}"
    try:
        await until_listening(base)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)
        await answerer.claude.aclose()
        store.close()


async def test_with_bot_ops_port_readyz_and_metrics_are_served_there_not_on_the_events_port(
    settings, fake_slack, fake_claude
):
    ops_port = free_port()
    async with running_http(settings, ops_port=ops_port) as events:
        for path in OPERATOR_PATHS:
            assert (await get(events + path))[0] == 404, path
        ops = f"http://127.0.0.1:{ops_port}"
        assert (await get(ops + "/healthz")) == (200, '{"ok": true}')
        status, body = await get(ops + "/readyz")
        assert status == 200 and '"slack": true' in body
        status, body = await get(ops + "/metrics")
        assert status == 200 and "bot_queue_depth" in body
        # The events port still takes Slack's requests (and turns away unsigned ones).
        response = await deliver(events + "/slack/events", event_callback(mention("C1", "1.1", "hi")), secret="x")
        assert response.status == 401


async def test_without_bot_ops_port_the_events_port_serves_only_healthz_and_the_log_says_so_once(
    settings, fake_slack, fake_claude, caplog
):
    caplog.set_level("INFO")
    async with running_http(settings) as events:
        assert (await get(events + "/healthz")) == (200, '{"ok": true}')  # a load balancer's liveness probe
        assert (await get(events + "/readyz"))[0] == 404
        assert (await get(events + "/metrics"))[0] == 404
    off = ops_records(caplog, "ops_endpoints_off")
    assert len(off) == 1 and "BOT_OPS_PORT" in off[0].fields["detail"]
    assert not ops_records(caplog, "ops_listening")


async def test_the_ops_site_binds_127_0_0_1_by_default(settings, fake_slack, fake_claude):
    host = load_settings({"BOT_OPS_PORT": "9100"}).ops_host  # BOT_OPS_HOST not set
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)
    bot = create_app(settings, answerer, store)
    async with serving_ops(bot, host, 0) as addresses:  # 0: any free port
        assert len(addresses) == 1
        host, port = addresses[0][:2]
        assert host == "127.0.0.1"
        assert (await get(f"http://127.0.0.1:{port}/healthz"))[0] == 200
    await answerer.claude.aclose()
    store.close()


@needs_127_0_0_2
async def test_run_http_binds_the_ops_site_to_loopback_only_unless_told(settings, fake_slack, fake_claude, caplog):
    caplog.set_level("INFO")
    ops_port = free_port()
    async with running_http(settings, ops_port=ops_port):
        assert (await get(f"http://127.0.0.1:{ops_port}/metrics"))[0] == 200
        # Bound to 0.0.0.0 it would answer on every address of the machine, 127.0.0.2 among them.
        assert await refused(f"http://127.0.0.2:{ops_port}/metrics")
    assert ops_records(caplog, "ops_listening")[0].fields["addresses"] == [f"127.0.0.1:{ops_port}"]


@needs_127_0_0_2
async def test_bot_ops_host_is_where_the_ops_site_listens(settings, fake_slack, fake_claude, caplog):
    caplog.set_level("INFO")
    ops_port = free_port()
    host = load_settings({"BOT_OPS_HOST": "127.0.0.2"}).ops_host
    async with running_http(settings, ops_port=ops_port, ops_host=host):
        assert (await get(f"http://127.0.0.2:{ops_port}/readyz"))[0] == 200
        assert await refused(f"http://127.0.0.1:{ops_port}/readyz")
    assert ops_records(caplog, "ops_listening")[0].fields["addresses"] == [f"127.0.0.2:{ops_port}"]


async def test_socket_mode_serves_the_ops_endpoints_on_loopback_by_default_and_stops_them_with_the_bot(
    settings, fake_slack, fake_claude
):
    settings = replace(settings, slack_signing_secret=None, slack_app_token=APP_TOKEN)
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)
    ops_port, stop = free_port(), asyncio.Event()
    runner = asyncio.create_task(
        run_socket_mode(create_app(settings, answerer, store), APP_TOKEN, stop, grace=1, ops_port=ops_port)
    )
    ops = f"http://127.0.0.1:{ops_port}"
    try:
        await asyncio.wait_for(fake_slack.socket_connected.wait(), timeout=10)
        assert (await get(ops + "/readyz"))[0] == 200
        if loopback_alias_available():
            assert await refused(f"http://127.0.0.2:{ops_port}/readyz")
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)
        await answerer.claude.aclose()
    assert await refused(ops + "/healthz")
    store.close()


async def test_an_ops_port_already_taken_is_a_clear_error_before_the_bot_starts(settings, fake_slack, fake_claude):
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)
    bot = create_app(settings, answerer, store)
    events_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OpsPortUnavailable, match=f"127.0.0.1:{port}.*BOT_OPS_PORT"):
            await asyncio.wait_for(run_http(bot, "127.0.0.1", events_port, asyncio.Event(), 1, ops_port=port), 10)
    assert not bot.answers.dispatching  # the bot never started taking work
    assert await refused(f"http://127.0.0.1:{events_port}/slack/events")
    await answerer.claude.aclose()
    store.close()


async def test_an_events_port_already_taken_is_a_clear_error_and_leaves_nothing_running(
    settings, fake_slack, fake_claude
):
    store = Store.in_data_dir(settings.data_dir)
    answerer = create_answerer(settings, store=store)
    bot = create_app(settings, answerer, store)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortUnavailable, match=f"127.0.0.1:{port}.*--port"):
            await asyncio.wait_for(run_http(bot, "127.0.0.1", port, asyncio.Event(), 1), 10)
    assert not bot.answers.dispatching  # the bot never started taking work
    another = Store.in_data_dir(settings.data_dir)
    another.lock_exclusively()  # nor kept the data folder locked
    another.unlock()
    another.close()
    await answerer.claude.aclose()
    store.close()


@pytest.mark.parametrize("value", ["0", "65536", "-1", "9100.5", "metrics", "0x2384"])
def test_a_bad_bot_ops_port_is_a_config_error_naming_it(value):
    with pytest.raises(ConfigError, match=r"^BOT_OPS_PORT must be a port number \(1 to 65535\), got"):
        load_settings({"BOT_OPS_PORT": value})


def test_ops_settings_default_to_off_on_loopback_and_bot_http_port_is_checked_the_same_way():
    settings = load_settings({})
    assert (settings.ops_port, settings.ops_host, settings.http_port) == (None, "127.0.0.1", None)
    settings = load_settings({"BOT_OPS_PORT": " 9100 ", "BOT_OPS_HOST": "10.0.0.5", "BOT_HTTP_PORT": "65535"})
    assert (settings.ops_port, settings.ops_host, settings.http_port) == (9100, "10.0.0.5", 65535)
    with pytest.raises(ConfigError, match="BOT_HTTP_PORT must be a port number"):
        load_settings({"BOT_HTTP_PORT": "70000"})


async def test_check_with_a_bad_bot_ops_port_exits_2_naming_it(tmp_path):
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", ANTHROPIC_API_KEY="sk-ant-1", BOT_OPS_PORT="70000"
    )
    code, _, err = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 2
    assert "BOT_OPS_PORT must be a port number (1 to 65535), got 70000" in err and "Traceback" not in err


async def test_run_http_with_bot_ops_port_equal_to_the_events_port_is_refused(tmp_path):
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", ANTHROPIC_API_KEY="sk-ant-1", BOT_OPS_PORT="3000"
    )
    code, _, err = await run_cli("run", "--http", "--port", "3000", env=env, cwd=tmp_path)
    assert code == 2 and "BOT_OPS_PORT (3000) must differ from --port" in err


async def stop_process(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), timeout=40)
    assert process.returncode == 0, err.decode()
    return err.decode()


def logged(log: str, event: str) -> list[dict]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


async def test_run_http_serves_the_ops_endpoints_on_bot_ops_port_of_127_0_0_1_only(fake_slack, fake_claude, tmp_path):
    """As an operator runs it: BOT_OPS_PORT set, BOT_OPS_HOST not."""
    port, ops_port = free_port(), free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        ANTHROPIC_API_KEY="sk-ant-test",
        ANTHROPIC_BASE_URL=fake_claude.url,
        BOT_OPS_PORT=str(ops_port),
    )
    process = await start_cli("run", "--http", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path)
    try:
        await until_listening(f"http://127.0.0.1:{port}")
        await until_ready(f"http://127.0.0.1:{ops_port}")
        for path in OPERATOR_PATHS:
            assert (await get(f"http://127.0.0.1:{port}{path}"))[0] == 404, path
            assert (await get(f"http://127.0.0.1:{ops_port}{path}"))[0] == 200, path
        if loopback_alias_available():
            assert await refused(f"http://127.0.0.2:{ops_port}/metrics")
    finally:
        log = await stop_process(process)
    assert [line["addresses"] for line in logged(log, "ops_listening")] == [[f"127.0.0.1:{ops_port}"]]
    assert not logged(log, "ops_endpoints_off") and not logged(log, "deprecated_setting")


async def test_bot_http_port_still_works_in_socket_mode_on_127_0_0_1_and_is_logged_as_deprecated_once(
    fake_slack, fake_claude, tmp_path
):
    ops_port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake_slack.url,
        ANTHROPIC_API_KEY="sk-ant-test",
        ANTHROPIC_BASE_URL=fake_claude.url,
        BOT_HTTP_PORT=str(ops_port),
    )
    process = await start_cli("run", "--host", "0.0.0.0", env=env, cwd=tmp_path)  # --host no longer applies to it
    try:
        await until_ready(f"http://127.0.0.1:{ops_port}")
        if loopback_alias_available():
            assert await refused(f"http://127.0.0.2:{ops_port}/readyz")
    finally:
        log = await stop_process(process)
    deprecated = logged(log, "deprecated_setting")
    assert len(deprecated) == 1 and deprecated[0]["variable"] == "BOT_HTTP_PORT"
    assert "BOT_OPS_PORT" in deprecated[0]["detail"]
    assert [line["addresses"] for line in logged(log, "ops_listening")] == [[f"127.0.0.1:{ops_port}"]]
