"""A fake Anthropic Messages API: scripted replies as JSON or server-sent events.

It records every request body so tests can assert on what was sent to Claude.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.playground import messages_stream as sse
from bot.playground.local_server import LocalServer


@dataclass(frozen=True)
class Reply:
    """A streamed answer: `chunks` of text, each after `delay` seconds."""

    chunks: tuple[str, ...] = ("Hello ", "from ", "**Claude**.")
    delay: float = 0.0
    first_delay: float = 0.0
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class Failure:
    """An HTTP error response (529 overloaded by default)."""

    status: int = 529
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class StreamError:
    """A 200 stream that sends some text, then an `error` event (the SDK does not retry it)."""

    chunks_before: tuple[str, ...] = ("Partial ",)
    error_type: str = "overloaded_error"


@dataclass(frozen=True)
class Route:
    """The router's answer: a `route_to_agent` tool call naming `agent` (or "none")."""

    agent: str
    delay: float = 0.0


class PromptCache:
    """Anthropic's prompt cache, as far as billing shows it: a request reads from cache the
    longest prefix (tools, system, messages, block by block) that an earlier request wrote at
    one of its cache breakpoints, looking back at most 20 blocks from each of its own
    breakpoints; it writes up to its last breakpoint (prefixes under 1,024 tokens are not
    cached); the rest is plain input. Tokens are counted as 4 characters each. Entries do not
    expire: figures assume follow-ups within the 5-minute cache lifetime."""

    LOOKBACK = 20
    MINIMUM_TOKENS = 1024

    def __init__(self) -> None:
        self._written: set[int] = set()

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        blocks, breakpoints = _cache_blocks(body)
        sizes = [len(b) // 4 + 1 for b in blocks]
        prefixes = [hash((body.get("model"), *blocks[:k])) for k in range(len(blocks) + 1)]
        cacheable = [b for b in breakpoints if sum(sizes[:b]) >= self.MINIMUM_TOKENS]
        last = max(cacheable, default=0)
        candidates = {k for b in cacheable for k in range(max(1, b - self.LOOKBACK), b + 1)}
        read = max((k for k in candidates if prefixes[k] in self._written), default=0)
        self._written.update(prefixes[k] for k in cacheable)
        return {"cache_read_input_tokens": sum(sizes[:read]),
                "cache_creation_input_tokens": sum(sizes[read:last]),
                "input_tokens": sum(sizes[last:])}


def _cache_blocks(body: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The request as cacheable blocks in order, and the positions just after each breakpoint."""
    blocks: list[str] = []
    breakpoints: list[int] = []

    def add(block: Any) -> None:
        marked = isinstance(block, dict) and "cache_control" in block
        plain = {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block
        blocks.append(json.dumps(plain, sort_keys=True))
        if marked:
            breakpoints.append(len(blocks))

    for tool in body.get("tools") or []:
        add(tool)
    system = body.get("system") or []
    for block in [system] if isinstance(system, str) else system:
        add(block)
    for message in body.get("messages") or []:
        content = message["content"]
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            add({"role": message["role"], **block} if isinstance(block, dict) else block)
    if body.get("cache_control") and blocks:
        breakpoints.append(len(blocks))  # the automatic breakpoint: the last block
    return blocks, breakpoints


class FakeClaude(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.cache = PromptCache()
        self.usages: list[dict[str, int]] = []  # what each request was billed, in order
        self.requests: list[dict[str, Any]] = []  # answers (routing calls are in route_requests)
        self.route_requests: list[dict[str, Any]] = []
        self.route_usages: list[dict[str, int]] = []
        self.routes: deque[Route | Failure] = deque()
        self.default_route: str | None = None  # None: the first agent the router may name
        self.headers: list[dict[str, str]] = []
        self.script: deque[Reply | Failure | StreamError] = deque()
        self.default = Reply()
        self.down: Failure | None = None  # set: every answer request fails like this
        self.retry_after_ms = 5  # what failures ask the client to wait
        self.app.router.add_post("/v1/messages", self._messages)

    def then(self, *replies: Reply | Failure | StreamError) -> "FakeClaude":
        self.script.extend(replies)
        return self

    @property
    def url(self) -> str:
        """What ANTHROPIC_BASE_URL is set to."""
        return self.origin

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("tools"):
            return await self._route(body)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        reply = self.down or (self.script.popleft() if self.script else self.default)
        usage = self.cache.usage(body)
        if isinstance(reply, Reply):
            usage["output_tokens"] = len("".join(reply.chunks)) // 4 + 1
        self.usages.append(usage)
        if isinstance(reply, Failure):
            # The SDK honours retry-after-ms: its retries stay real but fast in tests.
            return sse.error(reply.status, reply.error_type, reply.message,
                             {"request-id": f"req_fail_{len(self.requests)}", "retry-after-ms": str(self.retry_after_ms)})
        if not body.get("stream"):
            text = "".join(reply.chunks) if isinstance(reply, Reply) else ""
            return web.json_response(sse.message(body, text, getattr(reply, "stop_reason", "end_turn"), usage))
        if isinstance(reply, Reply):
            await asyncio.sleep(reply.first_delay)
            response = await sse.start_stream(request, body, {**usage, "output_tokens": 1}, f"req_{len(self.requests)}")
            await sse.send_text(response, reply.chunks, reply.delay)
            await sse.end_stream(response, reply.stop_reason, usage["output_tokens"])
        else:
            response = await sse.start_stream(request, body, {}, f"req_{len(self.requests)}")
            await sse.send_text(response, reply.chunks_before)
            await sse.send_event(response, "error", {"type": "error", "error": {"type": reply.error_type,
                                                                                "message": "boom"}})
        return response

    async def _route(self, body: dict[str, Any]) -> web.Response:
        self.route_requests.append(body)
        usage = self.cache.usage(body)
        usage["output_tokens"] = 20
        self.route_usages.append(usage)
        route = self.routes.popleft() if self.routes else Route(
            self.default_route or body["tools"][0]["input_schema"]["properties"]["agent"]["enum"][0])
        if isinstance(route, Failure):
            return sse.error(route.status, route.error_type, route.message, {"retry-after-ms": "5"})
        await asyncio.sleep(route.delay)
        message = sse.message(body, "", "tool_use", usage)
        message["content"] = [{"type": "tool_use", "id": "toolu_fake", "name": "route_to_agent",
                               "input": {"agent": route.agent}}]
        return web.json_response(message)
