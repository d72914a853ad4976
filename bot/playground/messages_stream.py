"""Answers in the Anthropic Messages API's own shapes (a message as JSON, or the server-sent
events of a stream), for the two local stand-ins the anthropic SDK is pointed at: the
playground's dry run and the test suite's fake Claude."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

SIGNATURE = "EqQBCkYIBxgCKkAlocal"  # opaque; sent back unchanged in a tool loop, never read
NO_USAGE = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


def message(
    body: Mapping[str, Any], text: str, stop_reason: str | None, usage: Mapping[str, int], thinking_tokens: int = 0
) -> dict[str, Any]:
    """A complete `message` object answering the request `body` (a `thinking` block first when
    the model thought: its text omitted, as the 5.5 models' default display does, and its
    tokens counted in `output_tokens_details`)."""
    thought = [{"type": "thinking", "thinking": "", "signature": SIGNATURE}] if thinking_tokens else []
    details = {"output_tokens_details": {"thinking_tokens": thinking_tokens}} if thinking_tokens else {}
    return {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude"),
        "content": thought + ([{"type": "text", "text": text}] if text else []),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {**NO_USAGE, **usage, **details},
    }


async def start_stream(
    request: web.Request, body: Mapping[str, Any], usage: Mapping[str, int], request_id: str
) -> web.StreamResponse:
    """Open the event stream with `message_start`; content blocks follow."""
    response = web.StreamResponse(headers={"content-type": "text/event-stream", "request-id": request_id})
    await response.prepare(request)
    await send_event(response, "message_start", {"type": "message_start", "message": message(body, "", None, usage)})
    return response


async def send_thinking(response: web.StreamResponse, index: int = 0, delay: float = 0.0) -> None:
    """A thinking block with its text omitted: the server "skips streaming thinking tokens
    entirely and delivers only the signature" (platform.claude.com, Building with extended thinking)."""
    await send_event(
        response,
        "content_block_start",
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    )
    await asyncio.sleep(delay)
    await send_event(
        response,
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
    )
    await send_event(response, "content_block_stop", {"type": "content_block_stop", "index": index})


async def start_text(response: web.StreamResponse, index: int = 0) -> None:
    await send_event(
        response,
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
    )


async def send_text(response: web.StreamResponse, chunks: Iterable[str], delay: float = 0.0, index: int = 0) -> None:
    for chunk in chunks:
        await asyncio.sleep(delay)
        await send_event(
            response,
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": chunk}},
        )


async def end_block(response: web.StreamResponse, index: int = 0) -> None:
    await send_event(response, "content_block_stop", {"type": "content_block_stop", "index": index})


async def end_stream(
    response: web.StreamResponse, stop_reason: str, output_tokens: int, thinking_tokens: int = 0
) -> None:
    usage: dict[str, Any] = {"output_tokens": output_tokens}
    if thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    await send_event(
        response,
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage},
    )
    await send_event(response, "message_stop", {"type": "message_stop"})


async def send_event(response: web.StreamResponse, event: str, data: Mapping[str, Any]) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


def error(status: int, error_type: str, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": error_type, "message": text}}, status=status, headers=dict(headers or {})
    )
