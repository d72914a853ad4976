"""Reading threads, people and files from Slack into the transcript the core renders.

`conversations.replies` is rate limited (Tier 3, far lower for some apps), so the bot keeps
the transcript of its threads from the events it receives and reads from Slack only what
it has not seen: a whole thread when it is mentioned mid-thread, and, after a restart, what
was said in a thread while it was down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answering import ConversationUnavailable
from bot.conversation import Turn
from bot.logs import log_event
from bot.slack.errors import slack_error_code
from bot.slack.events import IncomingMessage, mentioned_users, plain_text
from bot.store import StoredMessage, Store

log = logging.getLogger(__name__)

FILE_MAX_BYTES = 256 * 1024  # larger files are named, not read
FILE_MAX_CHARS = 40_000  # of one file's text that goes to Claude
TEXT_FILETYPES = frozenset({
    "text", "markdown", "post", "csv", "tsv", "json", "yaml", "xml", "html", "css", "sql", "diff", "patch",
    "python", "javascript", "typescript", "go", "rust", "java", "kotlin", "scala", "swift", "c", "cpp",
    "csharp", "ruby", "php", "perl", "shell", "bash", "powershell", "dockerfile", "terraform", "toml",
    "ini", "properties", "protobuf", "graphql", "lua", "r", "elixir", "erlang", "haskell", "clojure",
    "groovy", "makefile", "nginx", "log",
})


@dataclass(frozen=True)
class BotIdentity:
    user_id: str | None
    bot_id: str | None
    name: str = "backend-engineer"


class ThreadReader:
    def __init__(self, client: AsyncWebClient, store: Store):
        self._client = client
        self._store = store
        self._names: dict[str, str] = {}
        # Messages said while the bot was down reached no handler: threads last synced before
        # this moment may have gaps, and are topped up from Slack on their next question.
        self._started_at = time.time()

    async def conversation(self, message: IncomingMessage, bot: BotIdentity) -> list[Turn]:
        """The thread of `message`, complete, as turns (the question last)."""
        channel, thread_ts = message.channel, message.thread_ts or message.ts
        synced_at = self._store.synced_at(channel, thread_ts)
        if message.in_thread and synced_at == 0:
            await self._read_from_slack(channel, thread_ts, bot, oldest=None)  # mentioned mid-thread
        elif 0 < synced_at < self._started_at:
            await self._read_from_slack(channel, thread_ts, bot, oldest=self._store.latest_ts(channel, thread_ts))
        self._store.record(channel, thread_ts, await self.stored(message.raw, bot))
        self._store.mark_synced(channel, thread_ts, time.time())
        return [Turn(m.role, m.text, m.author if m.role == "user" else None)
                for m in self._store.transcript(channel, thread_ts)]

    async def stored(self, message: dict[str, Any], bot: BotIdentity) -> StoredMessage:
        """A Slack message as the transcript keeps it: who, and what they said, files included."""
        mine = (bot.user_id is not None and message.get("user") == bot.user_id) or \
               (bot.bot_id is not None and message.get("bot_id") == bot.bot_id)
        text = message.get("text") or ""
        names = {user: await self.name_of(user) for user in mentioned_users(text) if user != bot.user_id}
        parts = [plain_text(text, bot.user_id, names)]
        for file in message.get("files") or []:
            parts.append(await self._file_text(file))
        if mine:
            author = bot.name
        elif message.get("bot_id") or message.get("subtype") == "bot_message":
            author = (message.get("bot_profile") or {}).get("name") or message.get("username") or "a bot"
        else:
            author = await self.name_of(message.get("user") or "")
        return StoredMessage(str(message["ts"]), "assistant" if mine else "user", author,
                             "\n\n".join(p for p in parts if p))

    async def name_of(self, user_id: str) -> str:
        """A person's display name (cached); their id if Slack won't say."""
        if not user_id:
            return "someone"
        if user_id not in self._names:
            try:
                user = (await self._client.users_info(user=user_id))["user"]
                profile = user.get("profile") or {}
                self._names[user_id] = (profile.get("display_name") or profile.get("real_name")
                                        or user.get("real_name") or user.get("name") or user_id)
            except SlackApiError as error:
                log_event(log, "slack_call_failed", logging.WARNING, method="users.info", user=user_id,
                          error=slack_error_code(error))
                return user_id
        return self._names[user_id]

    async def _read_from_slack(self, channel: str, thread_ts: str, bot: BotIdentity, oldest: str | None) -> None:
        read = 0
        try:
            pages = await self._client.conversations_replies(channel=channel, ts=thread_ts, limit=200,
                                                             **({"oldest": oldest} if oldest else {}))
            async for page in pages:
                for message in page.get("messages") or []:
                    if message.get("subtype") in ("channel_join", "channel_leave") or "ts" not in message:
                        continue
                    # What the bot already knows stays as recorded (its answers as one piece).
                    self._store.record_if_new(channel, thread_ts, await self.stored(message, bot))
                    read += 1
        except SlackApiError as error:
            raise ConversationUnavailable(
                f"I couldn't read this thread from Slack ({slack_error_code(error)}), so I can't answer with its "
                "context. Please try again in a minute.") from error
        log_event(log, "thread_read", channel=channel, thread_ts=thread_ts, messages=read, since=oldest)

    async def _file_text(self, file: dict[str, Any]) -> str:
        if file.get("file_access") == "check_file_info" or not file.get("url_private"):
            try:
                file = (await self._client.files_info(file=file["id"]))["file"]
            except (SlackApiError, KeyError) as error:
                log_event(log, "file_unreadable", logging.WARNING, file=file.get("id"), error=str(error)[:200])
                return f"[attached file {file.get('name') or file.get('id')}: could not be read]"
        name = file.get("name") or file.get("title") or file.get("id")
        filetype = (file.get("filetype") or "").lower()
        textual = filetype in TEXT_FILETYPES or (file.get("mimetype") or "").startswith("text/")
        if not textual:
            return f"[attached file {name}: {filetype or file.get('mimetype') or 'binary'}, not included]"
        if (file.get("size") or 0) > FILE_MAX_BYTES:
            return f"[attached file {name}: {file['size'] // 1024} KB, too large to include]"
        content = await self._download(file["url_private"])
        if content is None:
            return f"[attached file {name}: could not be read]"
        if len(content) > FILE_MAX_CHARS:
            content = content[:FILE_MAX_CHARS] + f"\n… [cut: the file has {len(content):,} characters]"
        fence = "````" if "```" in content else "```"
        return f"[attached file {name}]\n{fence}{_language(filetype)}\n{content}\n{fence}"

    async def _download(self, url: str) -> str | None:
        """A private file's text, fetched with the bot token (`files:read`)."""
        headers = {"Authorization": f"Bearer {self._client.token}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
                async with session.get(url, headers=headers) as response:
                    if response.status != 200 or response.content_type == "text/html":
                        return None  # Slack answers a login page when the token may not read it
                    body = await response.content.read(FILE_MAX_BYTES + 1)
            return body.decode("utf-8")
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError):
            return None


def _language(filetype: str) -> str:
    return "" if filetype in ("text", "post", "log") else filetype
