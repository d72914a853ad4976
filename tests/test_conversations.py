"""Talking to the bot in threads: follow-ups, whole-thread context, DMs, exactly one answer."""

from __future__ import annotations

import itertools

from conftest import start_bot
from fakes.claude_api import Reply

from bot.playground.slack_emulator import deliver, event_callback, message_event


def sent(bot, n: int = -1) -> list[dict]:
    """The conversation the bot sent Claude in request `n`."""
    return bot.claude.requests[n]["messages"]


async def test_follow_up_in_the_thread_is_answered_without_a_mention_and_remembers(bot):
    bot.claude.then(Reply(chunks=("Use a read-through cache.",)), Reply(chunks=("About 5 minutes.",)))
    ts, _ = await bot.mention("How do I cut API costs?")
    await bot.idle()
    follow_up = await bot.say("What TTL would you pick?", thread_ts=ts)
    assert await bot.answered("C1", follow_up) == "About 5 minutes."
    assert sent(bot) == [
        {"role": "user", "content": "Alice: How do I cut API costs?"},
        {"role": "assistant", "content": "Use a read-through cache."},
        {"role": "user", "content": "Alice: What TTL would you pick?"},
    ]
    assert "conversations.replies" not in bot.slack.methods()  # the bot saw the whole thread itself
    assert bot.slack.methods().count("users.info") == 1  # Alice's name, looked up once


async def test_a_follow_up_sent_while_the_first_answer_is_coming_sees_that_answer(bot):
    bot.claude.then(Reply(chunks=("First answer.",), first_delay=1.0), Reply(chunks=("Second.",)))
    ts, _ = await bot.mention("Q1")
    follow_up = await bot.say("Q2, quickly", thread_ts=ts)  # before the first answer exists
    assert await bot.answered("C1", follow_up) == "Second."
    assert sent(bot) == [
        {"role": "user", "content": "Alice: Q1"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "Alice: Q2, quickly"},
    ]


async def test_each_question_is_answered_with_the_thread_up_to_it_not_what_came_after(bot):
    parent = bot.slack.post_user_message("C1", "the thread", user="UBOB")
    bot.claude.then(Reply(chunks=("For Alice.",), first_delay=0.5), Reply(chunks=("For Carol.",)))
    await bot.mention("Alice's question", thread_ts=parent.ts)
    await bot.mention("Carol's question", thread_ts=parent.ts, user="UCAROL")
    await bot.idle()
    first, second = bot.claude.requests
    assert first["messages"][-1]["content"].endswith("Alice: Alice's question")
    assert "Carol" not in first["messages"][-1]["content"]
    assert second["messages"][-1]["content"].endswith("Carol: Carol's question")


async def test_message_addressed_to_someone_else_is_not_answered_but_is_context(bot):
    ts, _ = await bot.mention("Should we shard?")
    await bot.idle()
    await bot.say("<@UBOB> can you get the table sizes?", thread_ts=ts)
    await bot.idle()
    assert len(bot.claude.requests) == 1
    await bot.say("Bob says 2 TB. Now what?", thread_ts=ts, user="UBOB")
    await bot.idle()
    assert len(bot.claude.requests) == 2
    last = sent(bot)[-1]["content"]
    assert last == "Alice: @Bob can you get the table sizes?\n\nBob: Bob says 2 TB. Now what?"


async def test_mention_plus_someone_else_is_still_answered(bot):
    ts, _ = await bot.mention("first")
    await bot.idle()
    await bot.say("<@UBOB> and <@UBOT> what do you think?", thread_ts=ts)
    await bot.idle()
    assert len(bot.claude.requests) == 2


async def test_threads_the_bot_is_not_part_of_are_left_alone(bot):
    parent = await bot.say("lunch plans?")
    await bot.say("pizza", thread_ts=parent)
    await bot.idle()
    assert bot.claude.requests == [] and not any(m.bot_id for m in bot.slack.messages)


async def test_mid_thread_mention_reads_every_page_of_the_thread(bot):
    bot.slack.page_size = 2
    parent = bot.slack.post_user_message("C1", "Our p99 latency doubled after the deploy", user="UBOB")
    bot.slack.post_user_message("C1", "Only on /search", user="UCAROL", thread_ts=parent.ts)
    bot.slack.post_user_message("C1", "DB CPU is at 90%", user="UBOB", thread_ts=parent.ts)
    bot.slack.post_user_message("C1", "deploybot: v42 rolled out", user=None, thread_ts=parent.ts, bot_id="BDEPLOY")
    await bot.mention("what do you make of this?", thread_ts=parent.ts)
    await bot.idle()
    assert bot.slack.methods().count("conversations.replies") == 3  # 5 messages, 2 a page
    assert sent(bot) == [
        {
            "role": "user",
            "content": (
                "Bob: Our p99 latency doubled after the deploy\n\nCarol: Only on /search\n\n"
                "Bob: DB CPU is at 90%\n\na bot: deploybot: v42 rolled out\n\nAlice: what do you make of this?"
            ),
        }
    ]


async def test_thread_with_the_bots_earlier_messages_gives_assistant_turns(bot):
    parent = bot.slack.post_user_message("C1", "Is Redis right for a queue?", user="UBOB")
    bot.slack.post_user_message("C1", "It can be, with streams.", user="UBOT", thread_ts=parent.ts, bot_id="BBOT")
    await bot.mention("and for 1M jobs a day?", thread_ts=parent.ts)
    await bot.idle()
    assert [m["role"] for m in sent(bot)] == ["user", "assistant", "user"]
    assert sent(bot)[1]["content"] == "It can be, with streams."


async def test_direct_messages_are_answered_without_a_mention_in_a_thread(bot):
    bot.claude.then(Reply(chunks=("Yes.",)), Reply(chunks=("Because of locks.",)))
    ts = await bot.say("is a long transaction bad?", channel="D1")
    await bot.idle()
    (reply,) = bot.slack.thread("D1", ts)
    assert reply.markdown == "Yes."
    follow_up = await bot.say("why?", channel="D1", thread_ts=ts)
    assert await bot.answered("D1", follow_up) == "Because of locks."
    assert len(sent(bot)) == 3


async def test_other_bots_edits_deletions_and_joins_never_trigger_an_answer(bot):
    ts, _ = await bot.mention("start")
    await bot.idle()
    await bot.say("build passed", thread_ts=ts, user="UCIBOT", bot_id="BCI")  # bots have a user id too
    joined = {
        "type": "message",
        "subtype": "channel_join",
        "user": "UDAVE",
        "text": "<@UDAVE> has joined",
        "ts": "1700000099.000001",
        "thread_ts": ts,
        "channel": "C1",
        "channel_type": "channel",
    }
    await deliver(bot.events_url, event_callback(joined, event_id="EvJ"))
    question = bot.slack.post_user_message("C1", "typo", thread_ts=ts)
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "channel_type": "channel",
        "hidden": True,
        "ts": "1700000099.000002",
        "message": {**message_event(question), "text": "what about retries?", "edited": {"ts": "1"}},
        "previous_message": message_event(question),
    }
    await deliver(bot.events_url, event_callback(edited, event_id="EvE"))
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "channel_type": "channel",
        "hidden": True,
        "ts": "1700000099.000003",
        "deleted_ts": question.ts,
        "previous_message": message_event(question),
    }
    await deliver(bot.events_url, event_callback(deleted, event_id="EvD"))
    await bot.idle()
    assert len(bot.claude.requests) == 1


async def test_an_edit_updates_what_claude_sees_and_a_deletion_removes_it(bot):
    ts, _ = await bot.mention("start")
    await bot.idle()
    draft = await bot.say("<@UBOB> first draft", thread_ts=ts)  # addressed to Bob: context only
    gone = await bot.say("<@UBOB> oops wrong thread", thread_ts=ts)
    await bot.idle()
    msg = next(m for m in bot.slack.messages if m.ts == draft)
    edit = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "channel_type": "channel",
        "ts": "1700000099.000002",
        "message": {**message_event(msg), "text": "<@UBOB> second draft"},
    }
    await deliver(bot.events_url, event_callback(edit, event_id="EvE"))
    deletion = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "channel_type": "channel",
        "ts": "1700000099.000003",
        "deleted_ts": gone,
    }
    await deliver(bot.events_url, event_callback(deletion, event_id="EvD"))
    await bot.say("thoughts?", thread_ts=ts)
    await bot.idle()
    last = sent(bot)[-1]["content"]
    assert "@Bob second draft" in last and "first draft" not in last and "oops" not in last


async def test_thread_membership_and_exactly_once_survive_a_restart(settings, fake_slack, fake_claude):
    first, server = await start_bot(settings, fake_slack, fake_claude)
    ts, _ = await first.mention("remember me")
    await first.idle()
    await server.stop()

    second, server = await start_bot(settings, fake_slack, fake_claude)
    try:
        # Slack retries the original mention after the restart: it was answered already.
        await deliver(
            second.events_url,
            event_callback(message_event(next(m for m in fake_slack.messages if m.ts == ts)), event_id="EvRetry"),
            retry_num=2,
        )
        await second.idle()
        assert len(fake_claude.requests) == 1
        follow_up = await second.say("and now?", thread_ts=ts)
        await second.answered("C1", follow_up)
        assert len(fake_claude.requests) == 2
        assert [m["role"] for m in fake_claude.requests[-1]["messages"]] == ["user", "assistant", "user"]
    finally:
        await server.stop()


async def test_what_was_said_while_down_is_read_even_when_later_messages_came_as_events(
    settings, fake_slack, fake_claude
):
    first, server = await start_bot(settings, fake_slack, fake_claude)
    ts, _ = await first.mention("remember me")
    await first.idle()
    await server.stop()
    fake_slack.post_user_message("C1", "said while the bot was down", user="UBOB", thread_ts=ts)

    second, server = await start_bot(settings, fake_slack, fake_claude)
    try:
        await second.say("<@UCAROL> lunch?", thread_ts=ts)  # recorded from its event, after the gap
        follow_up = await second.say("and now?", thread_ts=ts)
        await second.answered("C1", follow_up)
        assert "Bob: said while the bot was down" in fake_claude.requests[-1]["messages"][-1]["content"]
    finally:
        await server.stop()


async def test_after_a_restart_the_first_follow_up_reads_only_what_was_missed(settings, fake_slack, fake_claude):
    first, server = await start_bot(settings, fake_slack, fake_claude)
    ts, _ = await first.mention("remember me")
    await first.idle()
    await server.stop()
    fake_slack.post_user_message("C1", "said while the bot was down", user="UBOB", thread_ts=ts)

    second, server = await start_bot(settings, fake_slack, fake_claude)
    try:
        follow_up = await second.say("and now?", thread_ts=ts)
        await second.answered("C1", follow_up)
        reads = [c for c in fake_slack.calls if c.method == "conversations.replies"]
        assert len(reads) == 1 and reads[0].args.get("oldest")
        assert "Bob: said while the bot was down" in fake_claude.requests[-1]["messages"][-1]["content"]
        follow_up2 = await second.say("one more", thread_ts=ts)
        await second.answered("C1", follow_up2)
        assert len([c for c in fake_slack.calls if c.method == "conversations.replies"]) == 1
    finally:
        await server.stop()


async def test_each_follow_up_repeats_the_previous_request_as_a_prefix_and_reads_it_from_cache(bot):
    ts, _ = await bot.mention("turn 1")
    await bot.idle()
    for n in range(2, 5):
        await bot.answered("C1", await bot.say(f"turn {n}", thread_ts=ts))
    requests = bot.claude.requests
    for before, after in itertools.pairwise(requests):
        assert after["system"] == before["system"]
        assert after["messages"][: len(before["messages"])] == before["messages"]
    assert bot.claude.usages[0]["cache_read_input_tokens"] == 0
    for before, after in zip(bot.claude.usages, bot.claude.usages[1:]):
        # Everything the previous request sent is read back from the cache.
        assert after["cache_read_input_tokens"] >= sum(
            before.get(k, 0) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        )


async def test_text_files_in_the_thread_are_read_and_binaries_named(bot):
    code = bot.slack.upload("worker.py", "def work():\n    return queue.pop()\n")
    image = bot.slack.upload("graph.png", b"\x89PNG...", filetype="png", mimetype="image/png")
    await bot.mention("why is this slow?", files=[code, image])
    await bot.idle()
    content = sent(bot)[0]["content"]
    assert "[attached file worker.py]\n```python\ndef work():\n    return queue.pop()\n\n```" in content
    assert "[attached file graph.png: png file, not included]" in content
    assert "files.download" in bot.slack.methods()


async def test_a_huge_file_is_named_not_read(bot):
    big = bot.slack.upload("dump.sql", "INSERT INTO t VALUES (1);\n" * 20_000, filetype="sql")
    await bot.mention("look", files=[big])
    await bot.idle()
    assert "dump.sql: 507 KB, too large to include" in sent(bot)[0]["content"]


async def test_a_long_thread_keeps_its_first_message_and_the_latest_within_budget(settings, fake_slack, fake_claude):
    from dataclasses import replace

    small, server = await start_bot(replace(settings, max_context_tokens=3_000), fake_slack, fake_claude)
    try:
        parent = fake_slack.post_user_message("C1", "The original question about sharding", user="UBOB")
        for n in range(40):
            fake_slack.post_user_message("C1", f"comment {n} " + "detail " * 20, user="UCAROL", thread_ts=parent.ts)
        await small.mention("summarise please", thread_ts=parent.ts)
        await small.idle()
        content = fake_claude.requests[0]["messages"][0]["content"]
        assert content.startswith("Bob: The original question about sharding\n\n[")
        assert "earlier messages of this thread left out to fit the context budget]" in content
        assert "comment 39" in content and "comment 0 " not in content
        assert content.endswith("Alice: summarise please")
    finally:
        await server.stop()


async def test_a_mid_thread_mention_downloads_only_the_files_the_context_can_hold(settings, fake_slack, fake_claude):
    from dataclasses import replace

    small, server = await start_bot(replace(settings, max_context_tokens=60_000), fake_slack, fake_claude)
    try:
        opening = fake_slack.upload("schema.sql", "CREATE TABLE orders (id int);\n")
        parent = fake_slack.post_user_message("C1", "Our schema", user="UBOB", files=[opening])
        for n in range(30):  # 30 files of 20,000 characters: far more than 180,000 characters of context
            log = fake_slack.upload(f"trace{n}.log", f"trace {n}\n" + "x" * 20_000, filetype="text")
            fake_slack.post_user_message("C1", f"trace {n}", user="UCAROL", thread_ts=parent.ts, files=[log])
        await small.mention("what do these traces say?", thread_ts=parent.ts)
        await small.idle()
        downloads = fake_slack.methods().count("files.download")
        assert 8 <= downloads <= 11, downloads  # the opening's file and the newest traces that fit
        content = fake_claude.requests[0]["messages"][0]["content"]
        assert "CREATE TABLE orders" in content and "trace 29\nxxx" in content
    finally:
        await server.stop()


async def test_a_file_slack_offers_over_plain_http_is_not_downloaded_with_the_token(bot):
    leaky = {
        "id": "F0999",
        "name": "notes.txt",
        "filetype": "text",
        "mimetype": "text/plain",
        "size": 10,
        "url_private": "http://files.slack.com/files-pri/T1-F0999/notes.txt",
    }
    await bot.mention("what do you make of this?", files=[leaky])
    await bot.idle()
    assert (
        "[attached file notes.txt: not offered over https, not included]"
        in bot.claude.requests[0]["messages"][-1]["content"]
    )
    assert "files.download" not in bot.slack.methods()
