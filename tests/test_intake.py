"""The edge's decisions, alone: what a message event becomes once the channel, its other copy
and the asker's queue are known; what /backend-review says at once; which Slack calls are
retried; the thread key the store keeps agents under."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.redact import Redaction
from bot.review import CommitRef, Help, Material, PullRequestRef, SlackFileRef, Snippet
from bot.slack.app import IdempotentConnectionErrorRetryHandler, IdempotentServerErrorRetryHandler
from bot.slack.commands import NOT_ENABLED_HERE as REVIEW_NOT_ENABLED
from bot.slack.commands import NOT_IN_CHANNEL, USAGE, Refusal, not_posted_reply, refusal, review_notices
from bot.slack.events import Action, ThreadKey, decide, incoming
from bot.slack.intake import NOT_ENABLED_HERE, Decision, Outcome, in_allowed_channels, intake, needs_claim

BOT = "UBOT"
FULL = "You have 10 questions waiting for an answer already, so I've set this one aside."


def message(**fields):
    base = {"type": "message", "channel": "C1", "channel_type": "channel", "user": "UALICE", "ts": "2.0"}
    return incoming({"event": {**base, "text": "<@UBOT> hi", **fields}, "team_id": "T1"})


@pytest.mark.parametrize(
    "action, channel_allowed, first_copy, queue_full, expected",
    [
        # What needs no claim goes through as `decide` said, wherever it is.
        (Action.RECORD, True, False, None, Decision(Outcome.RECORD)),
        (Action.EDIT, True, False, None, Decision(Outcome.EDIT)),
        (Action.DELETE, True, False, None, Decision(Outcome.DELETE)),
        (Action.IGNORE, True, False, None, Decision(Outcome.IGNORE)),
        (Action.RECORD, False, False, None, Decision(Outcome.RECORD)),  # transcripts are kept anywhere
        # An answer: the first copy is answered, the other copy (or Slack's retry) is a duplicate.
        (Action.ANSWER, True, True, None, Decision(Outcome.ANSWER)),
        (Action.ANSWER, True, False, None, Decision(Outcome.DUPLICATE)),
        # Outside the allowed channels: one polite line, to the first copy only.
        (Action.ANSWER, False, True, None, Decision(Outcome.CHANNEL_NOT_ALLOWED, NOT_ENABLED_HERE)),
        (Action.ANSWER, False, False, None, Decision(Outcome.CHANNEL_NOT_ALLOWED)),
        # A full queue: set aside, with what to tell the asker.
        (Action.ANSWER, True, True, FULL, Decision(Outcome.USER_QUEUE_FULL, FULL)),
        (Action.ANSWER, True, False, FULL, Decision(Outcome.DUPLICATE)),  # its other copy: quiet
        (Action.ANSWER, True, True, "", Decision(Outcome.ANSWER)),  # nothing to say is room
    ],
)
def test_intake(action, channel_allowed, first_copy, queue_full, expected):
    decided = intake(action, message(), channel_allowed=channel_allowed, first_copy=first_copy, queue_full=queue_full)
    assert decided == expected


@pytest.mark.parametrize(
    "channel, allowed_channels, allowed",
    [
        ("C1", None, True),  # BOT_ALLOWED_CHANNELS unset: everywhere the bot is
        ("C1", frozenset({"C1", "C2"}), True),
        ("C3", frozenset({"C1", "C2"}), False),
        ("D1", frozenset({"C1"}), False),  # DMs too are listed by id, or refused
        ("C1", frozenset(), False),
    ],
)
def test_in_allowed_channels(channel, allowed_channels, allowed):
    assert in_allowed_channels(channel, allowed_channels) is allowed


def test_only_answers_are_claimed():
    assert [a for a in Action if needs_claim(a)] == [Action.ANSWER]


@pytest.mark.parametrize(
    "fields, review",
    [
        ({"text": "<@UBOT> how do I shard?"}, False),
        ({"text": "<@UBOT> please review this"}, False),  # the word alone: nothing to review
        ({"text": "<@UBOT> review this", "files": [{"id": "F1"}]}, True),
        ({"text": "<@UBOT> review\n```python\ndef f(): pass\n```"}, True),
    ],
)
def test_an_answer_knows_whether_it_is_a_review(fields, review):
    asked = message(**fields)
    assert decide(asked, BOT, False) is Action.ANSWER
    assert intake(Action.ANSWER, asked, first_copy=True) == Decision(Outcome.ANSWER, review=review)


def test_outcomes_are_the_values_logged_and_counted():
    assert {o.value for o in Outcome} == {
        "answer",
        "record",
        "edit",
        "delete",
        "ignore",
        "duplicate",
        "channel_not_allowed",
        "user_queue_full",
    }


# -- thread keys -----------------------------------------------------------------------


def test_a_thread_key_reads_as_the_conversation_key_existing_databases_hold():
    assert str(ThreadKey("C1", "1.0")) == "C1/1.0"
    assert (
        ThreadKey("C1", "1.0") == ThreadKey("C1", "1.0") and len({ThreadKey("C1", "1.0"), ThreadKey("C1", "1.0")}) == 1
    )


def test_a_message_belongs_to_its_thread_or_starts_one():
    top, reply = message(), message(thread_ts="1.0")
    assert top.thread == ThreadKey("C1", "2.0") == top.target().thread
    assert reply.thread == ThreadKey("C1", "1.0") == reply.target().thread


# -- /backend-review at the ack -----------------------------------------------------------


@pytest.mark.parametrize(
    "parsed, channel_allowed, expected",
    [
        (Help(), True, Refusal("help", USAGE)),
        (Help(), False, Refusal("help", USAGE)),  # usage first, wherever it is asked
        (Snippet("", "", "is this safe?"), True, Refusal("help", USAGE)),  # a question, no code
        (Snippet("x = 1", "python", ""), False, Refusal("channel_not_allowed", REVIEW_NOT_ENABLED)),
        (Snippet("x = 1", "python", ""), True, None),
        (PullRequestRef("acme", "api", 42, ""), True, None),
        (CommitRef("acme", "api", "abc1234", ""), False, Refusal("channel_not_allowed", REVIEW_NOT_ENABLED)),
        (SlackFileRef("F1", ""), True, None),
    ],
)
def test_review_refusal(parsed, channel_allowed, expected):
    assert refusal(parsed, channel_allowed) == expected


@pytest.mark.parametrize(
    "code, says",
    [("not_in_channel", NOT_IN_CHANNEL), ("is_archived", NOT_IN_CHANNEL), ("fatal_error", "(fatal_error)")],
)
def test_a_review_that_could_not_be_posted_gives_the_command_back_redacted(code, says):
    token = "xoxb-" + "1234567890-" * 2 + "abcdefghijklmnopqrstuvwx"
    reply = not_posted_reply(code, f"```\nTOKEN = '{token}'\n```")
    assert reply["response_type"] == "ephemeral" and says in reply["text"]
    echo = reply["blocks"][1]["elements"][0]["elements"][0]["text"]
    assert echo.startswith("/backend-review ```\nTOKEN = ") and token not in echo and token not in reply["text"]


def test_review_notices_name_what_was_redacted_and_not_seen():
    material = Material("pull request", "acme/api#1", "diff", not_seen=tuple(f"f{n}.bin" for n in range(12)))
    (seen,) = review_notices(Redaction("text", {}), material)
    assert seen.startswith("Not seen: GitHub sent no changes for `f0.bin`") and "and 2 more" in seen
    assert review_notices(Redaction("text", {}), Material("file", "a.py", "x", "python")) == []


# -- retries -------------------------------------------------------------------------------


def request(method: str) -> HttpRequest:
    return HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})


@pytest.mark.parametrize(
    "handler, failure",
    [
        (IdempotentServerErrorRetryHandler(max_retry_count=2), {"response": HttpResponse(status_code=503, headers={})}),
        (IdempotentConnectionErrorRetryHandler(max_retry_count=2), {"error": aiohttp.ServerDisconnectedError()}),
    ],
)
@pytest.mark.parametrize(
    "method, retried",
    [("chat.update", True), ("users.info", True), ("chat.postMessage", False), ("chat.appendStream", False)],
)
async def test_only_calls_that_cannot_double_anything_are_retried(handler, failure, method, retried):
    assert await handler.can_retry_async(state=RetryState(), request=request(method), **failure) is retried
