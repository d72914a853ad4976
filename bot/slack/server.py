"""Running the Bolt app: HTTP mode (aiohttp, with /healthz) or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.slack.app import SlackBot
from bot.logs import log_event

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE_S = 30.0


def web_application(app: AsyncApp) -> web.Application:
    """Events, slash commands and interactivity on POST /slack/events; GET /healthz."""
    web_app = app.web_app(path=EVENTS_PATH)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_get("/healthz", healthz)
    return web_app


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so a deploy or Ctrl-C stops the bot cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_http(bot: SlackBot, host: str, port: int, stop: asyncio.Event,
                   grace: float = SHUTDOWN_GRACE_S) -> None:
    runner = web.AppRunner(web_application(bot.app), access_log=None)
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
                          grace: float = SHUTDOWN_GRACE_S) -> None:
    handler = AsyncSocketModeHandler(bot.app, app_token)  # reuses app.client, so SLACK_API_URL holds
    await bot.start()
    await handler.connect_async()
    log_event(log, "listening", mode="socket")
    await stop.wait()
    await handler.close_async()
    await _finish_in_flight(bot, grace)


async def _finish_in_flight(bot: SlackBot, grace: float) -> None:
    log_event(log, "stopping", busy=bot.answers.busy, grace_s=grace)
    cut_short = await bot.stop(grace)
    log_event(log, "stopped", cut_short=cut_short, left_queued=bot.answers.busy)
