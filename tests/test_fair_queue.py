"""Waiting fairly: one person's many questions never hold up another's, a thread's questions
keep their order, a cap on what one person may have waiting, and queued jobs that keep only
what answering needs."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from conftest import start_bot
from fakes.claude_api import Reply

from bot.store import JobOwner, Store

SET_ASIDE = "so I've set this one aside"


def test_the_queue_serves_whoever_has_least_running_and_keeps_each_threads_order(tmp_path):
    store = Store.in_data_dir(tmp_path)
    alice = [store.enqueue({"n": f"a{n}"}, JobOwner("UALICE", "C1", f"{n}.0")) for n in range(3)]
    bob = store.enqueue({"n": "b"}, JobOwner("UBOB", "C2", "9.0"))
    first, second = store.claim_next(), store.claim_next()
    assert (first.id, second.id) == (alice[0], bob)  # Bob waits behind one of Alice's, not three
    # In one thread, Carol's later question waits for Alice's earlier one, fairness or not.
    earlier = store.enqueue({"n": "a-thread"}, JobOwner("UALICE", "C3", "5.0"))
    later = store.enqueue({"n": "c-thread"}, JobOwner("UCAROL", "C3", "5.0"))
    claimed = [store.claim_next().id for _ in range(4)]
    assert claimed.index(earlier) < claimed.index(later)
    assert set(claimed) == {alice[1], alice[2], earlier, later}


async def test_many_questions_from_one_person_do_not_hold_up_anothers(settings, fake_slack, fake_claude):
    fake_claude.default = Reply(first_delay=0.3)
    bot, server = await start_bot(replace(settings, max_concurrency=2, user_max_queued=50), fake_slack, fake_claude)
    try:
        for n in range(20):
            await bot.say(f"alice question {n}", channel="D1")
        started = len(fake_claude.requests)  # Alice's answers already under way
        await bot.say("bob question", channel="D2", user="UBOB")
        await bot.idle(timeout=30)
        asked = [r["messages"][-1]["content"] for r in fake_claude.requests]
        assert len(asked) == 21
        # Two answers run at a time: Bob's starts as soon as one of Alice's finishes, not after
        # every one she asked before him (first in, first out: 21st).
        assert started < 15 and next(n for n, text in enumerate(asked) if "bob question" in text) <= started + 2
    finally:
        await server.stop()


async def test_past_the_cap_questions_are_set_aside_with_one_reply(settings, fake_slack, fake_claude):
    fake_claude.default = Reply(first_delay=0.3)
    bot, server = await start_bot(replace(settings, max_concurrency=1, user_max_queued=2), fake_slack, fake_claude)
    try:
        asked = [await bot.mention(f"question {n}") for n in range(6)]
        await bot.idle(timeout=30)
        replies = [[m.markdown for m in fake_slack.thread("C1", ts)] for ts, _ in asked]
        # One running, two waiting: the fourth is told once; the fifth and sixth are set aside quietly.
        assert all(r == ["Hello from **Claude**."] for r in replies[:3]), replies
        assert SET_ASIDE in replies[3][0] and len(replies[3]) == 1
        assert replies[4:] == [[], []]
        assert len(fake_claude.requests) == 3
        ts, _ = await bot.mention("after the queue emptied")  # room again: answered
        await bot.idle()
        assert fake_slack.thread("C1", ts)[-1].markdown == "Hello from **Claude**."
        # A /backend-review past the cap is told at once, only to its runner.
        fake_claude.default = Reply(first_delay=0.5)
        for n in range(3):
            await bot.mention(f"again {n}")
        shown, _ = await bot.review("```python\nx = 1\n```")
        assert SET_ASIDE in json.loads(shown)["text"]
        await bot.idle(timeout=30)
    finally:
        await server.stop()


async def test_a_queued_question_keeps_the_message_not_the_slack_delivery_around_it(bot, settings):
    await bot.mention("how do I shard?")
    await bot.idle()
    db = sqlite3.connect(settings.data_dir / "bot.sqlite3")
    (payload,) = [json.loads(row[0]) for row in db.execute("SELECT payload FROM jobs")]
    body = payload["body"]
    assert set(body) == {"team_id", "event"}  # no verification token, no authorizations
    assert body["event"]["text"].endswith("how do I shard?")
    assert "blocks" not in body["event"] and "event_id" not in json.dumps(payload)


def test_a_store_made_by_an_earlier_version_is_brought_up_to_date_with_its_queue(tmp_path):
    from bot import store as store_module

    path = tmp_path / "bot.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(store_module.SCHEMA)  # the schema before any migration
    old.execute("INSERT INTO jobs (payload, state, created_at) VALUES ('{\"kind\": \"message\"}', 'queued', 0)")
    old.commit()
    old.close()
    store = Store(path)
    store.enqueue({"kind": "message"}, JobOwner("UALICE", "C1", "1.0"))
    assert [store.claim_next().payload for _ in range(2)] == [{"kind": "message"}] * 2
    assert Store(path).queued_count() == 0  # opened again: nothing applied twice
