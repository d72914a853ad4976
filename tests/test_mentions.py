"""@backend-engineer in a channel: what appears in the thread, and what Claude was sent.

The real Bolt app runs in HTTP mode; slack_sdk and anthropic talk to local fakes.
"""

from __future__ import annotations

import asyncio
import time

from fakes.claude_api import Failure, Reply, StreamError

from bot.playground.slack_emulator import Message, deliver, event_callback, mention, press_button
from bot.slack.split import SLACK_MARKDOWN_LIMIT

AGENT_FILE = "agents/backend-senior-engineer.md"


def agent_body(root) -> str:
    text = (root / AGENT_FILE).read_text(encoding="utf-8")
    return text.split("\n---\n", 1)[1].strip()


async def test_mention_gets_one_streamed_answer_in_its_thread_and_nothing_at_top_level(bot):
    bot.claude.then(
        Reply(chunks=("## Caching\n\n", "Use **Redis** with a TTL:\n\n", "- cache by prompt hash\n", "- 24 h TTL\n"))
    )
    ts, _ = await bot.mention("How should I add a caching layer to cut our API costs?")
    await bot.idle()

    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1
    answer = replies[0]
    assert answer.markdown == "## Caching\n\nUse **Redis** with a TTL:\n\n- cache by prompt hash\n- 24 h TTL\n"
    assert not answer.streaming
    assert [m.ts for m in bot.slack.top_level("C1")] == [ts]  # only the question itself
    assert "chat.startStream" in bot.slack.methods() and "chat.stopStream" in bot.slack.methods()
    start = next(c for c in bot.slack.calls if c.method == "chat.startStream")
    assert start.args["thread_ts"] == ts
    assert start.args["recipient_user_id"] == "UALICE" and start.args["recipient_team_id"] == "T0001"


async def test_answer_ends_with_footer_naming_agent_and_model_and_feedback_buttons(bot):
    ts, _ = await bot.mention("hi")
    await bot.idle()
    blocks = bot.slack.thread("C1", ts)[0].blocks
    footer = blocks[0]["elements"][0]["text"]
    assert "backend-senior-engineer" in footer and "claude-sonnet-5-5" in footer
    assert blocks[1]["type"] == "context_actions"
    assert blocks[1]["elements"][0]["type"] == "feedback_buttons"


async def test_status_and_eyes_show_at_once_and_eyes_go_when_answered(bot):
    bot.claude.then(Reply(first_delay=0.5))
    ts, _ = await bot.mention("hi")
    await asyncio.sleep(0.3)
    assert ("C1", ts, "is thinking…") in bot.slack.statuses
    assert bot.slack.reactions[("C1", ts)] == {"eyes"}
    await bot.idle()
    assert bot.slack.reactions[("C1", ts)] == set()


async def test_claude_is_sent_agent_body_verbatim_resolved_model_and_cache_markers(bot):
    from conftest import ROOT

    await bot.mention("How do I shard a Postgres table?")
    await bot.idle()
    request = bot.claude.requests[0]
    assert request["model"] == "claude-sonnet-5-5"  # `model: sonnet` in the agent file
    assert request["system"][0]["text"] == agent_body(ROOT)
    assert "Slack" in request["system"][1]["text"]
    assert request["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert request["cache_control"] == {"type": "ephemeral"}
    assert request["messages"] == [{"role": "user", "content": "Alice: How do I shard a Postgres table?"}]
    assert request["stream"] is True
    # Chat answers think at medium effort, with room for that thinking and a long answer.
    assert request["output_config"] == {"effort": "medium"} and request["max_tokens"] == 32_000
    assert "thinking" not in request  # adaptive, the 5.5 default: "disabled" is refused on Sonnet 5.5
    assert bot.claude.headers[0]["Authorization"] == "Bearer sk-ant-test-key"


async def test_slack_markup_becomes_plain_text_for_claude(bot):
    await bot.mention("ask <@UBOB|bob> about <https://example.com/a|the doc> &amp; <#C9|ops>")
    await bot.idle()
    assert bot.claude.requests[0]["messages"][0]["content"] == "Alice: ask @Bob about the doc & #ops"


async def test_mention_inside_a_thread_answers_in_that_thread(bot):
    parent = bot.slack.post_user_message("C1", "our deploys are slow")
    ts, _ = await bot.mention("any idea why?", thread_ts=parent.ts)
    await bot.idle()
    assert len(bot.slack.thread("C1", parent.ts)) == 2  # the mention and the answer
    assert bot.slack.thread("C1", ts) == []
    assert [m.ts for m in bot.slack.top_level("C1")] == [parent.ts]


async def test_event_is_acked_in_well_under_a_second_while_the_model_is_slow(bot):
    bot.claude.then(Reply(first_delay=1.0))  # twice the ack's limit: an ack that waited would show
    _, ack_seconds = await bot.mention("slow one")
    assert ack_seconds < 0.5
    await bot.idle()


async def test_claude_overloaded_gives_one_clear_message_then_the_next_question_works(
    settings, fake_slack, fake_claude
):
    from dataclasses import replace

    from conftest import start_bot

    bot, server = await start_bot(replace(settings, answer_deadline_s=0.5), fake_slack, fake_claude)
    bot.claude.down = Failure()  # overloaded for longer than the answer may take
    ts, _ = await bot.mention("first")
    await bot.idle()
    bot.claude.down = None
    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1
    assert "Claude is overloaded" in replies[0].markdown and "try again" in replies[0].markdown
    assert "Traceback" not in replies[0].markdown
    assert bot.slack.reactions[("C1", ts)] == set()

    ts2, _ = await bot.mention("second")
    await bot.idle()
    assert bot.slack.thread("C1", ts2)[0].markdown == "Hello from **Claude**."
    await server.stop()


async def test_overloaded_in_the_middle_of_the_stream_restarts_the_answer_cleanly(bot):
    bot.claude.then(
        StreamError(chunks_before=("The first half of the answer, " * 20,)), Reply(chunks=("The complete answer.",))
    )
    ts, _ = await bot.mention("q")
    await bot.idle()
    replies = bot.slack.thread("C1", ts)
    assert [m.markdown for m in replies] == ["The complete answer."]  # never the first part twice
    assert bot.slack.deleted and bot.slack.deleted[0].markdown.startswith("The first half")
    assert any(s[2] == "Claude is busy, retrying…" for s in bot.slack.statuses)
    assert len(bot.claude.requests) == 2


async def test_a_request_claude_rejects_mid_stream_keeps_the_text_and_says_it_failed(bot):
    bot.claude.then(StreamError(chunks_before=("The first half of the answer ",), error_type="invalid_request_error"))
    ts, _ = await bot.mention("q")
    await bot.idle()
    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1
    assert replies[0].markdown.startswith("The first half of the answer")
    assert "Claude could not take this request" in replies[0].markdown
    assert not replies[0].streaming
    assert len(bot.claude.requests) == 1  # not retried: it would fail the same way


async def test_several_overloads_in_a_row_are_not_the_end_of_a_question(bot):
    bot.claude.then(Failure(), Failure(), Failure(), Failure(), Reply(chunks=("Got there.",)))
    ts, _ = await bot.mention("q")
    await bot.idle(timeout=60)
    assert [m.markdown for m in bot.slack.thread("C1", ts)] == ["Got there."]


async def test_answer_cut_by_max_tokens_says_so(bot):
    bot.claude.then(Reply(chunks=("A long answer",), stop_reason="max_tokens"))
    ts, _ = await bot.mention("q")
    await bot.idle()
    text = bot.slack.thread("C1", ts)[0].markdown
    assert text.startswith("A long answer") and "length limit" in text


async def test_refusal_and_context_window_each_end_with_an_honest_note(bot):
    bot.claude.then(
        Reply(chunks=("I can't",), stop_reason="refusal"),
        Reply(chunks=("Part",), stop_reason="model_context_window_exceeded"),
    )
    ts1, _ = await bot.mention("a")
    await bot.idle()  # one at a time: which of two answers at once reaches Claude first is not fixed
    ts2, _ = await bot.mention("b")
    await bot.idle()
    assert "declined" in bot.slack.thread("C1", ts1)[0].markdown
    assert "context window" in bot.slack.thread("C1", ts2)[0].markdown


def _long_answer() -> str:
    code = "\n".join(f"    result_{i} = compute(value_{i}, retries=3)  # step {i}" for i in range(260))
    parts = []
    for n in range(3):
        parts.append(f"## Part {n}\n\n" + "A paragraph about caching and queues. " * 40 + "\n\n")
        parts.append(f"```python\ndef handler_{n}():\n{code}\n```\n\n")
    text = "".join(parts)
    assert len(text) > 30_000
    return text


async def test_a_30000_character_answer_splits_into_valid_messages_in_the_thread(bot):
    answer = _long_answer()
    bot.claude.then(Reply(chunks=tuple(answer[i : i + 97] for i in range(0, len(answer), 97))))
    ts, _ = await bot.mention("write it all")
    await bot.idle(timeout=30)
    replies = bot.slack.thread("C1", ts)
    assert len(replies) >= 3
    for message in replies:
        assert len(message.markdown) <= SLACK_MARKDOWN_LIMIT
        assert message.markdown.count("```") % 2 == 0
        assert not message.streaming
    texts = [m.markdown for m in replies]
    for i in range(len(texts) - 1):  # take away the fences the split added
        if texts[i].endswith("\n```") and texts[i + 1].startswith("```python\n"):
            texts[i], texts[i + 1] = texts[i][:-4], texts[i + 1][len("```python\n") :]
    assert "".join(texts).split() == answer.split()  # every word once, in order
    assert replies[-1].blocks and not any(m.blocks for m in replies[:-1])  # footer once, at the end


async def test_streaming_refused_falls_back_to_post_then_update(bot):
    bot.slack.refuse["chat.startStream"] = "feature_not_enabled"
    bot.claude.then(Reply(chunks=("one ", "two ", "three"), delay=0.05))
    ts, _ = await bot.mention("q")
    await bot.idle()
    replies = bot.slack.thread("C1", ts)
    assert len(replies) == 1
    assert replies[0].markdown == "one two three"
    methods = bot.slack.methods()
    assert "chat.postMessage" in methods and "chat.update" in methods
    assert replies[0].blocks[-1]["type"] == "context_actions"  # footer still there


async def test_fallback_edits_no_faster_than_tier_3_allows(bot):
    bot.slack.refuse["chat.startStream"] = "feature_not_enabled"
    bot.claude.then(Reply(chunks=tuple(f"word{i} " for i in range(60)), delay=0.05))  # ~3 s of text
    started = time.monotonic()
    await bot.mention("q")
    await bot.idle()
    seconds = time.monotonic() - started
    edits = bot.slack.methods().count("chat.update") + bot.slack.methods().count("chat.postMessage")
    assert edits <= seconds / 1.5 + 2  # one edit per 1.5 s, plus the final one


async def test_retried_event_and_second_copy_do_not_answer_twice(bot):
    ts, _ = await bot.mention("once please")  # delivered as message.channels and app_mention at once
    await deliver(bot.events_url, event_callback(mention("C1", ts, "once please"), event_id="Ev1"), retry_num=1)
    await bot.idle()
    assert len(bot.slack.thread("C1", ts)) == 1
    assert len(bot.claude.requests) == 1


async def test_feedback_button_is_acknowledged(bot):
    answer = Message("C1", "1.2", "1.1", text="An answer", bot_id="BBOT")
    response = await press_button(bot.events_url, answer, "UALICE", "answer_feedback", "helpful")
    assert response.status == 200


async def test_a_mention_in_a_group_dm_is_answered_in_its_thread_like_in_a_channel(bot):
    from bot.playground.slack_emulator import say

    message, _ = await say(bot.slack, bot.events_url, "G7", "<@UBOT> should we shard?", group_dm=True)
    await bot.idle()
    (reply,) = bot.slack.thread("G7", message.ts)
    assert reply.markdown == "Hello from **Claude**."
    await say(bot.slack, bot.events_url, "G7", "lunch?", group_dm=True)  # chatter there is left alone
    await bot.idle()
    assert len(bot.claude.requests) == 1
