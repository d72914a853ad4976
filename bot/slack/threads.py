"""Reading threads, people and files from Slack into the transcript the core renders.

`conversations.replies` is rate limited (Tier 3, far lower for some apps), so the bot keeps
the transcript of its threads from the events it receives and reads from Slack only what
it has not seen: a whole thread when it is mentioned mid-thread, and, after a restart, what
was said in a thread while it was down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.conversation import Turn
from bot.errors import ConversationUnavailable
from bot.logs import log_event
from bot.redact import Redaction, redact
from bot.review import review_request, snippet_material, split_code_and_question
from bot.slack.errors import slack_error_code
from bot.slack.events import IncomingMessage, mentioned_users, plain_text
from bot.slack.files import SlackFiles
from bot.slack.reply import ThreadReply
from bot.store import Store, StoredMessage

log = logging.getLogger(__name__)

MESSAGE_FILES_MAX_CHARS = 100_000


@dataclass(frozen=True)
class BotIdentity:
    user_id: str | None
    bot_id: str | None
    name: str = "backend-engineer"


class ThreadReader:
    def __init__(self, client: AsyncWebClient, store: Store, context_chars: int = 450_000):
        """`context_chars`: about what a conversation sent to Claude can hold; files of a thread
        read back from Slack are downloaded only while what is read fits in it."""
        self._client = client
        self._files = SlackFiles(client)
        self._store = store
        self._context_chars = context_chars
        self._names: dict[str, str] = {}
        # Messages said while the bot was down reached no handler: threads last synced before
        # this moment may have gaps, and are topped up from Slack on their next question.
        self._started_at = time.time()

    async def conversation(
        self, message: IncomingMessage, bot: BotIdentity, reply: ThreadReply, as_review: bool = False
    ) -> list[Turn]:
        """The thread of `message`, complete, as turns (the question last). `as_review`: the
        message asks for a review of the code or files it carries."""
        channel, thread_ts = message.channel, message.thread_ts or message.ts
        synced_at, synced_ts = self._store.synced(channel, thread_ts)
        if message.in_thread and synced_at == 0:
            await self._read_from_slack(channel, thread_ts, bot, oldest=None)  # mentioned mid-thread
        elif 0 < synced_at < self._started_at:
            # Complete up to synced_ts; what came after may have been said while the bot was down.
            await self._read_from_slack(channel, thread_ts, bot, oldest=synced_ts)
        question, redaction = await self._render(message.raw, bot, channel)
        if as_review and "```" in question.text:  # pasted code or a readable file to review
            snippet = split_code_and_question(question.text)
            question = replace(question, text=review_request(snippet_material(snippet), snippet.question))
        if redaction.any:
            reply.notices.append(redaction.summary())
        if as_review:
            self._store.record(channel, thread_ts, question)
        else:
            self._store.record_if_new(channel, thread_ts, question)  # an edit may have come in meanwhile
        self._store.mark_synced(channel, thread_ts, time.time(), message.ts)
        return self.turns(channel, thread_ts, message.ts)

    def turns(self, channel: str, thread_ts: str, through_ts: str) -> list[Turn]:
        """The thread as the transcript has it, up to the question `through_ts`."""
        return [
            Turn(m.role, m.text, m.author if m.role == "user" else None)
            for m in self._store.transcript(channel, thread_ts, through_ts)
        ]

    async def stored(self, message: dict[str, Any], bot: BotIdentity, channel: str) -> StoredMessage:
        """A Slack message in `channel` as the transcript keeps it: who, and what they said (files
        included, secrets redacted: the transcript is what Claude is sent)."""
        return (await self._render(message, bot, channel))[0]

    async def _render(
        self, message: dict[str, Any], bot: BotIdentity, channel: str, room: int = MESSAGE_FILES_MAX_CHARS
    ) -> tuple[StoredMessage, Redaction]:
        """The message for the transcript; its files are read while `room` characters are left."""
        mine = (bot.user_id is not None and message.get("user") == bot.user_id) or (
            bot.bot_id is not None and message.get("bot_id") == bot.bot_id
        )
        text = message.get("text") or ""
        names = {user: await self.name_of(user) for user in mentioned_users(text) if user != bot.user_id}
        parts = [plain_text(text, bot.user_id, names)]
        room = min(room, MESSAGE_FILES_MAX_CHARS)  # ten 40,000-character files would crowd out the thread
        for file in message.get("files") or []:
            if room <= 0:  # not downloaded at all: it could not be sent
                name = file.get("name") or file.get("title") or "a file"
                parts.append(f"[attached file {name}: not read, the conversation is longer than fits]")
                continue
            slack_file = await self._files.read(file, channel, message.get("user"))
            attachment = slack_file.as_attachment(max_chars=max(room, 0))
            room -= len(attachment)
            parts.append(attachment)
        if mine:
            author = bot.name
        elif message.get("bot_id") or message.get("subtype") == "bot_message":
            author = (message.get("bot_profile") or {}).get("name") or message.get("username") or "a bot"
        else:
            author = await self.name_of(message.get("user") or "")
        redaction = redact("\n\n".join(p for p in parts if p))
        return StoredMessage(str(message["ts"]), "assistant" if mine else "user", author, redaction.text), redaction

    async def name_of(self, user_id: str) -> str:
        """A person's display name (cached); their id if Slack won't say."""
        if not user_id:
            return "someone"
        if user_id not in self._names:
            try:
                user = (await self._client.users_info(user=user_id))["user"]
                profile = user.get("profile") or {}
                self._names[user_id] = (
                    profile.get("display_name")
                    or profile.get("real_name")
                    or user.get("real_name")
                    or user.get("name")
                    or user_id
                )
            except SlackApiError as error:
                log_event(
                    log,
                    "slack_call_failed",
                    logging.WARNING,
                    method="users.info",
                    user=user_id,
                    error=slack_error_code(error),
                )
                return user_id
        return self._names[user_id]

    async def _read_from_slack(self, channel: str, thread_ts: str, bot: BotIdentity, oldest: str | None) -> None:
        messages: list[dict[str, Any]] = []
        try:
            pages = await self._client.conversations_replies(channel=channel, ts=thread_ts, limit=200, oldest=oldest)
            async for page in pages:
                messages += [
                    m
                    for m in page.get("messages") or []
                    if m.get("subtype") not in ("channel_join", "channel_leave") and "ts" in m
                ]
        except SlackApiError as error:
            raise ConversationUnavailable(
                f"I couldn't read this thread from Slack ({slack_error_code(error)}), so I can't answer with its "
                "context. Please try again in a minute."
            ) from error
        # What the bot already knows stays as recorded (its answers as one piece).
        known = {m.ts: len(m.text) for m in self._store.transcript(channel, thread_ts)}
        room = self._context_chars - sum(known.values())
        read = 0
        # The opening, then the newest back: a long conversation is cut from its older middle,
        # so files there are not downloaded once what is newer fills the context.
        for message in messages[:1] + messages[:0:-1]:
            if str(message["ts"]) in known:
                continue
            stored = (await self._render(message, bot, channel, room))[0]
            room -= len(stored.text)
            self._store.record_if_new(channel, thread_ts, stored)
            read += 1
        log_event(log, "thread_read", channel=channel, thread_ts=thread_ts, messages=read, since=oldest)
