"""Claude thinks before it writes on the 5.5 models: effort set on purpose (chat, reviews, an
agent's own), room for that thinking in max_tokens, a status that stays up through a long
think, and agents whose model Claude no longer serves still answered."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from conftest import ROOT, start_bot
from fakes.claude_api import Reply

from bot.slack import reply as slack_reply

CODE = "def take(queue):\n    item = queue[0]\n    del queue[0]\n    return item"


def long_answer(chars: int = 28_000) -> str:
    paragraphs, n = [], 0
    while sum(len(p) + 2 for p in paragraphs) < chars:
        paragraphs.append(f"Point {n}: " + "measure before you shard, then shard by tenant. " * 8)
        n += 1
    return "\n\n".join(paragraphs)


def bot_text(bot, channel: str, thread_ts: str) -> str:
    return "\n\n".join(m.markdown for m in bot.slack.thread(channel, thread_ts) if m.bot_id)


async def test_a_28000_character_review_at_high_effort_arrives_whole(bot):
    answer = long_answer()
    bot.claude.then(Reply(chunks=tuple(answer[i : i + 500] for i in range(0, len(answer), 500))))
    await bot.review(f"```python\n{CODE}\n```")
    await bot.idle(timeout=30)
    request = bot.claude.requests[0]
    # Reviews think harder, and max_tokens leaves room for that thinking and the whole review.
    assert request["output_config"] == {"effort": "high"} and request["max_tokens"] == 64_000
    post = next(m for m in bot.slack.top_level("C1") if m.bot_id)
    shown = bot_text(bot, "C1", post.ts)
    assert "length limit" not in shown
    last = answer.rsplit("\n\n", 1)[1]
    assert shown.count("Point ") == answer.count("Point ") and last.strip() in shown
    assert bot.claude.usages[0]["output_tokens"] > 4_000 + len(answer) // 4  # thinking, then the answer


async def test_chat_effort_review_effort_and_an_agents_own_effort_are_what_claude_is_sent(
    settings, fake_slack, fake_claude, tmp_path
):
    folder = tmp_path / "agents"
    folder.mkdir()
    text = (ROOT / "agents" / "backend-senior-engineer.md").read_text()
    (folder / "backend-senior-engineer.md").write_text(text)
    (folder / "quick.md").write_text("---\nname: quick\ndescription: Quick answers.\neffort: low\n---\nBe quick.\n")
    tuned = replace(settings, agents_dir=folder, effort="low", review_effort="xhigh", routing=False)
    bot, server = await start_bot(tuned, fake_slack, fake_claude)
    try:
        await bot.mention("how do I page a large table?")
        await bot.review(f"```python\n{CODE}\n```")
        await bot.idle()
        efforts = {(r["output_config"]["effort"], r["max_tokens"]) for r in fake_claude.requests}
        assert efforts == {("low", 16_000), ("xhigh", 96_000)}  # the question, and the review
    finally:
        await server.stop()
    bot, server = await start_bot(replace(tuned, default_agent="quick", review_agent="quick"), fake_slack, fake_claude)
    try:
        await bot.review(f"```python\n{CODE}\n```")
        await bot.idle()
        assert fake_claude.requests[-1]["output_config"] == {"effort": "low"}  # the agent file wins
    finally:
        await server.stop()


async def test_a_tight_max_tokens_still_ends_with_an_honest_note(settings, fake_slack, fake_claude):
    bot, server = await start_bot(replace(settings, max_tokens=2_000), fake_slack, fake_claude)
    try:
        fake_claude.then(Reply(chunks=("A long answer " * 200,)))  # 700 tokens after 1,500 of thinking
        ts, _ = await bot.mention("explain everything")
        await bot.idle()
        (reply,) = fake_slack.thread("C1", ts)
        assert "reached the length limit (2,000 tokens, thinking included)" in reply.markdown
        assert fake_claude.requests[0]["max_tokens"] == 2_000
    finally:
        await server.stop()


async def test_the_thinking_status_stays_up_through_a_think_longer_than_slacks_status_timeout(bot, monkeypatch):
    bot.slack.status_timeout_s = 0.6  # Slack: two minutes; scaled down with the refresh below
    monkeypatch.setattr(slack_reply, "STATUS_REFRESH_S", 0.25)
    bot.claude.then(Reply(chunks=("Done thinking.",), first_delay=2.0))
    ts, _ = await bot.mention("a hard question")
    await bot.idle()
    assert [s for s in bot.slack.expired_statuses if s[1] == ts] == []  # never lapsed while Claude thought
    assert sum(1 for s in bot.slack.statuses if s == ("C1", ts, "is thinking…")) >= 4
    assert bot.slack.thread("C1", ts)[0].markdown == "Done thinking."
    assert bot.slack.status_now[("C1", ts)] == ""


async def test_after_a_retry_the_status_says_thinking_again_when_claude_starts_thinking(bot):
    from fakes.claude_api import Failure

    bot.claude.then(Failure(), Reply(chunks=("ok",), first_delay=0.3))
    ts, _ = await bot.mention("q")
    await bot.idle()
    said = [s for (_, thread, s) in bot.slack.statuses if thread == ts]
    assert said[:3] == ["is thinking…", "Claude is busy, retrying…", "is thinking…"]


@pytest.mark.parametrize("retired", ["claude-sonnet-4-20250514"])
async def test_an_agent_whose_model_is_gone_is_answered_by_the_default_model_and_the_footer_says_so(
    settings, fake_slack, fake_claude, tmp_path, retired
):
    folder = tmp_path / "agents"
    folder.mkdir()
    source = (ROOT / "agents" / "backend-senior-engineer.md").read_text()
    (folder / "backend-senior-engineer.md").write_text(source.replace("model: sonnet", f"model: {retired}"))
    fake_claude.expected_refusals = {404}  # the retired model is the point
    bot, server = await start_bot(replace(settings, agents_dir=folder), fake_slack, fake_claude)
    try:
        ts, _ = await bot.mention("how do I size a pool?")
        await bot.idle()
        assert [r["model"] for r in fake_claude.requests] == [retired, "claude-sonnet-5-5"]
        (reply,) = fake_slack.thread("C1", ts)
        assert reply.markdown == "Hello from **Claude**."
        footer = " ".join(e["text"] for e in reply.blocks[0]["elements"])
        assert "`claude-sonnet-5-5`" in footer and f"`{retired}` is no longer served" in footer
    finally:
        await server.stop()


async def test_agents_and_check_warn_about_model_ids_that_are_not_current(tmp_path):
    from test_cli import MANIFEST, clean_env, run_cli

    folder = tmp_path / "agents"
    shutil.copytree(ROOT / "agents", folder)
    (folder / "old.md").write_text("---\nname: old\ndescription: Old.\nmodel: claude-sonnet-4-20250514\n---\nHi\n")
    env = clean_env(
        BOT_AGENTS_DIR=str(folder), SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", ANTHROPIC_API_KEY="sk-ant-1"
    )
    for command in (["agents"], ["check", "--offline", "--manifest", MANIFEST]):
        code, out, err = await run_cli(*command, env=env, cwd=tmp_path)
        assert code == 0, err  # a warning, not an error
        assert "'claude-sonnet-4-20250514' is not one of the current models" in out + err
    assert "thinking: answers at effort medium (max_tokens 32,000), reviews at high (64,000)" in out
    code, _, err = await run_cli("check", "--manifest", MANIFEST, env={**env, "BOT_EFFORT": "loud"}, cwd=tmp_path)
    assert code == 2 and "BOT_EFFORT must be one of low, medium, high, xhigh, max, got 'loud'" in err


async def test_when_the_default_model_itself_is_gone_the_admin_is_told_which_setting(settings, fake_slack, fake_claude):
    fake_claude.expected_refusals = {404}  # the retired model is the point
    bot, server = await start_bot(
        replace(
            settings, default_model="claude-sonnet-4-20250514", model_aliases={"sonnet": "claude-sonnet-4-20250514"}
        ),
        fake_slack,
        fake_claude,
    )
    try:
        ts, _ = await bot.mention("hi")
        await bot.idle()
        (reply,) = fake_slack.thread("C1", ts)
        assert "doesn't serve the default model `claude-sonnet-4-20250514`" in reply.markdown
        assert "BOT_DEFAULT_MODEL" in reply.markdown and len(fake_claude.requests) == 1
    finally:
        await server.stop()
