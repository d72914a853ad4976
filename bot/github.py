"""Pull requests and commits from the GitHub REST API (GITHUB_API_URL, GITHUB_TOKEN optional)."""

from __future__ import annotations

import json
import logging

import aiohttp

from bot.bounded_read import read_at_most
from bot.logs import log_event
from bot.review import CommitRef, Material, PullRequestRef, fit_diff

log = logging.getLogger(__name__)

MAX_DIFF_BYTES = 5 * 1024 * 1024  # GitHub itself refuses diffs far above this


class ReviewMaterialError(Exception):
    """The material could not be fetched; the message is for the user."""


class DiffTooLarge(Exception):
    """GitHub will not render this diff whole."""


MAX_FILE_PAGES = 30  # GitHub lists at most 3,000 files of a pull request


def diff_from_file_patches(files: list[dict]) -> str:
    """A unified diff rebuilt from the files API's per-file patches (binary or huge files have
    none and appear as a header only)."""
    parts = []
    for file in files:
        name = file.get("filename", "?")
        old = file.get("previous_filename", name)
        patch = file.get("patch")
        parts.append(f"diff --git a/{old} b/{name}\n--- a/{old}\n+++ b/{name}\n" + (f"{patch}\n" if patch else ""))
    return "".join(parts)


class GitHub:
    def __init__(self, api_url: str, token: str | None, timeout_s: float = 20.0):
        self._api = api_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def pull_request(self, ref: PullRequestRef) -> tuple[Material, str]:
        """(the material, the PR's description) for a pull request."""
        path = f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}"
        name = f"{ref.owner}/{ref.repo}#{ref.number}"
        info = await self._get_json(path, name)
        try:
            raw = await self._get_diff(path, name)
        except DiffTooLarge:
            raw = await self._diff_from_files(f"{path}/files", name)
        diff, left_out = fit_diff(raw)
        title = f"{ref.owner}/{ref.repo}#{ref.number}: {info.get('title') or 'untitled'}"
        description = (info.get("body") or "").strip()
        return Material("pull request", title, diff, "diff", left_out), description

    async def commit(self, ref: CommitRef) -> tuple[Material, str]:
        path = f"/repos/{ref.owner}/{ref.repo}/commits/{ref.sha}"
        name = f"{ref.owner}/{ref.repo}@{ref.sha[:7]}"
        info = await self._get_json(path, name)
        message = ((info.get("commit") or {}).get("message") or "").strip()
        try:
            raw = await self._get_diff(path, name)
        except DiffTooLarge:
            raw = diff_from_file_patches(info.get("files") or [])  # the commit's JSON carries them
        diff, left_out = fit_diff(raw)
        title = f"{name}: {message.splitlines()[0] if message else 'commit'}"
        return Material("commit", title, diff, "diff", left_out), message

    async def _diff_from_files(self, path: str, name: str) -> str:
        """GitHub refuses a diff over its size limit (406); the files API still lists each
        file's patch, a page at a time."""
        files: list[dict] = []
        for page in range(1, MAX_FILE_PAGES + 1):
            batch = json.loads(await self._get(f"{path}?per_page=100&page={page}", "application/vnd.github+json",
                                               name))
            files += batch
            if len(batch) < 100:
                break
        return diff_from_file_patches(files)

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "backend-engineer"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def _get_json(self, path: str, name: str) -> dict:
        return json.loads(await self._get(path, "application/vnd.github+json", name))

    async def _get_diff(self, path: str, name: str) -> str:
        return await self._get(path, "application/vnd.github.diff", name)

    async def _get(self, path: str, accept: str, name: str) -> str:
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session:
                async with session.get(self._api + path, headers=self._headers(accept)) as response:
                    if response.status == 200:
                        body = await read_at_most(response, MAX_DIFF_BYTES)
                        if body is None:
                            raise ReviewMaterialError(f"{name} is too large to review (over 5 MB of diff).")
                        return body.decode("utf-8", errors="replace")
                    log_event(log, "github_error", logging.WARNING, path=path, status=response.status)
                    if response.status == 406 and accept.endswith(".diff"):
                        raise DiffTooLarge(name)
                    raise ReviewMaterialError(_explain(response.status, name, bool(self._token)))
        except (aiohttp.ClientError, TimeoutError) as error:
            log_event(log, "github_unreachable", logging.WARNING, path=path, error=repr(error)[:200])
            raise ReviewMaterialError(f"I couldn't reach GitHub to fetch {name}. Please try again in a minute.") \
                from error


def _explain(status: int, name: str, has_token: bool) -> str:
    if status == 404:
        hint = ("it may be private to a repository my GitHub token can't read" if has_token else
                "if it's private, an admin needs to set GITHUB_TOKEN")
        return f"I couldn't find {name} on GitHub: check the link ({hint})."
    if status in (401, 403, 429):
        hint = "the GITHUB_TOKEN was rejected" if status == 401 else "GitHub refused or rate-limited the request"
        return f"GitHub wouldn't give me {name} ({hint}). Please try again later, or ask an admin to check GITHUB_TOKEN."
    return f"GitHub answered {status} for {name}. Please try again in a minute."
