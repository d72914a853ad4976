"""Each new conversation goes to the agent whose description fits, chosen by one small
Claude call; the thread keeps its agent."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from conftest import ROOT, start_bot
from fakes.claude_api import Failure, Reply, Route

FIXTURES = ROOT / "tests" / "agent_fixtures"


@pytest.fixture
def three_agents(settings, tmp_path):
    folder = tmp_path / "agents"
    folder.mkdir()
    shutil.copy(ROOT / "agents" / "backend-senior-engineer.md", folder)
    shutil.copy(FIXTURES / "single-quoted.md", folder / "sql-tuner.md")
    shutil.copy(FIXTURES / "block-scalar.md", folder / "incident-commander.md")
    return replace(settings, agents_dir=folder)


@pytest.fixture
async def routed_bot(three_agents, fake_slack, fake_claude):
    bot, server = await start_bot(three_agents, fake_slack, fake_claude)
    yield bot
    await server.stop()


async def test_a_new_question_is_routed_by_a_small_structured_output_call_and_answered_by_that_agent(routed_bot):
    bot = routed_bot
    bot.claude.routes.append(Route("sql-tuner"))
    ts, _ = await bot.mention("Why is SELECT * FROM orders WHERE user_id = 7 slow?")
    await bot.idle()
    (route,) = bot.claude.route_requests
    assert route["model"] == "claude-haiku-5-5"
    # No forced tool (refused on the 5.5 models): JSON held to a schema naming the loaded agents.
    assert "tools" not in route and "tool_choice" not in route
    assert route["output_config"]["format"]["schema"]["properties"]["agent"]["enum"] == [
        "backend-senior-engineer",
        "incident-commander",
        "sql-tuner",
        "none",
    ]
    # As little thinking as Haiku 5.5 allows, so the output is the answer.
    assert route["output_config"]["effort"] == "low" and route["thinking"] == {"type": "disabled"}
    system = route["system"][0]
    assert system["cache_control"] == {"type": "ephemeral"}
    assert "<example>" in system["text"]  # descriptions with their examples
    assert "Runs incident response for outages." in system["text"]
    assert "SELECT * FROM orders" in route["messages"][0]["content"]

    (answer,) = bot.claude.requests
    assert answer["model"] == "claude-haiku-5-5"  # sql-tuner says `model: haiku`
    assert answer["system"][0]["text"] == "You tune SQL."
    footer = bot.slack.thread("C1", ts)[0].blocks[0]["elements"][0]["text"]
    assert footer.startswith("🟢 *sql-tuner*")


@pytest.mark.parametrize(
    "router_model, thinking",
    [
        ("claude-haiku-5-5", {"type": "disabled"}),
        ("claude-sonnet-5-5", {"type": "between_tools"}),  # Sonnet 5.5 refuses "disabled"
        ("claude-opus-5-5", None),  # Opus 5.5 always thinks: low effort is the least, and max_tokens has room
    ],
)
async def test_routing_works_on_every_current_router_model_under_its_rules(
    three_agents, fake_slack, fake_claude, router_model, thinking
):
    bot, server = await start_bot(replace(three_agents, router_model=router_model), fake_slack, fake_claude)
    try:
        fake_claude.routes.append(Route("incident-commander"))
        _ts, _ = await bot.mention("prod is down")
        await bot.idle()
        (route,) = fake_claude.route_requests
        assert route.get("thinking") == thinking
        assert fake_claude.requests[0]["system"][0]["text"] == "You run incidents."
        assert fake_claude.refused == []
    finally:
        await server.stop()


async def test_one_overload_or_timeout_of_the_router_is_retried(three_agents, fake_slack, fake_claude):
    bot, server = await start_bot(replace(three_agents, router_timeout_s=2.0), fake_slack, fake_claude)
    try:
        fake_claude.routes.extend([Failure(), Route("sql-tuner")])  # a 529, then the answer
        await bot.mention("index advice?")
        await bot.idle()
        fake_claude.routes.extend([Route("sql-tuner", delay=5), Route("sql-tuner")])  # a hang, then the answer
        await bot.mention("another index question", channel="C2")
        await bot.idle()
        assert len(fake_claude.route_requests) == 4
        assert [r["system"][0]["text"] for r in fake_claude.requests] == ["You tune SQL."] * 2
    finally:
        await server.stop()


async def test_follow_ups_stay_with_the_threads_agent_without_routing_again(routed_bot):
    bot = routed_bot
    bot.claude.routes.append(Route("incident-commander"))
    ts, _ = await bot.mention("prod is down, 500s everywhere")
    await bot.idle()
    await bot.answered("C1", await bot.say("what next?", thread_ts=ts))
    assert len(bot.claude.route_requests) == 1
    assert [r["system"][0]["text"] for r in bot.claude.requests] == ["You run incidents."] * 2


async def test_when_no_agent_fits_the_thread_gets_what_the_bot_can_help_with(routed_bot):
    bot = routed_bot
    bot.claude.routes.append(Route("none"))
    ts, _ = await bot.mention("what's the weather in Paris?")
    await bot.idle()
    (reply,) = bot.slack.thread("C1", ts)
    assert bot.claude.requests == []
    assert "I can help with" in reply.markdown and "⚠️" not in reply.markdown
    for line in (
        "*backend-senior-engineer* — Use this agent when working on backend architecture",
        "*incident-commander* — Runs incident response for outages.",
        "*sql-tuner* — Tunes slow SQL queries and indexes.",
    ):
        assert line in reply.markdown


@pytest.mark.parametrize(
    "trouble",
    [
        [Failure(status=500, error_type="api_error")] * 2,  # still failing when retried
        [Failure(status=400, error_type="invalid_request_error")],  # not retried
        [Route("none", stop_reason="refusal")],  # declined: no JSON
        [Route("sql-tuner", delay=20)] * 2,  # slower than the router's timeout, twice
    ],
)
async def test_a_failing_router_never_blocks_the_answer_the_default_agent_takes_it(
    three_agents, fake_slack, fake_claude, trouble
):
    bot, server = await start_bot(replace(three_agents, router_timeout_s=0.5), fake_slack, fake_claude)
    try:
        fake_claude.routes.extend(trouble)
        ts, _ = await bot.mention("how do I size a connection pool?")
        await bot.idle(timeout=30)
        (answer,) = fake_claude.requests
        assert answer["system"][0]["text"].startswith("You are a Senior Backend Engineer")
        assert bot.slack.thread("C1", ts)[0].markdown == "Hello from **Claude**."
    finally:
        await server.stop()


async def test_routing_off_sends_everything_to_the_default_agent(three_agents, fake_slack, fake_claude):
    bot, server = await start_bot(replace(three_agents, routing=False), fake_slack, fake_claude)
    try:
        await bot.mention("Why is my query slow?")
        await bot.idle()
        assert fake_claude.route_requests == []
        assert fake_claude.requests[0]["system"][0]["text"].startswith("You are a Senior Backend Engineer")
    finally:
        await server.stop()


async def test_reviews_go_to_the_review_agent_without_routing(routed_bot):
    bot = routed_bot
    await bot.review("```python\nx = 1\n```")
    await bot.idle()
    assert bot.claude.route_requests == []
    assert bot.claude.requests[0]["system"][0]["text"].startswith("You are a Senior Backend Engineer")


async def test_the_threads_agent_survives_a_restart(three_agents, fake_slack, fake_claude):
    bot, server = await start_bot(three_agents, fake_slack, fake_claude)
    fake_claude.routes.append(Route("sql-tuner"))
    ts, _ = await bot.mention("index advice?")
    await bot.idle()
    await server.stop()
    bot, server = await start_bot(three_agents, fake_slack, fake_claude)
    try:
        await bot.answered("C1", await bot.say("and for joins?", thread_ts=ts))
        assert len(fake_claude.route_requests) == 1
        assert fake_claude.requests[-1]["system"][0]["text"] == "You tune SQL."
    finally:
        await server.stop()


async def test_follow_ups_in_a_review_thread_stay_with_the_review_agent(routed_bot):
    bot = routed_bot
    bot.claude.default_route = "sql-tuner"
    await bot.review("```python\nx = 1\n```")
    await bot.idle()
    post = next(m for m in bot.slack.top_level("C1") if m.bot_id)
    await bot.answered("C1", await bot.say("why?", thread_ts=post.ts))
    assert bot.claude.route_requests == []
    assert all(r["system"][0]["text"].startswith("You are a Senior Backend Engineer") for r in bot.claude.requests)


async def test_a_thread_no_agent_fitted_is_not_answered_again_unless_mentioned(routed_bot):
    bot = routed_bot
    bot.claude.routes.append(Route("none"))
    ts, _ = await bot.mention("weather?")
    await bot.idle()
    await bot.say("haha ok", thread_ts=ts, user="UBOB")
    await bot.idle()
    assert len(bot.claude.route_requests) == 1 and len(bot.slack.thread("C1", ts)) == 2  # "haha ok" unanswered
    await bot.mention("how do I index this table?", thread_ts=ts)
    await bot.idle()
    assert len(bot.claude.route_requests) == 2


async def test_the_router_always_sees_the_question_even_after_a_long_opening(routed_bot):
    bot = routed_bot
    parent = bot.slack.post_user_message("C1", "incident log " + "x" * 10_000, user="UBOB")
    await bot.mention("SELECT is slow, why?", thread_ts=parent.ts)
    await bot.idle()
    question = bot.claude.route_requests[0]["messages"][0]["content"]
    assert "SELECT is slow, why?" in question and "incident log" in question


async def test_with_one_agent_the_answer_starts_at_once_and_the_router_only_declines_off_topic(bot):
    # The shipped agent alone: routing only tells on-topic from off-topic, beside the answer.
    bot.claude.routes.append(Route("backend-senior-engineer", delay=0.5))
    ts, _ = await bot.mention("how do I size a connection pool?")
    await bot.idle()
    assert bot.claude.timeline == ["answer asked", "route asked", "route answered"] or bot.claude.timeline == [
        "route asked",
        "answer asked",
        "route answered",
    ]
    assert bot.slack.thread("C1", ts)[0].markdown == "Hello from **Claude**."

    bot.claude.routes.append(Route("none", delay=0.5))
    bot.claude.then(Reply(chunks=("Paris will be sunny.",)))  # the answer is ready before the verdict
    ts, _ = await bot.mention("what's the weather in Paris?")
    await bot.idle()
    (reply,) = bot.slack.thread("C1", ts)
    assert "I can help with" in reply.markdown and "sunny" not in reply.markdown
    assert bot.claude.route_requests[-1]["output_config"]["format"]["schema"]["properties"]["agent"]["enum"] == [
        "backend-senior-engineer",
        "none",
    ]


async def test_an_off_topic_verdict_cuts_a_long_think_short_and_the_bill_is_kept(bot, settings):
    from bot.store import Store

    bot.claude.routes.append(Route("none", delay=0.3))
    bot.claude.then(Reply(chunks=("Paris will be sunny.",), first_delay=30))  # thinking for 30 s
    ts, _ = await bot.mention("what's the weather in Paris?")
    await bot.idle(timeout=5)  # told at once, not after the 30 s of thinking
    (reply,) = bot.slack.thread("C1", ts)
    assert "I can help with" in reply.markdown
    rows = {r.key: r for r in Store.in_data_dir(settings.data_dir).usage_totals("agent", 1)}
    answer = rows["backend-senior-engineer"]
    assert answer.calls == 1 and answer.cost_usd > 0  # the answer's start was billed, and recorded


async def test_an_answer_with_no_text_found_off_topic_is_still_in_the_ledger(bot, settings):
    from bot.store import Store

    bot.claude.routes.append(Route("none", delay=0.3))
    bot.claude.then(Reply(chunks=()))  # finished (thinking only) before the verdict
    ts, _ = await bot.mention("tell me a joke")
    await bot.idle()
    assert "I can help with" in bot.slack.thread("C1", ts)[0].markdown
    (row,) = [
        r for r in Store.in_data_dir(settings.data_dir).usage_totals("agent", 1) if r.key == "backend-senior-engineer"
    ]
    assert row.output_tokens == bot.claude.usages[0]["output_tokens"] > 0


async def test_a_router_whose_thinking_uses_up_max_tokens_falls_back_and_its_bill_is_kept(
    three_agents, fake_slack, fake_claude, monkeypatch
):
    from bot import router
    from bot.store import Store

    monkeypatch.setattr(router, "MAX_TOKENS", 64)  # what a forced-tool router once had: Opus thinks past it
    bot, server = await start_bot(replace(three_agents, router_model="claude-opus-5-5"), fake_slack, fake_claude)
    try:
        await bot.mention("index advice?")
        await bot.idle()
        assert fake_claude.requests[0]["system"][0]["text"].startswith("You are a Senior Backend Engineer")
        (row,) = [r for r in Store.in_data_dir(three_agents.data_dir).usage_totals("agent", 1) if r.key == "(router)"]
        assert row.output_tokens == 64
    finally:
        await server.stop()
