"""Running the Bolt app: HTTP mode (aiohttp) or Socket Mode, and beside either the operator
endpoints (/healthz, /readyz, /metrics) on a port of their own."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import DEFAULT_OPS_HOST
from bot.errors import OpsPortUnavailable, PortUnavailable, TokenRejected
from bot.logs import log_event
from bot.metrics import ACK_SECONDS, exposition
from bot.slack.app import SlackBot
from bot.slack.tokens_check import check_tokens_once, describe

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SHUTDOWN_GRACE_S = 30.0
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0  # while Slack can't be reached at start-up: 1 s, 2 s, 4 s… 60 s


def web_application(bot: SlackBot, *, healthz: bool = True) -> web.Application:
    """Events, slash commands and interactivity on POST /slack/events, and GET /healthz unless
    `healthz` is False (the operator endpoints have a port of their own). /readyz and /metrics
    are never served here, on the port the world reaches: see `ops_application`."""
    web_app = bot.app.web_app(path=EVENTS_PATH)
    web_app.middlewares.append(_time_acks)
    if bot.signing_secret:
        web_app.middlewares.append(_ack_events_first(SignatureVerifier(bot.signing_secret), web_app))
    if healthz:
        web_app.router.add_get("/healthz", _healthz)
    return web_app


class EventDispatcher:
    """Events already acknowledged, handed to Bolt one at a time in the order they came. One
    at a time, so that in a burst the acks (a signature check each) are not kept waiting
    behind hundreds of Bolt dispatches sharing the event loop."""

    def __init__(self) -> None:
        self.pending: set[int] = set()  # numbers of the events not yet handed over
        self._queue: asyncio.Queue[tuple[int, Any, web.Request]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._numbers = itertools.count()

    def submit(self, handler: Any, request: web.Request) -> None:
        number = next(self._numbers)
        self.pending.add(number)
        self._queue.put_nowait((number, handler, request))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="event-dispatcher")

    async def _work(self) -> None:
        while True:
            number, handler, request = await self._queue.get()
            try:
                await handler(request)
            except Exception:
                log.exception("event dispatch failed")
            finally:
                self.pending.discard(number)
                self._queue.task_done()

    async def finish(self) -> None:
        """Hand every acknowledged event to Bolt (before the bot stops)."""
        if self.pending:
            await self._queue.join()
        if self._worker is not None:
            self._worker.cancel()


DISPATCHER = web.AppKey("dispatcher", EventDispatcher)


def _ack_events_first(verifier: SignatureVerifier, web_app: web.Application) -> Any:
    """An event (a signed `event_callback`) is acknowledged as soon as its signature checks
    out, and Bolt handles it just after. Bolt acks events before running their listeners
    anyway; acking before Bolt's middleware too takes a third off the ack latency of a burst
    (bench/load.py). Everything else (commands, actions, url_verification, a bad signature)
    goes through Bolt as it arrives."""
    dispatcher = web_app[DISPATCHER] = EventDispatcher()

    @web.middleware
    async def ack_events_first(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method != "POST" or request.path != EVENTS_PATH or request.content_type != "application/json":
            return await handler(request)
        body = await request.text()  # aiohttp keeps it: Bolt reads the same body after us
        if not verifier.is_valid_request(body, request.headers) or '"event_callback"' not in body:
            return await handler(request)
        try:
            if json.loads(body).get("type") != "event_callback":
                return await handler(request)
        except (ValueError, AttributeError, RecursionError):
            return await handler(request)  # Bolt answers it (400)
        dispatcher.submit(handler, request)
        return web.Response(status=200)

    return ack_events_first


async def finish_dispatching(web_app: web.Application) -> None:
    """Events acknowledged but not yet handed to Bolt are handled before the bot stops."""
    dispatcher = web_app.get(DISPATCHER)
    if dispatcher is not None:
        await dispatcher.finish()


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})  # alive: the loop answers


Check = Callable[[], Awaitable[bool]]


def ops_application(bot: SlackBot, extra_checks: Mapping[str, Check] | None = None) -> web.Application:
    """The operator endpoints: /healthz (alive), /readyz (Slack takes the token, the database
    takes writes, the bot takes work, and any `extra_checks`, such as Socket Mode's connection)
    and /metrics (tokens, cost, queue depth, latencies)."""

    async def readyz(_: web.Request) -> web.Response:
        checks = await bot.readiness()
        for name, check in (extra_checks or {}).items():
            checks[name] = await check()
        return web.json_response({"ok": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=exposition(), content_type="text/plain", charset="utf-8")

    ops = web.Application()
    ops.router.add_get("/healthz", _healthz)
    ops.router.add_get("/readyz", readyz)
    ops.router.add_get("/metrics", metrics)
    return ops


@contextlib.asynccontextmanager
async def serving_ops(
    bot: SlackBot, host: str, port: int | None, extra_checks: Mapping[str, Check] | None = None
) -> AsyncIterator[list[Any]]:
    """The operator endpoints on `host`:`port` while the block runs, in either mode: up before
    the bot starts, down after it has stopped (so /readyz says 503 while it drains). Yields the
    addresses the site's sockets are bound to. With no port, only a line in the log saying
    they are off and how to turn them on."""
    if port is None:
        log_event(
            log,
            "ops_endpoints_off",
            detail="/readyz and /metrics are not served; set BOT_OPS_PORT to serve /healthz, /readyz "
            f"and /metrics on that port, on BOT_OPS_HOST (default {DEFAULT_OPS_HOST})",
        )
        yield []
        return
    runner = web.AppRunner(ops_application(bot, extra_checks), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise OpsPortUnavailable(
                f"can't serve the operator endpoints on {host}:{port} "
                f"({error.strerror or error}); change BOT_OPS_PORT or BOT_OPS_HOST"
            ) from error
        addresses = list(runner.addresses)
        log_event(
            log,
            "ops_listening",
            addresses=[f"{a[0]}:{a[1]}" for a in addresses],
            endpoints=["/healthz", "/readyz", "/metrics"],
        )
        yield addresses
    finally:
        await runner.cleanup()


@web.middleware
async def _time_acks(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.monotonic()
    try:
        response = await handler(request)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as error:
        # A body Bolt could not even parse (broken JSON in a form's payload, nesting a thousand
        # deep, block_actions without actions…): the sender's fault.
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


async def run_http(
    bot: SlackBot,
    host: str,
    port: int,
    stop: asyncio.Event,
    grace: float = SHUTDOWN_GRACE_S,
    ops_port: int | None = None,
    ops_host: str = DEFAULT_OPS_HOST,
) -> None:
    """POST /slack/events on `host`:`port`; the operator endpoints on `ops_host`:`ops_port`
    (BOT_OPS_PORT), or, with no ops port, only /healthz on the events port."""
    async with serving_ops(bot, ops_host, ops_port):
        if not await check_tokens(bot.app.client, stop):
            return  # stopped before Slack could be reached
        web_app = web_application(bot, healthz=ops_port is None)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()  # before the bot takes work: a taken port stops nothing half-started
        except OSError as error:
            await runner.cleanup()
            raise PortUnavailable(
                f"can't listen for Slack's requests on {host}:{port} ({error.strerror or error}); "
                "change --port or --host"
            ) from error
        await bot.start()
        log_event(
            log,
            "listening",
            mode="http",
            url=f"http://{host}:{port}{EVENTS_PATH}",
            healthz=f"http://{host}:{port}/healthz" if ops_port is None else None,
        )
        await stop.wait()
        await site.stop()  # no new requests; answers in flight go on
        await finish_dispatching(web_app)
        await _finish_in_flight(bot, grace)
        await runner.cleanup()


async def run_socket_mode(
    bot: SlackBot,
    app_token: str,
    stop: asyncio.Event,
    grace: float = SHUTDOWN_GRACE_S,
    ops_port: int | None = None,
    ops_host: str = DEFAULT_OPS_HOST,
) -> None:
    """Socket Mode; with `ops_port` (BOT_OPS_PORT), the operator endpoints on `ops_host`."""
    handler = AsyncSocketModeHandler(bot.app, app_token)  # reuses app.client, so SLACK_API_URL holds
    try:
        async with serving_ops(bot, ops_host, ops_port, {"socket_connected": handler.client.is_connected}):
            if not await check_tokens(bot.app.client, stop, app_token):
                return  # stopped before Slack could be reached
            await bot.start()
            # The SDK retries a failed connection on its own, forever: whatever it is doing,
            # SIGTERM or Ctrl-C stops it. Once connected, it reconnects by itself when the
            # connection drops; /readyz says socket_connected meanwhile.
            if await until_stopped(handler.connect_async(), stop):
                log_event(log, "listening", mode="socket")
                await stop.wait()
            await handler.close_async()
            await _finish_in_flight(bot, grace)
    finally:
        if not handler.client.closed:  # rejected or stopped early: the SDK's aiohttp session still open
            await handler.close_async()


async def until_stopped(work: Awaitable[Any], stop: asyncio.Event) -> bool:
    """Await `work` unless `stop` is set first, which cancels it. True when `work` finished
    (its exception, if any, is raised), False when `stop` came first."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return False
    task.result()
    return True


async def check_tokens(client: AsyncWebClient, stop: asyncio.Event, app_token: str | None = None) -> bool:
    """Before taking work: Slack takes the bot token (auth.test) and, in Socket Mode, the app
    token (apps.connections.open). A token Slack refuses raises TokenRejected, naming it; while
    Slack can't be reached (no route, refused, no answer) it tries again, backing off, until it
    can or `stop` is set. True once both were taken, False when stopped first."""
    delay = RETRY_FIRST_S
    while not stop.is_set():
        try:
            if await until_stopped(check_tokens_once(client, app_token), stop):
                return True
            break
        except TokenRejected:
            raise
        except Exception as error:  # noqa: BLE001 - unreachable, timed out, 5xx, ratelimited…: try again
            log_event(
                log,
                "slack_unreachable",
                logging.WARNING,
                error=describe(error),
                retry_in_s=delay,
                detail="can't check the Slack tokens yet; SLACK_API_URL and the network may be at fault",
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RETRY_MAX_S)
    log_event(log, "stopped", detail="stopped before Slack could be reached; nothing was taken on")
    return False


async def _finish_in_flight(bot: SlackBot, grace: float) -> None:
    log_event(log, "stopping", busy=bot.answers.busy, grace_s=grace)
    cut_short = await bot.stop(grace)
    log_event(log, "stopped", cut_short=cut_short, left_queued=bot.answers.busy)
