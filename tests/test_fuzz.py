"""Malformed, oversized or unexpected payloads: never a 5xx, a crash or a hung worker."""

from __future__ import annotations

import json
import random

from bot.playground.slack_emulator import deliver, event_callback, message_event

WEIRD = [
    None,
    0,
    -1,
    1.5,
    "",
    "x" * 5000,
    [],
    {},
    [1, "a"],
    {"a": {"b": None}},
    True,
    "<@UBOT>",
    "1.2.3",
    "\u0000",
    "😀" * 100,
    "<@UBOT> " + "y" * 200_000,
]


def mutate(rng: random.Random, value, depth: int = 0):
    """A random variation: drop, replace or nest keys of a valid payload."""
    if isinstance(value, dict) and depth < 4:
        result = {}
        for key, item in value.items():
            roll = rng.random()
            if roll < 0.1:
                continue
            result[key] = rng.choice(WEIRD) if roll < 0.3 else mutate(rng, item, depth + 1)
        if rng.random() < 0.2:
            result[rng.choice(["subtype", "thread_ts", "files", "bot_id", "blocks", "type"])] = rng.choice(WEIRD)
        return result
    return value


async def test_random_variations_of_real_payloads_never_give_5xx_or_break_the_bot(bot):
    rng = random.Random(20261126)
    parent = bot.slack.post_user_message("C1", "<@UBOT> valid question")
    valid_event = event_callback({**message_event(parent), "type": "app_mention"})
    statuses = []
    for n in range(300):
        payload = mutate(rng, valid_event)
        payload["event_id"] = f"EvF{n}"
        response = await deliver(bot.events_url, payload)
        statuses.append(response.status)
    for text in ("", "not json", "[]", json.dumps({"type": "event_callback"}), json.dumps({"event": []})):
        import time

        import aiohttp

        from bot.playground.slack_emulator import sign

        ts = int(time.time())
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                bot.events_url,
                data=text,
                headers={
                    "Content-Type": "application/json",
                    "X-Slack-Request-Timestamp": str(ts),
                    "X-Slack-Signature": sign(text, ts),
                },
            ) as response,
        ):
            statuses.append(response.status)
    for form in (
        {"payload": "{not json"},
        {"payload": json.dumps({"type": "block_actions", "actions": None})},
        {"command": "/backend-review", "text": "x" * 100_000},
        {"command": "/unknown"},
    ):
        statuses.append((await deliver(bot.events_url, form, form=True)).status)
    await bot.idle(timeout=60)
    assert all(status < 500 for status in statuses), sorted(set(statuses))

    # Still answering, and nothing left hanging.
    ts, _ = await bot.mention("still there?", channel="C7")
    await bot.idle(timeout=30)
    assert [m.markdown for m in bot.slack.thread("C7", ts)] == ["Hello from **Claude**."]
    assert bot.answers.busy == 0
