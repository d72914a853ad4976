"""The playground: the real bot against the emulated Slack, as its page and its users see it
(the browser itself is driven in test_playground_browser.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from conftest import RunningBot
from fakes.claude_api import FakeClaude, Reply

from bot.agents import load_catalog
from bot.config import Settings
from bot.playground.app import CHANNELS, Playground
from bot.playground.dry_run import DryRunReport
from bot.playground.render import message_view
from bot.playground.slack_emulator import Message
from bot.usage import Price

GENERAL, DM = CHANNELS[0].id, CHANNELS[1].id
SECRET = "AKIAIOSFODNN7EXAMPLF"


async def started(settings: Settings) -> AsyncIterator[Playground]:
    playground = await Playground(settings, load_catalog(settings), port=0).start()
    yield playground
    await playground.stop()


@pytest.fixture
async def dry_run(tmp_path: Path) -> AsyncIterator[Playground]:
    """No Anthropic key, no base URL: the playground a newcomer gets."""
    async for playground in started(Settings(data_dir=tmp_path / "data")):
        yield playground


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Playground]:
    """Answers from (the test suite's fake of) Claude."""
    async for playground in started(settings):
        yield playground


def watching(playground: Playground, claude: FakeClaude | None = None) -> RunningBot:
    return RunningBot(playground.events_url.removesuffix("/slack/events"), playground.answers, playground.slack, claude)  # type: ignore[arg-type]


async def test_dry_run_shows_what_would_be_sent_and_sends_nothing(dry_run):
    sent = await dry_run.send(GENERAL, f"@backend-engineer why is this slow? the key is {SECRET}")
    answer = await watching(dry_run).answered(GENERAL, sent["ts"])
    assert answer.startswith("🧪 **Dry run: nothing was sent to Claude.**")
    assert "**Agent:** backend-senior-engineer" in answer and "`claude-sonnet-5-5`" in answer
    assert "**Redacted:** 1 AWS access key" in answer
    assert "you: why is this slow? the key is [REDACTED aws-access-key]" in answer
    assert SECRET not in answer
    report = dry_run.dry_run.reports[0]
    assert report.agent == "backend-senior-engineer" and report.messages[-1].text.endswith("[REDACTED aws-access-key]")
    # answered in the thread with the usual footer, which names no model as if it had answered
    reply = dry_run.slack.thread(GENERAL, sent["ts"])[-1]
    assert [b["type"] for b in reply.blocks][-2:] == ["context", "context_actions"]
    assert "`claude-sonnet-5-5 (dry run)`" in json.dumps(reply.blocks, ensure_ascii=False)


async def test_dry_run_follow_up_is_described_with_the_whole_thread(dry_run):
    sent = await dry_run.send(GENERAL, f"@backend-engineer should we shard the orders table? {SECRET}")
    bot = watching(dry_run)
    await bot.answered(GENERAL, sent["ts"])
    follow_up = await dry_run.send(GENERAL, "and if we only have 50 GB?", thread_ts=sent["ts"])
    answer = await bot.answered(GENERAL, follow_up["ts"])
    assert "**Conversation:** 3 messages built from the thread" in answer
    assert [m.role for m in dry_run.dry_run.reports[-1].messages] == ["user", "assistant", "user"]
    # the first report, back in the thread, is neither counted nor passed off as Claude's answer
    assert "**Redacted:** 1 AWS access key" in answer
    assert "**Left out of the estimate:** 1 earlier dry-run report in the thread" in answer
    assert "> (an earlier dry-run report: in a live run, Claude's answer)" in answer
    first, second = dry_run.dry_run.reports
    assert second.input_tokens - first.input_tokens < 30  # the follow-up's own words, not the report


async def test_dry_run_answers_direct_messages_without_a_mention(dry_run):
    sent = await dry_run.send(DM, "what's a good connection pool size for 8 cores?")
    assert "Dry run" in await watching(dry_run).answered(DM, sent["ts"])


def test_dry_run_report_estimates_tokens_and_cost_with_the_bots_prices(tmp_path):
    catalog = load_catalog(Settings(data_dir=tmp_path))
    agent = catalog.agents[0]
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 1000,
        "stream": True,
        "output_config": {"effort": "medium"},
        "system": [{"type": "text", "text": agent.system_prompt}, {"type": "text", "text": "x" * 30}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "y" * 300}]}],
    }
    report = DryRunReport.of(body, catalog, {"claude-sonnet-5-5": Price(2.0, 10.0, cache_read=0.1)})
    tokens = -(-(len(agent.system_prompt) + 330) // 3)
    assert (report.agent, report.input_tokens, report.redacted) == (agent.name, tokens, {})
    text = report.markdown()
    assert f"at most about ${tokens * 2 * 1.25 / 1e6:.4f} for the input (all of it written to the prompt cache" in text
    assert "read back at $0.1 per million tokens" in text
    assert "at most $0.0100 for thinking and the answer" in text
    assert "effort `medium`, thinking and answering in at most 1,000 tokens" in text
    assert "**Redacted:** nothing" in text
    unknown = DryRunReport.of({**body, "model": "claude-next", "system": "custom"}, catalog, {})
    assert unknown.agent is None and "no price known for `claude-next` (set BOT_PRICES)" in unknown.markdown()


async def test_the_page_follows_an_answer_as_it_streams(live, fake_claude):
    fake_claude.then(Reply(chunks=("Use keyset ", "pagination."), first_delay=0.3, delay=0.2))
    updates = []
    async with aiohttp.ClientSession() as session, session.ws_connect(live.url + "ws") as page:
        hello = await page.receive_json()
        assert hello["dry_run"] is False and [c["id"] for c in hello["channels"]] == [GENERAL, DM]
        await page.send_json({"type": "send", "channel": GENERAL, "text": "@backend-engineer how to page 1M rows?"})
        while not any(u.get("type") == "message" and u["message"]["feedback"] for u in updates):
            updates.append(await asyncio.wait_for(page.receive_json(), 10))
    kinds = [u["type"] for u in updates]
    asked = next(u["message"] for u in updates if u["type"] == "message" and not u["message"]["is_bot"])
    assert asked["html"] == '<span class="mention">@backend-engineer</span> how to page 1M rows?'
    assert {"type": "sent", "channel": GENERAL, "ts": asked["ts"], "thread_ts": None, "mentions_bot": True} in updates
    assert {"type": "status", "channel": GENERAL, "thread_ts": asked["ts"], "status": "is thinking…"} in updates
    answers = [u["message"] for u in updates if u["type"] == "message" and u["message"]["is_bot"]]
    assert answers[0]["streaming"] and not answers[-1]["streaming"]
    assert answers[-1]["html"] == "<p>Use keyset pagination.</p>\n" and answers[-1]["thread_ts"] == asked["ts"]
    assert "backend-senior-engineer" in answers[-1]["footer"][0]
    first_text = next(i for i, u in enumerate(updates) if u["type"] == "message" and u["message"]["is_bot"])
    assert kinds.index("status") < first_text  # the status shows first, then the text
    assert any("👀" in u["message"]["reactions"] for u in updates if u["type"] == "message")  # heard at once
    assert "how to page 1M rows?" in json.dumps(fake_claude.requests[0]["messages"])


async def test_unknown_commands_and_feedback_are_answered_on_the_page(live, fake_claude, caplog):
    caplog.set_level("INFO")
    assert "is not a command here" in (await live.send(GENERAL, "/deploy now"))["html"]
    sent = await live.send(GENERAL, "@backend-engineer hello")
    await watching(live, fake_claude).idle()
    answer_ts = live.slack.thread(GENERAL, sent["ts"])[-1].ts
    await live.feedback(GENERAL, answer_ts, "helpful")
    assert any(r.getMessage() == "feedback" and r.fields.get("value") == "helpful" for r in caplog.records)


def test_what_people_type_is_shown_as_text_never_as_html():
    typed = (
        "&lt;img src=x onerror=alert(1)&gt; *hi* <javascript:alert(1)|click> "
        '<https://x.example/" onmouseover="alert(1)|docs>'
    )  # as Slack sends it: entities, links
    message = Message(
        "C1",
        "1.1",
        None,
        text=typed,
        user="UALICE",
        blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": "*agent* · `model`"}]}],
    )
    view = message_view(message, {"UALICE": "Alice"})
    assert view.html.startswith("&lt;img src=x onerror=alert(1)&gt; <strong>hi</strong> click ")
    assert '<a href="https://x.example/&quot; onmouseover=&quot;alert(1)" target="_blank"' in view.html
    assert view.footer == ("<strong>agent</strong> · <code>model</code>",)
    answer = Message(
        "C1",
        "1.2",
        "1.1",
        text="![x](https://tracker.example/p.gif) [a](javascript:alert(1))",
        bot_id="BBOT",
        is_markdown=True,
    )
    shown = message_view(answer, {}).html
    assert "<img" not in shown and "javascript:" not in shown.split("[a]")[0] and 'href="javascript' not in shown


async def test_other_web_pages_cannot_drive_the_bot(live):
    """A page on another site, open in the same browser, must not spend the user's Claude key."""
    async with aiohttp.ClientSession() as session:
        for headers in ({"Origin": "https://evil.example"}, {"Host": "rebound.example"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(live.url + "ws", headers=headers)
            assert refused.value.status == 403
        async with session.ws_connect(live.url + "ws", headers={"Origin": live.url.rstrip("/")}) as page:
            assert (await page.receive_json())["type"] == "hello"


async def test_a_gateway_without_a_key_answers_live(settings, fake_claude):
    """ANTHROPIC_BASE_URL alone (a gateway that holds the key) is live, not a dry run."""
    gateway = replace(settings, anthropic_api_key=None)
    async for playground in started(gateway):
        assert playground.dry_run is None and "Messages API at " + fake_claude.url in playground.mode.banner
        sent = await playground.send(GENERAL, "@backend-engineer hello")
        assert await watching(playground, fake_claude).answered(GENERAL, sent["ts"]) == "Hello from **Claude**."


async def test_a_long_answer_continues_in_a_second_message_on_the_page(live, fake_claude):
    paragraph = "Partition the table by month and keep the hot partition small. " * 30 + "\n\n"
    fake_claude.then(Reply(chunks=(paragraph,) * 8))  # ~15,000 characters: over one Slack message
    sent = await live.send(GENERAL, "@backend-engineer tell me everything about partitioning")
    await watching(live, fake_claude).idle()
    async with aiohttp.ClientSession() as session, session.ws_connect(live.url + "ws") as page:
        hello = await page.receive_json()  # a page opened now shows the thread as it stands
    answers = [m for m in hello["messages"] if m and m["is_bot"] and m["thread_ts"] == sent["ts"]]
    assert len(answers) == 2 and not answers[0]["feedback"] and answers[1]["feedback"]
    assert sum(a["html"].count("Partition the table") for a in answers) == 8 * 30
