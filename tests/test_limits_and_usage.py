"""What Claude costs, and the caps an operator sets: the ledger, daily limits, channels."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from conftest import start_bot
from test_cli import clean_env, run_cli

from bot.store import Store


async def test_every_claude_call_is_in_the_ledger_with_its_tokens_and_cost(bot, settings):
    await bot.mention("How should I shard?")
    await bot.idle()
    store = Store.in_data_dir(settings.data_dir)
    (agent_row,) = [r for r in store.usage_totals("agent", 1) if r.key == "backend-senior-engineer"]
    usage = bot.claude.usages[0]
    assert (agent_row.input_tokens, agent_row.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    assert agent_row.cache_write_tokens == usage["cache_creation_input_tokens"]
    # Sonnet 5.5: $2 in, $10 out (thinking included), cache writes 1.25x, cache reads $0.10.
    expected = (
        usage["input_tokens"] * 2
        + usage["cache_creation_input_tokens"] * 2 * 1.25
        + usage["cache_read_input_tokens"] * 0.10
        + usage["output_tokens"] * 10
    ) / 1e6
    assert usage["output_tokens"] > 1_500  # medium effort thought before it wrote
    assert abs(agent_row.cost_usd - expected) < 1e-9
    (user_row,) = store.usage_totals("user", 1)
    assert user_row.key == "UALICE" and user_row.calls == 2  # the routing call and the answer
    assert user_row.unpriced_calls == 0  # the router's Haiku 5.5 has a default price too
    (router_row,) = [r for r in store.usage_totals("agent", 1) if r.key == "(router)"]
    route = bot.claude.route_usages[0]
    assert router_row.cost_usd == pytest.approx(
        (route["input_tokens"] * 0.10 + route["cache_creation_input_tokens"] * 0.125 + route["output_tokens"] * 0.50)
        / 1e6
    )


async def test_a_user_over_the_daily_allowance_gets_a_polite_reply_and_no_claude_call(
    settings, fake_slack, fake_claude
):
    bot, server = await start_bot(replace(settings, user_daily_tokens=40_000), fake_slack, fake_claude)
    try:
        await bot.mention("first question")
        await bot.idle()
        Store.in_data_dir(settings.data_dir).record_usage(_spent("UALICE", 40_000))  # the rest of the day
        asked = len(fake_claude.requests)
        ts, _ = await bot.mention("second question")
        await bot.idle()
        (reply,) = fake_slack.thread("C1", ts)
        assert "today's allowance of 40,000 Claude tokens" in reply.markdown
        assert len(fake_claude.requests) == asked
        ts, _ = await bot.mention("mine", user="UBOB")  # others are not affected
        await bot.idle()
        assert fake_slack.thread("C1", ts)[0].markdown == "Hello from **Claude**."
    finally:
        await server.stop()


def _spent(user: str, tokens: int):
    from bot.claude import Usage
    from bot.usage import LedgerEntry, Requester

    return LedgerEntry(
        Requester(user, "C1", "1.0"),
        "answer",
        "backend-senior-engineer",
        "claude-sonnet-5-5",
        Usage(input_tokens=tokens),
        None,
        0.0,
        "earlier",
        None,
    )


async def test_questions_asked_at_once_never_spend_more_than_the_daily_allowance(settings, fake_slack, fake_claude):
    limit = 12_000  # less than one answer's output limit (medium effort: 32,000); eight answers spend ~30,000
    bot, server = await start_bot(replace(settings, user_daily_tokens=limit), fake_slack, fake_claude)
    try:
        asked = await asyncio.gather(*(bot.mention(f"question {n}", channel=f"C{n}") for n in range(8)))
        await bot.idle()
        spent = Store.in_data_dir(settings.data_dir).tokens_today("UALICE")
        assert 0 < spent <= limit
        replies = [fake_slack.thread(f"C{n}", ts)[-1].markdown for n, (ts, _) in enumerate(asked)]
        answered = [r for r in replies if r.startswith("Hello from")]
        refused = [r for r in replies if "left of today's allowance of 12,000" in r or "used today's allowance" in r]
        assert answered and len(answered) + len(refused) == 8, replies
        # An answer's output limit is what was left of the allowance, not its effort's 32,000.
        assert all(r["max_tokens"] < limit for r in fake_claude.requests)
    finally:
        await server.stop()


async def test_an_answer_cut_short_by_the_allowance_says_so(settings, fake_slack, fake_claude):
    from fakes.claude_api import Reply

    bot, server = await start_bot(replace(settings, user_daily_tokens=12_000), fake_slack, fake_claude)
    try:
        fake_claude.then(Reply(chunks=("word " * 4_000,)))
        ts, _ = await bot.mention("tell me everything")
        await bot.idle()
        shown = "".join(m.markdown for m in fake_slack.thread("C1", ts))
        assert "what was left of your daily allowance" in shown
        assert Store.in_data_dir(settings.data_dir).tokens_today("UALICE") <= 12_000
    finally:
        await server.stop()


async def test_a_review_over_the_allowance_is_refused_before_anything_is_fetched_or_posted(
    settings, fake_slack, fake_claude
):
    bot, server = await start_bot(replace(settings, user_daily_tokens=1_000), fake_slack, fake_claude)
    try:
        Store.in_data_dir(settings.data_dir).record_usage(_spent("UALICE", 1_000))
        shown, _ = await bot.review("https://github.com/acme/api/pull/7")
        await bot.idle()
        assert "today's allowance of 1,000 Claude tokens" in json.loads(shown)["text"]
        assert "chat.postMessage" not in fake_slack.methods() and not fake_claude.requests
    finally:
        await server.stop()


async def test_outside_the_allowed_channels_a_polite_line_and_no_claude_call(settings, fake_slack, fake_claude):
    bot, server = await start_bot(replace(settings, allowed_channels=frozenset({"C1"})), fake_slack, fake_claude)
    try:
        ts, _ = await bot.mention("hello", channel="C9")
        await bot.idle()
        (reply,) = fake_slack.thread("C9", ts)  # one reply, though the mention came as two events
        assert "not enabled in this channel" in reply.markdown
        shown, _ = await bot.review("```python\nx = 1\n```", channel="C9")
        assert "not enabled in this channel" in json.loads(shown)["text"]
        await bot.mention("hello", channel="C1")
        await bot.idle()
        assert len(fake_claude.requests) == 1
    finally:
        await server.stop()


async def test_usage_command_prints_totals_by_user_channel_and_agent(bot, settings, tmp_path):
    await bot.mention("q", channel="C1")
    await bot.mention("q", channel="C2", user="UBOB")
    await bot.idle()
    code, out, err = await run_cli(
        "usage", "--days", "1", env=clean_env(BOT_DATA_DIR=str(settings.data_dir)), cwd=tmp_path
    )
    assert code == 0, err
    for heading in ("by user", "by channel", "by agent"):
        assert heading in out
    assert "UALICE" in out and "UBOB" in out and "C2" in out and "backend-senior-engineer" in out
    assert "no price" not in out and "*" not in out  # every call priced, the router's included


async def test_an_attempt_that_broke_off_mid_stream_is_in_the_ledger_too(bot, settings):
    from fakes.claude_api import Reply, StreamError

    bot.claude.then(StreamError(chunks_before=("partial ",)), Reply(chunks=("whole",)))
    await bot.mention("q")
    await bot.idle()
    store = Store.in_data_dir(settings.data_dir)
    (row,) = [r for r in store.usage_totals("agent", 1) if r.key == "backend-senior-engineer"]
    assert row.calls == 2  # the lost attempt was billed as well


async def test_an_attempt_cut_by_the_answer_deadline_mid_stream_is_in_the_ledger(settings, fake_slack, fake_claude):
    from fakes.claude_api import Reply

    bot, server = await start_bot(replace(settings, answer_deadline_s=0.5, routing=False), fake_slack, fake_claude)
    try:
        fake_claude.then(Reply(chunks=("Half ", "of it"), delay=2.0))
        ts, _ = await bot.mention("q")
        await bot.idle()
        assert "took too long" in fake_slack.thread("C1", ts)[-1].markdown
        store = Store.in_data_dir(settings.data_dir)
        (row,) = [r for r in store.usage_totals("agent", 1) if r.key == "backend-senior-engineer"]
        billed = fake_claude.usages[0]  # message_start: the input, and one output token so far
        assert row.calls == 1 and row.input_tokens == billed["input_tokens"] and row.output_tokens == 1
    finally:
        await server.stop()
