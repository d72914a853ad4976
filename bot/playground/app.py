"""The playground: the real bot, in HTTP mode, against the emulated Slack, with a Slack-like
page on 127.0.0.1 where a person writes as they would in Slack.

The page and the emulated Web API share one port (SLACK_API_URL is its /api/). The bot is
served on a second loopback port and gets what the person does as Slack sends it: signed
events, slash commands and button presses. The page hears every change over a WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import signal
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bot.agents import AgentCatalog
from bot.answering import Answerer
from bot.config import Settings
from bot.errors import PortUnavailable
from bot.logs import log_event
from bot.playground.dry_run import API_KEY as PLACEHOLDER_KEY
from bot.playground.dry_run import DryRunClaude
from bot.playground.local_server import LocalServer
from bot.playground.render import BOT_NAME, message_view, mrkdwn_html
from bot.playground.slack_emulator import (
    BOT_USER_ID,
    Change,
    DeliveryFailed,
    Message,
    SlackEmulator,
    SlackError,
    press_button,
    run_command,
    say,
)
from bot.slack.answers import ThreadAnswers
from bot.slack.app import SlackBot, create_app
from bot.slack.reply import FEEDBACK_ACTION
from bot.slack.server import EVENTS_PATH, web_application
from bot.store import Store
from bot.wiring import create_answerer

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
YOU = ("U0YOU", "you")  # the person at the page: (user id, display name)
REVIEW_COMMAND = "/backend-review"
GRACE_S = 2.0  # on stop, answers in flight get this long (the playground's state goes anyway)
_AT_BOT = re.compile(rf"(?<![\w<])@{re.escape(BOT_NAME)}\b")
_COMMAND = re.compile(r"(/\S+)\s*(.*)", re.DOTALL)
_CONTENT_SECURITY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws://127.0.0.1:* ws://localhost:*"
)


@dataclass(frozen=True)
class Channel:
    id: str  # C…: a channel; D…: a direct message with the bot
    name: str


CHANNELS = (Channel("C0GENERAL", "general"), Channel("D0BOT", BOT_NAME))


@dataclass(frozen=True)
class Mode:
    """Where answers come from, as the page's banner says it."""

    dry_run: bool
    banner: str

    @classmethod
    def of(cls, settings: Settings) -> Mode:
        if settings.anthropic_api_key:
            where = f" through {settings.anthropic_base_url}" if settings.anthropic_base_url else ""
            return cls(False, f"Live: answers come from Claude{where}, billed to your ANTHROPIC_API_KEY.")
        if settings.anthropic_base_url:
            return cls(False, f"Live: answers come from the Messages API at {settings.anthropic_base_url}.")
        return cls(
            True,
            "Dry run: no ANTHROPIC_API_KEY, so nothing is sent to Claude. Each answer shows "
            "what the bot would send instead: agent, model, prompt, redactions, tokens and cost.",
        )


def playground_settings(
    settings: Settings, slack: SlackEmulator, data_dir: Path, dry_run: DryRunClaude | None
) -> Settings:
    """The operator's settings, with Slack replaced by the emulation (and Claude by the dry run)."""
    local = replace(
        settings,
        slack_bot_token=slack.bot_token,
        slack_app_token=None,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.url,
        data_dir=data_dir,
        allowed_channels=None,
        http_port=None,
    )
    if dry_run is not None:
        # Routing is off: choosing an agent without Claude would be pretending.
        return replace(local, anthropic_api_key=PLACEHOLDER_KEY, anthropic_base_url=dry_run.url, routing=False)
    return local  # a gateway without a key: wiring.anthropic_client gives the SDK one


class Playground:
    """Start, use, stop. `url` is the page; `slack` is the emulation behind it."""

    def __init__(self, settings: Settings, catalog: AgentCatalog, port: int = 3000):
        self.mode = Mode.of(settings)
        # Made up per run: nothing else on this machine can act as Slack or as the bot.
        self.slack = SlackEmulator(
            bot_token=f"xoxb-playground-{secrets.token_hex(12)}",
            app_token=f"xapp-playground-{secrets.token_hex(12)}",
            signing_secret=secrets.token_hex(16),
        )
        self.slack.users[YOU[0]] = YOU[1]
        self.dry_run = DryRunClaude(catalog, settings.prices) if self.mode.dry_run else None
        self._settings = settings
        self._catalog = catalog
        self._port = port
        self._data = tempfile.TemporaryDirectory(prefix="backend-engineer-playground-")
        self._sockets: dict[web.WebSocketResponse, asyncio.Queue[dict[str, Any]]] = {}
        self._stopping = False
        self._answerer: Answerer | None = None
        self._bot: SlackBot | None = None
        self._bot_server: LocalServer | None = None
        self._store: Store | None = None
        self.slack.app.middlewares.append(self._only_from_here)
        self.slack.app.router.add_get("/", self._index)
        self.slack.app.router.add_get("/ws", self._socket)
        self.slack.app.router.add_static("/static", STATIC)
        self.slack.watchers.append(self._broadcast)

    @property
    def url(self) -> str:
        return self.slack.origin + "/"

    @property
    def answers(self) -> ThreadAnswers:
        assert self._bot is not None, "not started"
        return self._bot.answers

    @property
    def events_url(self) -> str:
        assert self._bot_server is not None
        return self._bot_server.origin + EVENTS_PATH

    async def start(self) -> Playground:
        try:
            await self._start()
        except BaseException:
            await self.stop(0)  # leave nothing running behind
            raise
        log_event(log, "playground", url=self.url, dry_run=self.mode.dry_run)
        return self

    async def _start(self) -> None:
        if self.dry_run is not None:
            await self.dry_run.start()
        try:
            await self.slack.start("127.0.0.1", self._port)
        except OSError as error:
            raise PortUnavailable(f"can't listen on 127.0.0.1:{self._port} ({error.strerror})") from error
        settings = playground_settings(self._settings, self.slack, Path(self._data.name), self.dry_run)
        self._store = Store.in_data_dir(settings.data_dir)
        self._answerer = create_answerer(settings, self._catalog, store=self._store)
        self._bot = create_app(settings, self._answerer, self._store)
        self._bot_server = LocalServer(web_application(self._bot))
        await self._bot.start()
        await self._bot_server.start()

    async def stop(self, grace: float = GRACE_S) -> None:
        self._stopping = True
        try:
            if self._bot is not None:
                await self._bot.stop(grace)
                await self._bot.answers.close()
        finally:
            for socket in list(self._sockets):
                await socket.close()
            for server in (self._bot_server, self.slack, self.dry_run):
                if server is not None:
                    await server.stop()
            if self._answerer is not None:
                await self._answerer.claude.aclose()
            if self._store is not None:
                self._store.close()
            self._data.cleanup()

    # -- what the person does ----------------------------------------------------------

    async def send(self, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any] | None:
        """The composer: a slash command, or a message (`@backend-engineer` becomes a mention).
        Returns what only the sender sees (a command's ack), if anything."""
        text = text.strip()
        if not text:
            return None
        command = _COMMAND.fullmatch(text)
        if command:
            if command[1] != REVIEW_COMMAND:
                return _ephemeral(
                    channel,
                    f"`{command[1]}` is not a command here. Try `{REVIEW_COMMAND}` with code or a pull-request link.",
                )
            response, body, _ = await run_command(
                self.slack, self.events_url, _slack_escaped(command[2]), channel=channel, user=YOU[0]
            )
            if response.status != 200:
                raise DeliveryFailed(f"the app answered {response.status} to {REVIEW_COMMAND}")
            shown = _ack_text(body, response.content_type)
            return _ephemeral(channel, shown) if shown else None
        as_slack_sends_it = _AT_BOT.sub(f"<@{BOT_USER_ID}>", _slack_escaped(text))
        message, _ = await say(
            self.slack, self.events_url, channel, as_slack_sends_it, user=YOU[0], thread_ts=thread_ts
        )
        return {
            "type": "sent",
            "channel": channel,
            "ts": message.ts,
            "thread_ts": thread_ts,
            "mentions_bot": f"<@{BOT_USER_ID}>" in message.text,
        }

    async def feedback(self, channel: str, ts: str, value: str) -> None:
        response = await press_button(
            self.events_url,
            self.slack.find(channel, ts),
            YOU[0],
            FEEDBACK_ACTION,
            value,
            secret=self.slack.signing_secret,
        )
        if response.status != 200:
            raise DeliveryFailed(f"the app answered {response.status} to the button")

    # -- the page ----------------------------------------------------------------------

    @web.middleware
    async def _only_from_here(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Only this page, and the bot, may use this port. Any web page the person has open
        could otherwise post to 127.0.0.1 or open a WebSocket there and spend their Claude key
        (browsers send Origin with those); a DNS-rebinding name shows in Host."""
        port = self.slack.origin.rsplit(":", 1)[-1]
        ours = {f"127.0.0.1:{port}", f"localhost:{port}"}
        origin = request.headers.get("Origin")
        if request.host not in ours or (origin is not None and origin.removeprefix("http://") not in ours):
            raise web.HTTPForbidden(text="the playground only takes requests from its own page")
        return await handler(request)

    async def _index(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": _CONTENT_SECURITY})

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "dry_run": self.mode.dry_run,
            "banner": self.mode.banner,
            "you": YOU[1],
            "bot": BOT_NAME,
            "channels": [{"id": c.id, "name": c.name} for c in CHANNELS],
            "messages": [self._view_of(m) for m in self.slack.messages],
            "statuses": [
                {"channel": c, "thread_ts": t, "status": s} for (c, t), s in self.slack.status_now.items() if s
            ],
        }

    def _view_of(self, message: Message) -> dict[str, Any]:
        reactions = self.slack.reactions.get((message.channel, message.ts))
        return message_view(message, self.slack.users, reactions).as_json()

    def _broadcast(self, change: Change) -> None:
        if not self._sockets:
            return  # no page open: nothing to render for
        update: dict[str, Any] | None
        if change.kind == "message":
            try:
                update = {"type": "message", "message": self._view_of(self.slack.find(change.channel, change.ts or ""))}
            except SlackError:  # deleted meanwhile
                update = None
        elif change.kind == "deleted":
            update = {"type": "deleted", "channel": change.channel, "ts": change.ts}
        elif change.kind == "status":
            update = {"type": "status", "channel": change.channel, "thread_ts": change.thread_ts, "status": change.text}
        else:
            update = _ephemeral(change.channel, change.text)
        if update:
            for queue in self._sockets.values():
                queue.put_nowait(update)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="the playground is stopping")
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        queue.put_nowait(self._hello())
        self._sockets[socket] = queue
        writer = asyncio.create_task(_write(socket, queue))
        try:
            async for frame in socket:
                if frame.type == WSMsgType.TEXT:
                    queue.put_nowait(await self._handle(json.loads(frame.data)) or {"type": "ok"})
        finally:
            del self._sockets[socket]
            writer.cancel()
        return socket

    async def _handle(self, asked: dict[str, Any]) -> dict[str, Any] | None:
        channel = str(asked.get("channel", ""))
        try:
            if asked.get("type") == "send":
                return await self.send(channel, str(asked.get("text", "")), asked.get("thread_ts") or None)
            if asked.get("type") == "feedback":
                await self.feedback(channel, str(asked["ts"]), str(asked["value"]))
        except Exception as error:  # the page says what went wrong; the playground goes on
            log.exception("playground action failed")
            return _ephemeral(channel, f"⚠️ The playground could not deliver that: {error}")
        return None


def _slack_escaped(text: str) -> str:
    """What people type reaches apps with &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ack_text(body: str, content_type: str) -> str:
    """What Slack shows the person from a slash command's ack: its body, or the body's `text`."""
    if content_type == "application/json":
        try:
            return str(json.loads(body).get("text") or "")
        except (ValueError, AttributeError):
            return body
    return body.strip()


def _ephemeral(channel: str, text: str) -> dict[str, Any]:
    return {"type": "ephemeral", "channel": channel, "html": mrkdwn_html(text)}


async def _write(socket: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any]]) -> None:
    while not socket.closed:
        await socket.send_json(await queue.get())


async def run_playground(settings: Settings, catalog: AgentCatalog, port: int, stop: asyncio.Event) -> None:
    playground = await Playground(settings, catalog, port).start()
    print(
        f"backend-engineer playground: open {playground.url}  "
        f"({'dry run, no Claude key' if playground.mode.dry_run else 'live answers from Claude'}; Ctrl-C stops)",
        flush=True,
    )
    try:
        await stop.wait()
        loop, me = asyncio.get_running_loop(), asyncio.current_task()
        assert me is not None
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C: stop now, mid-answer or not
            loop.add_signal_handler(sig, me.cancel)
    finally:
        await playground.stop()
