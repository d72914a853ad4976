"""Files and snippets shared in Slack: read their text with the bot token (`files:read`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.bounded_read import read_at_most
from bot.logs import log_event
from bot.slack.errors import slack_error_code

log = logging.getLogger(__name__)

FILE_MAX_BYTES = 256 * 1024  # larger files are named, not read
FILE_MAX_CHARS = 40_000  # of one file's text that goes to Claude in a conversation
TEXT_FILETYPES = frozenset(
    {
        "text",
        "markdown",
        "post",
        "csv",
        "tsv",
        "json",
        "yaml",
        "xml",
        "html",
        "css",
        "sql",
        "diff",
        "patch",
        "python",
        "javascript",
        "typescript",
        "go",
        "rust",
        "java",
        "kotlin",
        "scala",
        "swift",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
        "perl",
        "shell",
        "bash",
        "powershell",
        "dockerfile",
        "terraform",
        "toml",
        "ini",
        "properties",
        "protobuf",
        "graphql",
        "lua",
        "r",
        "elixir",
        "erlang",
        "haskell",
        "clojure",
        "groovy",
        "makefile",
        "nginx",
        "log",
    }
)


@dataclass(frozen=True)
class SlackFile:
    name: str
    filetype: str
    text: str | None  # None when it was not read
    problem: str | None = None  # why not, in words for the user

    @property
    def language(self) -> str:
        return "" if self.filetype in ("text", "post", "log", "") else self.filetype

    def as_attachment(self, max_chars: int = FILE_MAX_CHARS) -> str:
        """The file as it goes into a conversation: its text in a code block, or why not."""
        if self.text is None:
            return f"[attached file {self.name}: {self.problem}]"
        text = self.text
        if len(text) > max_chars:
            text = text[:max_chars] + f"\n… [cut: the file has {len(self.text):,} characters]"
        fence = "````" if "```" in text else "```"
        return f"[attached file {self.name}]\n{fence}{self.language}\n{text}\n{fence}"


NOT_SHARED_HERE = "not shared in this conversation"


def may_read_here(file: dict[str, Any], channel: str, requester: str | None) -> bool:
    """The bot token sees every file shared wherever the bot is, so a file is read for a
    request only where it is already shared (files.info's `channels`, `groups`, `ims` and
    `shares`), or for its owner in their own DM with the bot."""
    places = {*(file.get("channels") or []), *(file.get("groups") or []), *(file.get("ims") or [])}
    for scope in (file.get("shares") or {}).values():
        places |= set(scope or {})
    return channel in places or (requester is not None and file.get("user") == requester and channel.startswith("D"))


# Where the bot token may be sent to fetch a file; never to an external file's host.
SLACK_FILE_HOSTS = frozenset({"files.slack.com", "files-edu.slack.com", "files.slack-gov.com"})


class SlackFiles:
    def __init__(self, client: AsyncWebClient):
        self._client = client
        # A Slack emulator or proxy (SLACK_API_URL) serves its own files.
        self._api_host = urlparse(client.base_url).hostname or ""
        self._hosts = SLACK_FILE_HOSTS | {self._api_host}

    async def read_by_id(self, file_id: str, channel: str, requester: str | None) -> SlackFile:
        """A file named by a link: read for `requester` in `channel` only if it may be read there."""
        return await self.read({"id": file_id, "file_access": "check_file_info"}, channel, requester)

    async def read(self, file: dict[str, Any], channel: str, requester: str | None) -> SlackFile:
        """A file of a message in `channel` (or named by a link there)."""
        if file.get("file_access") == "check_file_info" or not file.get("url_private"):
            try:
                file = (await self._client.files_info(file=file["id"]))["file"]
            except SlackApiError as error:
                code = slack_error_code(error)
                log_event(log, "file_unreadable", logging.WARNING, file=file.get("id"), error=code)
                problem = (
                    "not found, or not shared where I can see it"
                    if code in ("file_not_found", "file_deleted")
                    else f"could not be read ({code})"
                )
                return SlackFile(file.get("name") or file.get("id") or "file", "", None, problem)
            if not may_read_here(file, channel, requester):
                log_event(log, "file_refused", logging.WARNING, file=file.get("id"), channel=channel, user=requester)
                return SlackFile("a file", "", None, NOT_SHARED_HERE)  # not even its name
        name = file.get("name") or file.get("title") or file.get("id") or "file"
        filetype = (file.get("filetype") or "").lower()
        where = urlparse(file.get("url_private") or "")
        if file.get("is_external") or where.hostname not in self._hosts:
            return SlackFile(name, filetype, None, "stored outside Slack, not included")
        if where.scheme != "https" and where.hostname != self._api_host:
            # The bot token goes with the download: never in the clear (a local emulator or
            # proxy at SLACK_API_URL is the one exception).
            return SlackFile(name, filetype, None, "not offered over https, not included")
        if filetype not in TEXT_FILETYPES and not (file.get("mimetype") or "").startswith("text/"):
            return SlackFile(name, filetype, None, f"{filetype or file.get('mimetype') or 'binary'} file, not included")
        size = file.get("size") or 0
        if size > FILE_MAX_BYTES:
            return SlackFile(
                name,
                filetype,
                None,
                f"{size // 1024} KB, too large to include (the limit is {FILE_MAX_BYTES // 1024} KB)",
            )
        text = await self._download(file["url_private"])
        if text is None:
            return SlackFile(name, filetype, None, "could not be read")
        return SlackFile(name, filetype, text)

    async def _download(self, url: str) -> str | None:
        headers = {"Authorization": f"Bearer {self._client.token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
                session.get(url, headers=headers) as response,
            ):
                if response.status != 200 or response.content_type == "text/html":
                    return None  # Slack answers a login page when the token may not read it
                body = await read_at_most(response, FILE_MAX_BYTES)
            if body is None or b"\x00" in body[:8192]:
                return None  # over the limit after all, or binary whatever its type says
            return body.decode("utf-8", errors="replace")
        except (aiohttp.ClientError, TimeoutError):
            return None
