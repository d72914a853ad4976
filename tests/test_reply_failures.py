"""When Slack or Claude misbehave mid-answer, the thread still ends up right: the text once,
nothing left 'being written', and a clear word when the answer is incomplete."""

from __future__ import annotations

import asyncio
import time

from fakes.claude_api import Reply

WORDS = tuple(f"word{i} " for i in range(30))


async def test_append_refused_mid_stream_continues_by_editing_with_the_text_once(bot):
    bot.slack.refuse["chat.appendStream"] = "message_not_in_streaming_state"
    bot.claude.then(Reply(chunks=WORDS, delay=0.1))
    ts, _ = await bot.mention("q")
    await bot.idle()
    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1
    assert replies[0].markdown == "".join(WORDS)
    assert not replies[0].streaming  # the started stream was stopped, not left open
    assert replies[0].blocks[-1]["type"] == "context_actions"


async def test_connection_lost_after_slack_applied_an_append_does_not_double_text(bot):
    bot.slack.drop["chat.appendStream"] = 5  # more than the SDK's own connection retries
    bot.claude.then(Reply(chunks=WORDS, delay=0.1))
    ts, _ = await bot.mention("q")
    await bot.idle()
    assert bot.slack.drop["chat.appendStream"] < 5 and "chat.update" in bot.slack.methods()
    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1
    assert replies[0].markdown == "".join(WORDS)
    assert not replies[0].streaming


async def test_note_after_an_answer_cut_inside_a_code_block_is_outside_the_block(bot):
    bot.claude.then(Reply(chunks=("Here:\n\n```python\n", "x = 1\n", "y = 2"), stop_reason="max_tokens"))
    ts, _ = await bot.mention("q")
    await bot.idle()
    text = bot.slack.thread("C1", ts)[0].markdown
    code_end = text.index("y = 2\n```")
    assert text.index("length limit") > code_end
    assert text.count("```") == 2


async def test_text_written_before_claude_pauses_is_visible_during_the_pause(bot):
    # Each chunk comes after `delay`: the first after 1 s, the rest after a 1 s pause.
    bot.claude.then(Reply(chunks=("The first part, before a long pause. ", "The rest."), delay=1.0))
    ts, _ = await bot.mention("q")
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        replies = bot.slack.thread("C1", ts)
        if replies and replies[0].markdown:
            break
        await asyncio.sleep(0.05)
    assert replies[0].markdown == "The first part, before a long pause. "
    assert replies[0].streaming  # still being written: the rest comes after the pause
    await bot.idle()
    assert bot.slack.thread("C1", ts)[0].markdown == "The first part, before a long pause. The rest."


async def test_a_bare_mention_gets_a_friendly_prompt_and_no_claude_call(bot):
    ts, _ = await bot.mention("")
    await bot.idle()
    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1 and "Ask me a backend question" in replies[0].markdown
    assert "⚠️" not in replies[0].markdown
    assert bot.claude.requests == []


async def test_answers_in_fallback_mode_edit_within_the_chat_update_tier(bot):
    bot.slack.refuse["chat.startStream"] = "feature_not_enabled"
    for _ in range(3):
        bot.claude.then(Reply(chunks=WORDS, delay=0.1))  # 3 s of text each
    await asyncio.gather(*(bot.mention(f"q{n}", channel=f"C{n}") for n in range(3)))
    await bot.idle(timeout=30)
    assert bot.slack.rate_limited == []  # the emulator enforces Tier 3; the edits kept to it
    assert bot.slack.methods().count("chat.update") >= 3  # edited as the text came, not only at the end
    for n in range(3):
        (reply,) = [m for m in bot.slack.messages if m.channel == f"C{n}" and m.bot_id]
        assert reply.markdown == "".join(WORDS)


async def test_slack_rate_limits_are_waited_out_on_every_call(bot):
    bot.slack.fail_with = {"chat.startStream": [429, 429], "reactions.add": [429]}
    bot.claude.then(Reply(chunks=("Hello ", "from ", "**Claude**."), delay=0.3))  # long enough to stream
    ts, _ = await bot.mention("q")
    await bot.idle()
    assert [m.markdown for m in bot.slack.thread("C1", ts)] == ["Hello from **Claude**."]
    assert bot.slack.methods().count("chat.startStream") == 3


async def test_slack_server_errors_are_retried_only_where_a_retry_cannot_double_anything(bot):
    bot.slack.fail_with = {"users.info": [503], "chat.postMessage": [503]}
    bot.slack.refuse["chat.startStream"] = "feature_not_enabled"  # so the answer is a chat.postMessage
    ts, _ = await bot.mention("q")
    await bot.idle()
    assert bot.slack.methods().count("users.info") == 2  # retried: reading twice is harmless
    assert bot.claude.requests[0]["messages"][0]["content"].startswith("Alice:")
    # The failed post was not resent blindly by the client; the reply posted it again itself,
    # knowing nothing had been shown: one message, the whole answer.
    assert [m.markdown for m in bot.slack.thread("C1", ts)] == ["Hello from **Claude**."]
