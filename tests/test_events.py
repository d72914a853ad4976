"""Which messages the bot answers: the decision alone, on Slack payloads."""

from __future__ import annotations

import pytest

from bot.slack.events import Action, decide, incoming, plain_text

BOT = "UBOT"


def event(**fields) -> dict:
    base = {
        "type": "message",
        "channel": "C1",
        "channel_type": "channel",
        "user": "UALICE",
        "text": "hello",
        "ts": "2.0",
    }
    return {"event": {**base, **fields}, "team_id": "T1"}


@pytest.mark.parametrize(
    "fields, in_bot_thread, expected",
    [
        ({}, False, Action.IGNORE),  # ordinary channel chatter
        ({"text": "<@UBOT> hi"}, False, Action.ANSWER),  # a mention anywhere
        ({"thread_ts": "1.0"}, True, Action.ANSWER),  # a follow-up in the bot's thread
        ({"thread_ts": "1.0"}, False, Action.IGNORE),  # someone else's thread
        ({"thread_ts": "1.0", "text": "<@UBOB> you?"}, True, Action.RECORD),  # addressed to Bob
        ({"thread_ts": "1.0", "text": "<@UBOB> <@UBOT> both"}, True, Action.ANSWER),
        ({"channel": "D1", "channel_type": "im"}, False, Action.ANSWER),  # a DM
        ({"channel": "G1", "channel_type": "mpim"}, False, Action.IGNORE),  # group DM chatter
        ({"channel": "G1", "channel_type": "mpim", "text": "<@UBOT> hi"}, False, Action.ANSWER),  # mentioned there
        ({"subtype": "file_share", "text": "<@UBOT> see file"}, False, Action.ANSWER),
        ({"subtype": "thread_broadcast", "thread_ts": "1.0"}, True, Action.ANSWER),
        ({"bot_id": "BCI", "thread_ts": "1.0"}, True, Action.RECORD),  # another bot: context only
        ({"bot_id": "BCI", "text": "<@UBOT> ping"}, False, Action.IGNORE),  # bots can't start threads
        ({"subtype": "channel_join", "thread_ts": "1.0"}, True, Action.RECORD),
        ({"subtype": "channel_join"}, False, Action.IGNORE),
        ({"user": "UBOT", "thread_ts": "1.0"}, True, Action.IGNORE),  # the bot itself
    ],
)
def test_decide(fields, in_bot_thread, expected):
    assert decide(incoming(event(**fields)), BOT, in_bot_thread) is expected


def test_edit_of_a_message_in_a_bot_thread_updates_it_and_never_answers():
    body = event(
        subtype="message_changed", message={"user": "UALICE", "text": "<@UBOT> new", "ts": "3.0", "thread_ts": "1.0"}
    )
    message = incoming(body)
    assert message.ts == "3.0" and message.thread_ts == "1.0"
    assert decide(message, BOT, True) is Action.EDIT
    assert decide(message, BOT, False) is Action.IGNORE


def test_edits_by_bots_are_ignored_even_in_bot_threads():
    body = event(
        subtype="message_changed", message={"bot_id": "BBOT", "text": "streamed", "ts": "3.0", "thread_ts": "1.0"}
    )
    assert decide(incoming(body), BOT, True) is Action.IGNORE


def test_deletion_forgets_the_message():
    body = event(subtype="message_deleted", deleted_ts="3.0")
    message = incoming(body)
    assert message.ts == "3.0" and decide(message, BOT, False) is Action.DELETE


def test_payload_without_channel_or_ts_is_no_message():
    assert incoming({"event": {"type": "message"}}) is None
    assert incoming({}) is None


def test_plain_text_turns_slack_markup_into_what_people_read():
    text = "<@UBOT> ask <@UBOB> about <https://x.io/a|the doc> in <#C9|ops> &lt;3 &amp; <!here>"
    assert plain_text(text, BOT, {"UBOB": "Bob"}) == "ask @Bob about the doc in #ops <3 & @here"


def test_plain_text_keeps_code_indentation():
    assert plain_text("<@UBOT> ```\ndef f():\n    return 1\n```", BOT) == "```\ndef f():\n    return 1\n```"
