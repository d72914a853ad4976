"""A fake Anthropic Messages API: scripted replies as JSON or server-sent events.

It records every request body so tests can assert on what was sent to Claude.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .server import LocalServer


@dataclass(frozen=True)
class Reply:
    """A streamed answer: `chunks` of text, each after `delay` seconds."""

    chunks: tuple[str, ...] = ("Hello ", "from ", "**Claude**.")
    delay: float = 0.0
    first_delay: float = 0.0
    stop_reason: str = "end_turn"
    usage: dict[str, int] = field(default_factory=lambda: {
        "input_tokens": 1200, "output_tokens": 40,
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 1500,
    })


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


class FakeClaude(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[Reply | Failure | StreamError] = deque()
        self.default = Reply()
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
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        reply = self.script.popleft() if self.script else self.default
        if isinstance(reply, Failure):
            return web.json_response(
                {"type": "error", "error": {"type": reply.error_type, "message": reply.message}},
                # The SDK honours retry-after-ms: its retries stay real but fast in tests.
                status=reply.status, headers={"request-id": f"req_fail_{len(self.requests)}",
                                              "retry-after-ms": "5"},
            )
        if not body.get("stream"):
            text = "".join(reply.chunks) if isinstance(reply, Reply) else ""
            return web.json_response(_message(body, text, getattr(reply, "stop_reason", "end_turn"),
                                              getattr(reply, "usage", {})))
        response = web.StreamResponse(headers={
            "content-type": "text/event-stream", "request-id": f"req_{len(self.requests)}"})
        await response.prepare(request)
        if isinstance(reply, Reply):
            await self._stream_reply(response, body, reply)
        else:
            await self._stream_error(response, body, reply)
        return response

    async def _stream_reply(self, response: web.StreamResponse, body: dict, reply: Reply) -> None:
        usage = dict(reply.usage)
        await asyncio.sleep(reply.first_delay)
        await _send(response, "message_start", {"type": "message_start",
                                                "message": _message(body, "", None, {**usage, "output_tokens": 1})})
        await _send(response, "content_block_start", {"type": "content_block_start", "index": 0,
                                                      "content_block": {"type": "text", "text": ""}})
        for chunk in reply.chunks:
            await asyncio.sleep(reply.delay)
            await _send(response, "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                          "delta": {"type": "text_delta", "text": chunk}})
        await _send(response, "content_block_stop", {"type": "content_block_stop", "index": 0})
        await _send(response, "message_delta", {"type": "message_delta",
                                                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                                                "usage": {"output_tokens": usage["output_tokens"]}})
        await _send(response, "message_stop", {"type": "message_stop"})

    async def _stream_error(self, response: web.StreamResponse, body: dict, reply: StreamError) -> None:
        await _send(response, "message_start", {"type": "message_start", "message": _message(body, "", None, {})})
        await _send(response, "content_block_start", {"type": "content_block_start", "index": 0,
                                                      "content_block": {"type": "text", "text": ""}})
        for chunk in reply.chunks_before:
            await _send(response, "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                          "delta": {"type": "text_delta", "text": chunk}})
        await _send(response, "error", {"type": "error", "error": {"type": reply.error_type, "message": "boom"}})


def _message(body: dict, text: str, stop_reason: str | None, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "claude"),
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0, **usage},
    }


async def _send(response: web.StreamResponse, event: str, data: dict) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
