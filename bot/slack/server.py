"""Running the Bolt app: HTTP mode (aiohttp, with /healthz) or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from bot.metrics import ACK_SECONDS, exposition
from bot.slack.app import SlackBot
from bot.logs import log_event

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE_S = 30.0


def web_application(bot: SlackBot) -> web.Application:
    """Events, slash commands and interactivity on POST /slack/events, and the operator's
    endpoints (/healthz, /readyz, /metrics)."""
    web_app = bot.app.web_app(path=EVENTS_PATH)
    web_app.middlewares.append(_time_acks)
    add_operator_routes(web_app, bot)
    return web_app


def add_operator_routes(web_app: web.Application, bot: SlackBot) -> None:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})  # alive: the loop answers

    async def readyz(_: web.Request) -> web.Response:
        checks = await bot.readiness()
        return web.json_response({"ok": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=exposition(), content_type="text/plain", charset="utf-8")

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics)


@web.middleware
async def _time_acks(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.monotonic()
    try:
        response = await handler(request)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # A body Bolt could not even parse (broken JSON in a form's payload…): the sender's fault.
        log_event(log, "bad_payload", logging.WARNING, error=repr(error)[:300])
        return web.Response(status=400)
    if request.path == EVENTS_PATH:
        ACK_SECONDS.observe(time.monotonic() - started)
    return response


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so a deploy or Ctrl-C stops the bot cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_http(bot: SlackBot, host: str, port: int, stop: asyncio.Event,
                   grace: float = SHUTDOWN_GRACE_S) -> None:
    runner = web.AppRunner(web_application(bot), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await bot.start()
    await site.start()
    log_event(log, "listening", mode="http", url=f"http://{host}:{port}{EVENTS_PATH}")
    await stop.wait()
    await site.stop()  # no new requests; answers in flight go on
    await _finish_in_flight(bot, grace)
    await runner.cleanup()


async def run_socket_mode(bot: SlackBot, app_token: str, stop: asyncio.Event,
                          grace: float = SHUTDOWN_GRACE_S, ops_port: int | None = None,
                          ops_host: str = "0.0.0.0") -> None:
    """Socket Mode; with `ops_port` (BOT_HTTP_PORT), /healthz, /readyz and /metrics too."""
    handler = AsyncSocketModeHandler(bot.app, app_token)  # reuses app.client, so SLACK_API_URL holds
    runner = None
    if ops_port:
        ops = web.Application()
        add_operator_routes(ops, bot)
        runner = web.AppRunner(ops, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, ops_host, ops_port).start()
    await bot.start()
    await handler.connect_async()
    log_event(log, "listening", mode="socket", ops_port=ops_port)
    await stop.wait()
    await handler.close_async()
    await _finish_in_flight(bot, grace)
    if runner is not None:
        await runner.cleanup()


async def _finish_in_flight(bot: SlackBot, grace: float) -> None:
    log_event(log, "stopping", busy=bot.answers.busy, grace_s=grace)
    cut_short = await bot.stop(grace)
    log_event(log, "stopped", cut_short=cut_short, left_queued=bot.answers.busy)
