"""HTTP mode's front door: only requests Slack signed get in; /healthz answers."""

from __future__ import annotations

import time

import aiohttp

from bot.playground.slack_emulator import deliver, event_callback, mention


async def test_forged_signature_gets_401_and_reaches_nothing(bot):
    response = await deliver(bot.events_url, event_callback(mention("C1", "1.1", "hi")), secret="not-the-secret")
    await bot.idle()
    assert response.status == 401
    assert bot.claude.requests == []
    assert bot.slack.calls == []


async def test_replayed_request_older_than_five_minutes_gets_401(bot):
    old = int(time.time()) - 6 * 60
    response = await deliver(bot.events_url, event_callback(mention("C1", "1.1", "hi")), timestamp=old)
    await bot.idle()
    assert response.status == 401
    assert bot.claude.requests == [] and bot.slack.calls == []


async def test_url_verification_challenge_is_answered(bot):
    response_body = None
    async with aiohttp.ClientSession() as session:
        import json

        from bot.playground.slack_emulator import sign

        body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
        ts = int(time.time())
        async with session.post(
            bot.events_url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": str(ts),
                "X-Slack-Signature": sign(body, ts),
            },
        ) as response:
            response_body = await response.text()
            assert response.status == 200
    assert "abc123" in response_body


async def test_healthz_says_alive(bot):
    async with aiohttp.ClientSession() as session, session.get(bot.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json()) == {"ok": True}


async def test_ordinary_channel_messages_are_acked_and_ignored(bot):
    event = {
        "type": "message",
        "user": "UALICE",
        "text": "lunch?",
        "ts": "1.5",
        "channel": "C1",
        "channel_type": "channel",
    }
    response = await deliver(bot.events_url, event_callback(event, event_id="Ev9"))
    await bot.idle()
    assert response.status == 200
    assert bot.claude.requests == []


async def test_a_signed_body_nested_a_thousand_deep_or_an_action_without_actions_gets_400(bot):
    from bot.playground.slack_emulator import SIGNING_SECRET, sign

    deep = '{"type": "event_callback", "event": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(deep, ts, SIGNING_SECRET),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.events_url, data=deep.encode(), headers=headers) as response,
    ):
        assert response.status == 400
    empty = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "team": {"id": "T1"},
        "actions": [],
        "channel": {"id": "C1"},
        "message": {"ts": "1.1"},
        "container": {"type": "message"},
    }
    response = await deliver(bot.events_url, {"payload": __import__("json").dumps(empty)}, form=True)
    assert response.status == 400
