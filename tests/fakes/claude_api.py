"""A fake Anthropic Messages API that holds requests to the real one's rules: scripted replies
as JSON or server-sent events, and the refusals, thinking and limits of the 5.5 models.

Every rule names its source. It records every request body so tests can assert on what was
sent to Claude, and every request it refused (`refused`): the test fixtures fail a test whose
bot sent a request the real API would refuse, unless the test expects that.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.models import EFFORTS, MAX_OUTPUT_TOKENS
from bot.playground import messages_stream as sse
from bot.playground.local_server import LocalServer

# The models Claude serves (models overview); any other id answers 404 as a retired one does:
# {"type": "not_found_error", "message": "model: <id>"} (API errors page).
SERVED_MODELS = ("claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5")
CREATED_AT = "2026-01-01T00:00:00Z"  # what GET /v1/models says of each (an RFC 3339 datetime)
# Effort when a request names none: Sonnet 5.5 "high"; Opus and Haiku 5.5 "medium" (effort page).
DEFAULT_EFFORT = {"claude-sonnet-5-5": "high", "claude-opus-5-5": "medium", "claude-haiku-5-5": "medium"}
# How many tokens the fake thinks at each effort before it writes. The real amount varies with
# the question; what matters is that thinking counts toward max_tokens (Sonnet 5.5 migration
# guide: max_tokens "covers thinking plus text"), so a tight limit cuts answers short.
THINKING_TOKENS = {"low": 300, "medium": 1_500, "high": 4_000, "xhigh": 8_000, "max": 16_000}
CHARS_PER_TOKEN = 4
MAX_CACHE_BREAKPOINTS = 4  # prompt caching page: "up to 4 cache breakpoints"


@dataclass(frozen=True)
class Reply:
    """A streamed answer: `chunks` of text, each after `delay` seconds, after `first_delay`
    seconds of thinking. `thinking_tokens` overrides what the effort would spend."""

    chunks: tuple[str, ...] = ("Hello ", "from ", "**Claude**.")
    delay: float = 0.0
    first_delay: float = 0.0
    stop_reason: str = "end_turn"
    thinking_tokens: int | None = None


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
    """The router's answer: JSON naming `agent` (or "none"), held to the request's schema.
    `stop_reason="refusal"` answers with no JSON, as a declined request does."""

    agent: str
    delay: float = 0.0
    stop_reason: str = "end_turn"


def refusal(body: dict[str, Any]) -> tuple[int, str, str] | None:
    """(status, error type, message) for a request the real Messages API refuses, else None."""
    model = body.get("model")
    if model not in SERVED_MODELS:
        return 404, "not_found_error", f"model: {model}"
    haiku = model == "claude-haiku-5-5"
    # Sampling: Sonnet/Opus 5.5 refuse any non-default value; Haiku 5.5 takes only temperature 1
    # and top_p 0.99, and no top_k (Haiku 5.5 migration guide).
    if (
        "top_k" in body
        or (not haiku and ("temperature" in body or "top_p" in body))
        or (haiku and body.get("temperature", 1) != 1)
        or (haiku and body.get("top_p", 0.99) != 0.99)
    ):
        return 400, "invalid_request_error", "temperature, top_p and top_k are not supported for this model."
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        return 400, "invalid_request_error", f"max_tokens: must be between 1 and {MAX_OUTPUT_TOKENS} for {model}"
    messages = body.get("messages") or []
    if not messages:
        return 400, "invalid_request_error", "messages: at least one message is required"
    if messages[-1].get("role") == "assistant":  # prefill (all three 5.5 migration guides)
        return (
            400,
            "invalid_request_error",
            ("This model does not support assistant message prefill. The conversation must end with a user message."),
        )
    # Forced tool use: refused on Sonnet and Opus 5.5; Haiku 5.5 accepts it ("What's new in
    # Claude Sonnet 5.5"; Opus 5.5 and Haiku 5.5 migration guides).
    if (body.get("tool_choice") or {}).get("type") in ("tool", "any") and not haiku:
        return 400, "invalid_request_error", 'tool_choice: type "tool" and "any" are not supported for this model.'
    config = body.get("output_config") or {}
    effort = config.get("effort", DEFAULT_EFFORT[model])
    if effort not in EFFORTS:
        return 400, "invalid_request_error", f"output_config.effort: must be one of {', '.join(EFFORTS)}"
    thinking = body.get("thinking") or {"type": "adaptive"}
    kind = thinking.get("type")
    if kind == "enabled" or "budget_tokens" in thinking:
        return (
            400,
            "invalid_request_error",
            (
                '"thinking.type.enabled" is not supported for this model. Use '
                '"thinking.type.adaptive" and "output_config.effort" to control '
                "thinking behavior."
            ),
        )
    if kind == "disabled" and not (haiku and effort in ("low", "medium", "high")):
        # Haiku 5.5 turns thinking off at low/medium/high only (Prompting Claude Haiku 5.5);
        # Sonnet 5.5 names between_tools instead; Opus 5.5 always thinks.
        return (
            400,
            "invalid_request_error",
            (
                '"thinking.type.disabled" is not supported for this model'
                + (" at this effort." if haiku else '. Use "thinking.type.adaptive".')
            ),
        )
    if kind == "between_tools" and (
        model != "claude-sonnet-5-5" or effort not in ("low", "medium", "high") or set(thinking) != {"type"}
    ):
        # Sonnet 5.5's lowest setting, at low/medium/high, with no other field (its migration guide).
        return 400, "invalid_request_error", "thinking.type.between_tools is not supported here."
    if kind not in ("adaptive", "disabled", "between_tools") or thinking.get("display", "omitted") not in (
        "summarized",
        "omitted",
    ):
        return 400, "invalid_request_error", f"thinking: unsupported setting {thinking!r}"
    schema_problem = _schema_problem(config.get("format"))
    if schema_problem:
        return 400, "invalid_request_error", f"output_config.format: {schema_problem}"
    if len(_cache_blocks(body)[1]) > MAX_CACHE_BREAKPOINTS:
        return 400, "invalid_request_error", "A maximum of 4 blocks with cache_control may be provided."
    return None


def _schema_problem(output_format: Any) -> str | None:
    """Structured outputs take {"type": "json_schema", "schema": …} and need
    `additionalProperties: false` on every object (structured outputs page)."""
    if output_format is None:
        return None
    if (
        not isinstance(output_format, dict)
        or output_format.get("type") != "json_schema"
        or not isinstance(output_format.get("schema"), dict)
    ):
        return 'expected {"type": "json_schema", "schema": {...}}'

    def walk(schema: Any) -> str | None:
        if isinstance(schema, dict):
            if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
                return "objects must set additionalProperties to false"
            return next(filter(None, (walk(v) for v in schema.values())), None)
        if isinstance(schema, list):
            return next(filter(None, (walk(v) for v in schema)), None)
        return None

    return walk(output_format["schema"])


def thinks(body: dict[str, Any]) -> bool:
    """Adaptive thinking is on by default on the 5.5 models; `disabled` and `between_tools`
    (without tools) leave only text."""
    return (body.get("thinking") or {}).get("type", "adaptive") == "adaptive"


def thinking_tokens(body: dict[str, Any], scripted: int | None = None) -> int:
    if not thinks(body):
        return 0
    if scripted is not None:
        return scripted
    effort = (body.get("output_config") or {}).get("effort") or DEFAULT_EFFORT[body["model"]]
    return THINKING_TOKENS[effort]


def tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1 if text else 0


class PromptCache:
    """Anthropic's prompt cache, as far as billing shows it: a request reads from cache the
    longest prefix (tools, system, messages, block by block) that an earlier request wrote at
    one of its cache breakpoints, looking back at most 20 blocks from each of its own
    breakpoints; it writes up to its last breakpoint (prefixes under 512 tokens, the 5.5 models'
    minimum, are not cached); the rest is plain input. Tokens are counted as 4 characters each. Entries do not
    expire: figures assume follow-ups within the 5-minute cache lifetime."""

    LOOKBACK = 20
    MINIMUM_TOKENS = 512  # Sonnet/Opus/Haiku 5.5 model pages: minimum cacheable prompt

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
        return {
            "cache_read_input_tokens": sum(sizes[:read]),
            "cache_creation_input_tokens": sum(sizes[read:last]),
            "input_tokens": sum(sizes[last:]),
        }


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
        self.refused: list[tuple[dict[str, Any], int, str]] = []  # (request, status, why) the real API refuses
        self.expected_refusals: set[int] = set()  # statuses a test provokes on purpose (e.g. 404 for a retired model)
        self.timeline: list[str] = []  # "answer asked", "route asked", "route answered", in order
        self._handling: set[asyncio.Task[Any]] = set()  # requests still being answered (a scripted delay)
        self.api_keys: set[str] | None = None  # set: GET /v1/models answers 401 to any other key
        self.model_list_calls: list[dict[str, str]] = []  # the query of each GET /v1/models
        self.app.router.add_post("/v1/messages", self._handle)
        self.app.router.add_get("/v1/models", self._models)

    def then(self, *replies: Reply | Failure | StreamError) -> FakeClaude:
        self.script.extend(replies)
        return self

    @property
    def url(self) -> str:
        """What ANTHROPIC_BASE_URL is set to."""
        return self.origin

    async def stop(self) -> None:
        # A reply still in a scripted delay has nobody waiting for it by now (the bot stopped
        # first): end it, rather than have the server wait out its shutdown timeout (2 s).
        for task in self._handling:
            task.cancel()
        await super().stop()

    async def _models(self, request: web.Request) -> web.Response:
        # Models API, "List Models" (docs.claude.com/en/api/models-list): newest first, paged by
        # limit / after_id / before_id; no key, or an unknown one, answers 401 authentication_error.
        # The key comes as x-api-key, or as "Authorization: Bearer <key>" (what SDK 2.16 sends).
        self.model_list_calls.append(dict(request.query))
        bearer = request.headers.get("Authorization", "")
        key = request.headers.get("x-api-key") or (bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else None)
        if not key or (self.api_keys is not None and key not in self.api_keys):
            return sse.error(401, "authentication_error", "invalid x-api-key", {"request-id": "req_models_401"})
        limit = int(request.query.get("limit", "20"))
        data = [
            {"type": "model", "id": model, "display_name": model.replace("-", " ").title(), "created_at": CREATED_AT}
            for model in SERVED_MODELS
        ][:limit]
        return web.json_response(
            {
                "data": data,
                "has_more": limit < len(SERVED_MODELS),
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handling.add(task)
        try:
            return await self._messages(request)
        finally:
            self._handling.discard(task)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        routing = bool((body.get("output_config") or {}).get("format"))
        (self.route_requests if routing else self.requests).append(body)
        self.timeline.append("route asked" if routing else "answer asked")
        if not routing:
            self.headers.append(dict(request.headers))
        refused = refusal(body)
        if refused is not None:
            status, error_type, message = refused
            self.refused.append((body, status, f"{error_type}: {message}"))
            return sse.error(status, error_type, message, {"request-id": f"req_refused_{len(self.refused)}"})
        if routing:
            return await self._route(body)
        reply = self.down or (self.script.popleft() if self.script else self.default)
        usage = self.cache.usage(body)
        if isinstance(reply, Failure):
            self.usages.append({**usage, "output_tokens": 0})
            # The SDK honours retry-after-ms: its retries stay real but fast in tests.
            return sse.error(
                reply.status,
                reply.error_type,
                reply.message,
                {"request-id": f"req_fail_{len(self.requests)}", "retry-after-ms": str(self.retry_after_ms)},
            )
        if isinstance(reply, StreamError):
            self.usages.append({**usage, "output_tokens": 1})
            response = await sse.start_stream(request, body, {**usage, "output_tokens": 1}, f"req_{len(self.requests)}")
            await sse.start_text(response)
            await sse.send_text(response, reply.chunks_before)
            await sse.send_event(
                response, "error", {"type": "error", "error": {"type": reply.error_type, "message": "boom"}}
            )
            return response
        thought = min(thinking_tokens(body, reply.thinking_tokens), body["max_tokens"])
        chunks, stop_reason = _within(reply.chunks, body["max_tokens"] - thought, reply.stop_reason)
        output = thought + tokens("".join(chunks))
        usage = {**usage, "output_tokens": output}
        self.usages.append(usage)
        if not body.get("stream"):
            await asyncio.sleep(reply.first_delay)
            return web.json_response(sse.message(body, "".join(chunks), stop_reason, usage, thought))
        response = await sse.start_stream(request, body, {**usage, "output_tokens": 1}, f"req_{len(self.requests)}")
        index = 0
        if thinks(body):  # "Responses may begin with a thinking block" (5.5 migration guides)
            await sse.send_thinking(response, index, delay=reply.first_delay)
            index += 1
        else:
            await asyncio.sleep(reply.first_delay)
        if chunks:
            await sse.start_text(response, index)
            await sse.send_text(response, chunks, reply.delay, index)
            await sse.end_block(response, index)
        await sse.end_stream(response, stop_reason, output, thought)
        return response

    async def _route(self, body: dict[str, Any]) -> web.Response:
        usage = self.cache.usage(body)
        route = (
            self.routes.popleft()
            if self.routes
            else Route(
                self.default_route or body["output_config"]["format"]["schema"]["properties"]["agent"]["enum"][0]
            )
        )
        if isinstance(route, Failure):
            self.route_usages.append({**usage, "output_tokens": 0})
            return sse.error(route.status, route.error_type, route.message, {"retry-after-ms": "5"})
        enum = body["output_config"]["format"]["schema"]["properties"]["agent"]["enum"]
        assert route.agent in enum, f"the real API cannot answer {route.agent!r} outside the schema's enum {enum}"
        await asyncio.sleep(route.delay)
        thought = min(thinking_tokens(body), body["max_tokens"])
        # Constrained decoding: the text is JSON that fits the schema (structured outputs page),
        # unless max_tokens runs out first: then it "may not match your schema".
        text = "" if route.stop_reason == "refusal" else json.dumps({"agent": route.agent})
        kept, stop_reason = _within((text,), body["max_tokens"] - thought, route.stop_reason)
        text = "".join(kept)
        usage["output_tokens"] = thought + tokens(text)
        self.route_usages.append(usage)
        self.timeline.append("route answered")
        return web.json_response(sse.message(body, text, stop_reason, usage, thought))


def _within(chunks: tuple[str, ...], room_tokens: int, stop_reason: str) -> tuple[tuple[str, ...], str]:
    """The text that fits in what max_tokens leaves after thinking; cut there with
    stop_reason "max_tokens", as the API does."""
    room = max(room_tokens, 0) * CHARS_PER_TOKEN
    if tokens("".join(chunks)) <= room_tokens:
        return chunks, stop_reason
    kept: list[str] = []
    for chunk in chunks:
        if room <= 0:
            break
        kept.append(chunk[:room])
        room -= len(chunk)
    return tuple(kept), "max_tokens"
