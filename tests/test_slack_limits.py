"""Slack as it really is: rate tiers enforced by the emulator (429 + Retry-After), a budget the
bot spends on purpose, answers that degrade from streamed to edited to posted whole, and
streams that open with their first text and always end complete."""

from __future__ import annotations

import asyncio

import pytest
from conftest import start_bot
from fakes.claude_api import Reply

from bot.slack.budget import SlackBudget

WORDS = tuple(f"word{i} " for i in range(20))
ANSWER = "".join(WORDS)


@pytest.fixture
async def budgeted(settings, fake_slack, fake_claude):
    """The bot, and its Slack budget for the test to spend."""
    budget = SlackBudget()
    bot, server = await start_bot(settings, fake_slack, fake_claude, budget)
    yield bot, budget
    await server.stop()


def spend_all(budget: SlackBudget, *methods: str) -> None:
    """Use up the allowance for `methods` (as other answers did a moment ago): just before the
    question, so none of it has come back by the time the answer's first text is ready."""
    for method in methods:
        budget.used(method, count=int(budget.available(method)))


def footer(message) -> bool:
    return any(block.get("type") == "context_actions" for block in message.blocks)


async def seen_while_answering(bot, channel: str, ts: str) -> list[str]:
    """What the thread showed of the answer while it was being written."""
    seen = []
    for _ in range(200):  # the answer is queued just after the event's ack
        if bot.answers.busy:
            break
        await asyncio.sleep(0.01)
    while bot.answers.busy:
        replies = [m.markdown for m in bot.slack.thread(channel, ts) if m.bot_id]
        if replies and replies[-1] not in seen:
            seen.append(replies[-1])
        await asyncio.sleep(0.02)
    return seen


async def test_a_burst_of_questions_is_answered_completely_once_each_without_a_single_429(bot):
    bot.claude.default = Reply(chunks=WORDS, delay=0.03, first_delay=0.2)
    asked = [await bot.mention(f"question {n}", channel=f"C{n % 5}", user=f"U{n % 12:04d}") for n in range(60)]
    await bot.idle(timeout=120)
    for n, (ts, _) in enumerate(asked):
        (reply,) = [m for m in bot.slack.thread(f"C{n % 5}", ts) if m.bot_id]
        assert reply.markdown == ANSWER and footer(reply) and not reply.streaming
    assert bot.slack.rate_limited == []  # the emulator enforces the tiers: the budget kept to them
    methods = bot.slack.methods()
    streamed = methods.count("chat.startStream")
    assert 10 <= streamed < len(asked)  # streamed while Tier 2 allowed, the rest degraded
    assert methods.count("chat.postMessage") == len(asked) - streamed  # posted (then edited) or posted whole
    assert methods.count("reactions.add") < len(asked)  # cosmetic, so the first to go


async def test_past_the_stream_budget_the_first_text_is_posted_then_edited(budgeted):
    bot, budget = budgeted
    bot.claude.then(Reply(chunks=WORDS, delay=0.25))  # 5 s of text
    spend_all(budget, "chat.startStream")
    ts, _ = await bot.mention("q")
    seen = await seen_while_answering(bot, "C1", ts)
    assert seen[0] != ANSWER and ANSWER.startswith(seen[0])  # text showed before the end
    (reply,) = bot.slack.thread("C1", ts)
    assert reply.markdown == ANSWER and footer(reply)
    assert "chat.startStream" not in bot.slack.methods() and "chat.update" in bot.slack.methods()


async def test_past_the_edit_budget_too_the_answer_is_posted_whole_when_complete(budgeted):
    bot, budget = budgeted
    bot.claude.then(Reply(chunks=WORDS, delay=0.1))
    spend_all(budget, "chat.startStream", "chat.update")
    ts, _ = await bot.mention("q")
    seen = await seen_while_answering(bot, "C1", ts)
    assert seen in ([], [ANSWER])  # nothing partial, ever
    (reply,) = bot.slack.thread("C1", ts)
    assert reply.markdown == ANSWER and footer(reply)
    assert ("C1", ts, "is thinking…") in bot.slack.statuses  # the status is never skipped
    methods = bot.slack.methods()
    assert "chat.startStream" not in methods and "chat.update" not in methods
    assert methods.count("chat.postMessage") == 1


async def test_the_eyes_reaction_is_the_first_thing_to_go_when_budget_is_short(budgeted):
    bot, budget = budgeted
    spend_all(budget, "reactions.remove")
    ts, _ = await bot.mention("q")
    await bot.idle()
    assert "reactions.add" not in bot.slack.methods()  # not added when it could not be taken away
    assert bot.slack.thread("C1", ts)[0].markdown == "Hello from **Claude**."


async def test_no_stream_is_ever_opened_without_text(bot):
    bot.claude.then(Reply(chunks=("Hello from **Claude**.",)), Reply(chunks=()), Reply(chunks=WORDS, delay=0.05))
    asked = [await bot.mention(f"q{n}", channel=f"C{n}") for n in range(3)]
    await bot.idle()
    for n, (ts, _) in enumerate(asked):
        (reply,) = bot.slack.thread(f"C{n}", ts)
        assert footer(reply) and not reply.streaming
    replies = [bot.slack.thread(f"C{n}", ts)[0].markdown for n, (ts, _) in enumerate(asked)]
    assert sum("empty answer" in text for text in replies) == 1  # posted whole: no stream at all
    opened = [c.args for c in bot.slack.calls if c.method == "chat.startStream"]
    assert opened and all(args.get("markdown_text") or args.get("chunks") for args in opened)


async def test_a_stop_that_fails_still_leaves_one_complete_message_with_its_footer(bot):
    bot.slack.refuse["chat.stopStream"] = "internal_error"  # the stream cannot be stopped at all
    bot.claude.then(Reply(chunks=WORDS, delay=0.1))
    ts, _ = await bot.mention("q")
    await bot.idle()
    (reply,) = bot.slack.thread("C1", ts)  # the stuck stream was taken away
    assert reply.markdown == ANSWER and footer(reply) and not reply.streaming


async def test_a_stop_that_slack_applied_but_whose_answer_was_lost_is_finished_by_an_edit(bot):
    bot.slack.drop["chat.stopStream"] = 1  # applied, then the connection broke
    bot.claude.then(Reply(chunks=WORDS, delay=0.1))
    ts, _ = await bot.mention("q")
    await bot.idle()
    (reply,) = bot.slack.thread("C1", ts)
    assert reply.markdown == ANSWER and footer(reply) and not reply.streaming


async def test_a_429_slack_sends_anyway_pauses_that_method_for_every_answer_as_long_as_asked(bot):
    bot.slack.fail_with = {"reactions.add": [429]}  # e.g. another process of the app spent the allowance
    bot.slack.fail_retry_after_s = 2
    asked = [await bot.mention(f"q{n}", channel=f"C{n}") for n in range(3)]
    await bot.idle(timeout=20)
    first, *later = [c.at for c in bot.slack.calls if c.method == "reactions.add"]
    # The retry, and every other answer's reaction not already on its way, waited as long as Slack
    # asked ("30" is 30 s, not 3): nothing arrives inside the pause.
    assert any(at - first >= 2.0 for at in later)
    assert not any(first + 0.5 < at < first + 2.0 for at in later)
    assert len(bot.slack.rate_limited) == 0 and bot.slack.fail_with["reactions.add"] == []  # one 429 only
    for n, (ts, _) in enumerate(asked):
        assert bot.slack.thread(f"C{n}", ts)[0].markdown == "Hello from **Claude**."


async def test_a_partial_answer_deleted_before_its_final_edit_is_posted_again_complete(budgeted):
    bot, budget = budgeted
    bot.claude.then(Reply(chunks=WORDS, delay=0.2))
    spend_all(budget, "chat.startStream")
    ts, _ = await bot.mention("q")
    while not bot.slack.thread("C1", ts):
        await asyncio.sleep(0.02)
    bot.slack.messages.remove(bot.slack.thread("C1", ts)[0])  # someone deleted the partial answer
    await bot.idle()
    (reply,) = bot.slack.thread("C1", ts)
    assert reply.markdown == ANSWER and footer(reply)
    assert bot.slack.reactions[("C1", ts)] == set()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_held_reservations_keep_late_calls_within_what_slack_counts():
    clock = Clock()
    budget = SlackBudget(clock)
    assert all(budget.reserve("chat.stopStream") for _ in range(19))  # 19 long answers open streams
    clock.now = 57.0  # their stops are still to come; a minute's allowance has come back meanwhile
    more = sum(budget.reserve("chat.stopStream") for _ in range(19))
    assert more == 0  # Slack will count all 19 held stops when they land: no room for more yet


def test_a_429_pauses_a_method_until_retry_after_and_pauses_do_not_add_up():
    clock = Clock()
    budget = SlackBudget(clock)
    for _ in range(3):  # three calls got a 429 at once
        budget.rate_limited("reactions.add", None, 6.0)
    assert not budget.reserve("reactions.add")
    clock.now = 6.0
    assert budget.reserve("reactions.add")


def test_retry_after_is_read_whole():
    from bot.slack.budget import retry_after_s

    assert retry_after_s({"Retry-After": "30"}) == 30.0 and retry_after_s({"retry-after": ["12"]}) == 12.0
