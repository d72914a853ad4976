"""A message event -> what the bot does with it, once the edge knows the moment. Pure: facts in,
one decision out; the listener (app.py) gathers the facts and carries the decision out.

`decide` (events.py) says what a message wants: an answer, a place in a thread's transcript…
`intake` weighs an answer against what only the store and the settings know: whether the
channel is one the bot answers in, whether this is the first copy of the message (a mention
arrives as two events, and Slack retries), whether the asker already has a full queue.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum

from bot.review import wants_review
from bot.slack.events import Action, IncomingMessage

NOT_ENABLED_HERE = "Sorry, I'm not enabled in this channel. Ask your Slack admin, or try a channel where I answer."


class Outcome(Enum):
    """What became of a message event; the value is the `outcome` logged and counted."""

    ANSWER = "answer"  # queued for an answer
    RECORD = "record"  # kept in the transcript of a thread the bot is part of
    EDIT = "edit"  # its new text kept in that transcript
    DELETE = "delete"  # forgotten
    IGNORE = "ignore"
    DUPLICATE = "duplicate"  # the other copy of a mention, or a retry: already taken
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"  # BOT_ALLOWED_CHANNELS leaves this channel out
    USER_QUEUE_FULL = "user_queue_full"  # BOT_USER_MAX_QUEUED of the asker's questions wait already


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reply: str | None = None  # one line for the message's thread (a queue-full one: once while it stays full)
    review: bool = False  # ANSWER: the message asks for a review of the code or files it carries


def in_allowed_channels(channel: str, allowed_channels: Collection[str] | None) -> bool:
    """Whether the bot answers in `channel` (BOT_ALLOWED_CHANNELS; None: everywhere it is)."""
    return allowed_channels is None or channel in allowed_channels


def needs_claim(action: Action) -> bool:
    """Whether the message must be claimed in the store before `intake` can weigh it: only
    its first copy is answered (or told that the bot is not enabled in the channel)."""
    return action is Action.ANSWER


def intake(
    action: Action,
    message: IncomingMessage,
    *,
    channel_allowed: bool = True,
    first_copy: bool = False,
    queue_full: str | None = None,
) -> Decision:
    """What to do with `message`, which `decide` found wants `action`. For an answer:
    `first_copy`, the store let this copy claim the message; `queue_full`, what to tell an asker
    whose queue is full (asked of the store only for a first copy in an allowed channel)."""
    if not needs_claim(action):
        return Decision(Outcome(action.value))
    if not channel_allowed:
        # One reply, even to both copies of a mention; each copy is counted.
        return Decision(Outcome.CHANNEL_NOT_ALLOWED, NOT_ENABLED_HERE if first_copy else None)
    if not first_copy:
        return Decision(Outcome.DUPLICATE)
    if queue_full:
        # Still claimed: its other copy and Slack's retries are not answered either.
        return Decision(Outcome.USER_QUEUE_FULL, queue_full)
    return Decision(Outcome.ANSWER, review=wants_review(message.text, bool(message.raw.get("files"))))
