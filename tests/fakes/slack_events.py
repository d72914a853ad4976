"""Slack's event delivery: signed HTTP requests to a running app, as Slack sends them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .slack_api import BOT_USER_ID, TEAM_ID, FakeSlack, Message

SIGNING_SECRET = "test-signing-secret"


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def event_callback(event: dict[str, Any], event_id: str = "Ev0001") -> dict[str, Any]:
    return {
        "token": "unused", "team_id": TEAM_ID, "api_app_id": "A0001", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "event": event,
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(channel: str, ts: str, text: str, user: str = "UALICE", thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
             "channel": channel, "team": TEAM_ID, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


async def deliver(url: str, payload: dict[str, Any], *, retry_num: int | None = None,
                  secret: str = SIGNING_SECRET, timestamp: int | None = None,
                  form: bool = False) -> aiohttp.ClientResponse:
    """POST a payload signed like Slack does; returns the (read) response."""
    body = urlencode(payload) if form else json.dumps(payload)
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts, secret),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
            return response


def message_event(message: Message) -> dict[str, Any]:
    """The `message.*` event for a message (channel, private channel or DM)."""
    kind = {"C": "channel", "G": "group", "D": "im"}[message.channel[0]]
    return {**message.as_api(), "channel": message.channel, "channel_type": kind, "team": TEAM_ID,
            "event_ts": message.ts}


async def say(slack: FakeSlack, events_url: str, channel: str, text: str, *, user: str = "UALICE",
              thread_ts: str | None = None, files: list[dict] | None = None, bot_id: str | None = None,
              event_id: str | None = None) -> tuple[Message, float]:
    """Someone writes in Slack: the message appears, and Slack delivers its events at the same
    moment — `message.*` always, and `app_mention` too when it mentions the bot (not in DMs).
    Returns the message and the slowest ack in seconds."""
    message = slack.post_user_message(channel, text, user=user, thread_ts=thread_ts, files=files, bot_id=bot_id)
    base = event_id or f"Ev{message.ts.replace('.', '')}"
    payloads = [event_callback(message_event(message), event_id=base + "m")]
    if f"<@{BOT_USER_ID}>" in text and not channel.startswith("D"):
        mention_event = {**message_event(message), "type": "app_mention"}
        mention_event.pop("channel_type")
        payloads.append(event_callback(mention_event, event_id=base + "a"))
    started = time.monotonic()
    responses = await asyncio.gather(*(deliver(events_url, p) for p in payloads))
    assert all(r.status == 200 for r in responses), [r.status for r in responses]
    return message, time.monotonic() - started


async def run_command(slack: FakeSlack, url: str, text: str, *, channel: str = "C1", user: str = "UALICE",
                      command: str = "/backend-review") -> tuple[aiohttp.ClientResponse, str, float]:
    """Someone runs a slash command: Slack POSTs it (form-encoded, signed) and shows the ack's
    body to them alone. Returns (response, its body, seconds until the ack)."""
    payload = {"token": "unused", "team_id": TEAM_ID, "team_domain": "fake", "channel_id": channel,
               "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
               "text": text, "api_app_id": "A0001", "trigger_id": "1.2.3",
               "response_url": f"{slack.origin}/respond/{len(slack.responses) + 1}"}
    body = urlencode(payload)
    ts = int(time.time())
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": sign(body, ts)}
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body.encode(), headers=headers) as response:
            text_body = await response.text()
            return response, text_body, time.monotonic() - started
