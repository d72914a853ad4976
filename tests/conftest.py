"""Fixtures: the real bot (HTTP mode) wired to local fakes of Slack and Claude."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from fakes.claude_api import FakeClaude
from fakes.github_api import FakeGitHub

from bot import wiring
from bot.claude import Claude
from bot.config import Settings
from bot.playground.local_server import LocalServer
from bot.playground.slack_emulator import BOT_TOKEN, SIGNING_SECRET, SlackEmulator, run_command, say
from bot.slack.answers import ThreadAnswers
from bot.slack.app import SlackBot, create_app, slack_client
from bot.slack.budget import SlackBudget
from bot.slack.server import DISPATCHER, finish_dispatching, web_application
from bot.store import Store
from bot.wiring import create_answerer

ROOT = Path(__file__).resolve().parent.parent


# Claude's retries in tests: milliseconds apart, with jitter from a seeded generator. Production's
# (1 s, doubling up to 20 s, randomly jittered) made a test of four overloads take 2 to 15 s.
QUICK_RETRIES = {"backoff_s": 0.005, "max_backoff_s": 0.02}


@pytest.fixture(autouse=True)
def quick_claude_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Claude client a test wires through `create_answerer` (the bot, the playground) is
    built with QUICK_RETRIES and a seeded generator; production's defaults are untouched, and
    the CLI tests' processes run with them."""
    monkeypatch.setattr(wiring, "Claude", functools.partial(Claude, rng=random.Random(0), **QUICK_RETRIES))


@pytest.fixture
async def fake_slack() -> AsyncIterator[SlackEmulator]:
    fake = await SlackEmulator().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_claude() -> AsyncIterator[FakeClaude]:
    fake = await FakeClaude().start()
    yield fake
    await fake.stop()
    # Whatever the test was about, the bot sent nothing the real Messages API refuses.
    unexpected = [(status, why) for _, status, why in fake.refused if status not in fake.expected_refusals]
    assert not unexpected, f"requests the real API would refuse: {unexpected}"


@pytest.fixture
async def fake_github() -> AsyncIterator[FakeGitHub]:
    fake = await FakeGitHub().start()
    yield fake
    await fake.stop()


def bot_settings(
    fake_slack: SlackEmulator, fake_claude: FakeClaude, tmp_path: Path, github_url: str = "http://127.0.0.1:9"
) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url,
        anthropic_api_key="sk-ant-test-key",
        anthropic_base_url=fake_claude.url,
        data_dir=tmp_path / "data",
        github_api_url=github_url,
    )


@dataclass
class RunningBot:
    url: str
    answers: ThreadAnswers
    slack: SlackEmulator
    claude: FakeClaude
    dispatching: set = field(default_factory=set)  # events acked, not yet handed to Bolt (HTTP mode)

    @property
    def events_url(self) -> str:
        return self.url + "/slack/events"

    async def mention(
        self, text: str, channel: str = "C1", thread_ts: str | None = None, user: str = "UALICE", **kwargs
    ) -> tuple[str, float]:
        """A person mentions the bot; Slack delivers it as `message.*` and `app_mention` at
        once. Returns (the message's ts, seconds the slowest ack took)."""
        message, ack = await say(
            self.slack, self.events_url, channel, f"<@UBOT> {text}", thread_ts=thread_ts, user=user, **kwargs
        )
        return message.ts, ack

    async def say(self, text: str, channel: str = "C1", **kwargs) -> str:
        """A person writes a message (no mention of the bot needed); returns its ts."""
        message, _ = await say(self.slack, self.events_url, channel, text, **kwargs)
        return message.ts

    async def review(self, text: str, channel: str = "C1", user: str = "UALICE") -> tuple[str, float]:
        """Someone runs /backend-review; returns (what Slack showed them at once, ack seconds)."""
        response, body, seconds = await run_command(self.slack, self.events_url, text, channel=channel, user=user)
        assert response.status == 200
        return body, seconds

    async def answered(self, channel: str, ts: str) -> str:
        """Wait until the bot is idle; the text of its latest message after message `ts`."""
        await self.idle()
        replies = [m for m in self.slack.messages if m.channel == channel and m.bot_id and float(m.ts) > float(ts)]
        assert replies, "the bot did not answer"
        return replies[-1].markdown

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every answer in flight is finished."""
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0.01)
        while self.dispatching or self.answers.busy:
            assert time.monotonic() < deadline, "answers still in flight"
            await asyncio.sleep(0.01)


class BotServer(LocalServer):
    """The bot served in HTTP mode; stopping it stops the bot the way a deploy does."""

    def __init__(self, bot: SlackBot, grace: float = 5.0):
        super().__init__()
        self.bot = bot
        self.grace = grace
        self.app = web_application(bot)

    async def start(self):
        await self.bot.start()
        return await super().start()

    async def stop(self) -> None:
        await finish_dispatching(self.app)
        await self.bot.stop(self.grace)
        await super().stop()
        await self.bot.answers.close()


async def start_bot(
    settings: Settings, fake_slack: SlackEmulator, fake_claude: FakeClaude, budget: SlackBudget | None = None
) -> tuple[RunningBot, BotServer]:
    """The bot in HTTP mode, served exactly as `run --http` serves it (with `budget`: a Slack
    rate budget already partly spent)."""
    store = Store.in_data_dir(settings.data_dir)
    slack_bot = create_app(settings, create_answerer(settings, store=store), store, slack_client(settings, budget))
    server = await BotServer(slack_bot).start()
    dispatcher = server.app.get(DISPATCHER)
    return RunningBot(
        server.origin, slack_bot.answers, fake_slack, fake_claude, dispatcher.pending if dispatcher else set()
    ), server


@pytest.fixture
async def settings(
    fake_slack: SlackEmulator, fake_claude: FakeClaude, fake_github: FakeGitHub, tmp_path: Path
) -> Settings:
    return bot_settings(fake_slack, fake_claude, tmp_path, fake_github.url)


@pytest.fixture
async def bot(settings: Settings, fake_slack: SlackEmulator, fake_claude: FakeClaude) -> AsyncIterator[RunningBot]:
    running, server = await start_bot(settings, fake_slack, fake_claude)
    yield running
    await server.stop()


__all__ = ["RunningBot", "bot_settings", "replace", "start_bot"]
