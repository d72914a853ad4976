"""Pull requests and commits from the GitHub REST API (GITHUB_API_URL, GITHUB_TOKEN optional)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urljoin, urlparse

import aiohttp

from bot.bounded_read import read_at_most
from bot.diff_worker import fit_diff_off_loop
from bot.errors import DiffWorkerFailed, ReviewMaterialError
from bot.logs import log_event
from bot.review import CommitRef, Material, PullRequestRef

log = logging.getLogger(__name__)

MAX_DIFF_BYTES = 5 * 1024 * 1024  # GitHub itself refuses diffs far above this


class DiffTooLarge(Exception):
    """GitHub will not render this diff whole."""


MAX_FILE_PAGES = 30  # GitHub lists at most 3,000 files of a pull request
RATE_LIMIT_WAIT_S = 5.0  # a rate limit that lifts this soon is waited out; a later one is explained


def repo_matches(owner: str, repo: str, patterns: tuple[str, ...]) -> bool:
    """`owner/repo` against BOT_GITHUB_REPOS patterns (`owner/*` or `owner/repo`; GitHub's names
    are case-insensitive)."""
    wanted = (owner.lower(), repo.lower())
    for pattern in patterns:
        p_owner, _, p_repo = pattern.lower().partition("/")
        if p_owner == wanted[0] and p_repo in ("*", wanted[1]):
            return True
    return False


def diff_from_file_patches(files: list[dict]) -> tuple[str, tuple[str, ...]]:
    """A unified diff rebuilt from the files API's per-file patches, and the files whose
    changes GitHub left out: binary files and very large diffs come without a `patch` ("List
    pull requests files" docs), and appear here as a header only."""
    parts, not_seen = [], []
    for file in files:
        name = file.get("filename", "?")
        old = file.get("previous_filename", name)
        patch = file.get("patch")
        if not patch and not (file.get("status") == "renamed" and not file.get("changes")):
            not_seen.append(name)  # (a pure rename has no patch, and nothing to see)
        parts.append(f"diff --git a/{old} b/{name}\n--- a/{old}\n+++ b/{name}\n" + (f"{patch}\n" if patch else ""))
    return "".join(parts), tuple(not_seen)


class GitHub:
    def __init__(self, api_url: str, token: str | None, timeout_s: float = 20.0):
        self._api = api_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        # Links the bot takes: github.com's, and an Enterprise server's own (its API's host). The
        # code is always fetched from GITHUB_API_URL; a link to another host is refused.
        api_host = (urlparse(self._api).hostname or "").lower()
        self.web_hosts = frozenset({"github.com", "www.github.com"} | ({api_host} - {"api.github.com", ""}))

    def check_link(self, host: str, owner: str, repo: str) -> None:
        """Only links to this GitHub, naming a real owner and repository, are fetched (no
        other host, no `..` walking out of an Enterprise base path)."""
        if host not in self.web_hosts:
            raise ReviewMaterialError(
                f"I only fetch pull requests and commits from {' or '.join(sorted(self.web_hosts))}."
            )
        if {owner, repo} & {".", ".."}:
            raise ReviewMaterialError("That link does not name a GitHub repository.")

    async def pull_request(self, ref: PullRequestRef) -> tuple[Material, str]:
        """(the material, the PR's description) for a pull request."""
        self.check_link(ref.host, ref.owner, ref.repo)
        path = f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}"
        name = f"{ref.owner}/{ref.repo}#{ref.number}"
        info = await self._get_json(path, name)
        not_seen: tuple[str, ...] = ()
        try:
            raw = await self._get_diff(path, name)
        except DiffTooLarge:
            raw, not_seen = await self._diff_from_files(f"{path}/files", name)
        diff, left_out = await self._fit(raw, name)
        title = f"{ref.owner}/{ref.repo}#{ref.number}: {info.get('title') or 'untitled'}"
        description = (info.get("body") or "").strip()
        return Material("pull request", title, diff, "diff", left_out, not_seen), description

    async def commit(self, ref: CommitRef) -> tuple[Material, str]:
        self.check_link(ref.host, ref.owner, ref.repo)
        path = f"/repos/{ref.owner}/{ref.repo}/commits/{ref.sha}"
        name = f"{ref.owner}/{ref.repo}@{ref.sha[:7]}"
        info = await self._get_json(path, name)
        message = ((info.get("commit") or {}).get("message") or "").strip()
        not_seen: tuple[str, ...] = ()
        try:
            raw = await self._get_diff(path, name)
        except DiffTooLarge:
            raw, not_seen = diff_from_file_patches(info.get("files") or [])  # the commit's JSON carries them
        diff, left_out = await self._fit(raw, name)
        title = f"{name}: {message.splitlines()[0] if message else 'commit'}"
        return Material("commit", title, diff, "diff", left_out, not_seen), message

    async def _fit(self, raw: str, name: str) -> tuple[str, tuple[str, ...]]:
        """The diff within the review budget, fitted off the event loop when it is large."""
        try:
            return await fit_diff_off_loop(raw)
        except DiffWorkerFailed as error:
            raise ReviewMaterialError(
                f"I couldn't prepare the diff of {name} for review: {error}. Please try "
                "again; if it keeps failing, link a smaller pull request or single commits."
            ) from error

    async def _diff_from_files(self, path: str, name: str) -> tuple[str, tuple[str, ...]]:
        """GitHub refuses a diff over its size limit (406); the files API still lists each
        file's patch, a page at a time."""
        files: list[dict] = []
        for page in range(1, MAX_FILE_PAGES + 1):
            batch = json.loads(await self._get(f"{path}?per_page=100&page={page}", "application/vnd.github+json", name))
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

    async def _get(self, path: str, accept: str, name: str, waited: bool = False, redirected: bool = False) -> str:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(self._api + path, headers=self._headers(accept), allow_redirects=False) as response,
            ):
                if response.status in (301, 302, 307, 308):
                    # A renamed repository moves within the API; the token never leaves its host.
                    location = urljoin(self._api + path, response.headers.get("Location", ""))
                    if redirected or not location.startswith(self._api + "/"):
                        log_event(log, "github_redirect_refused", logging.WARNING, path=path, to=location[:200])
                        raise ReviewMaterialError(f"GitHub sent me elsewhere for {name}; I don't follow that.")
                    return await self._get(location[len(self._api) :], accept, name, waited, redirected=True)
                if response.status == 200:
                    body = await read_at_most(response, MAX_DIFF_BYTES)
                    if body is None:
                        raise ReviewMaterialError(f"{name} is too large to review (over 5 MB of diff).")
                    return body.decode("utf-8", errors="replace")
                log_event(
                    log,
                    "github_error",
                    logging.WARNING,
                    path=path,
                    status=response.status,
                    ratelimit_remaining=response.headers.get("x-ratelimit-remaining"),
                )
                text = (await read_at_most(response, 64 * 1024) or b"").decode("utf-8", errors="replace")
                if accept.endswith(".diff") and (response.status == 406 or response.status == 422 and _too_large(text)):
                    raise DiffTooLarge(name)
                wait = _rate_limit_wait(response.status, response.headers, text)
                if wait is not None:
                    if wait <= RATE_LIMIT_WAIT_S and not waited:
                        await asyncio.sleep(wait)
                        return await self._get(path, accept, name, waited=True, redirected=redirected)
                    raise ReviewMaterialError(_rate_limited(name, wait, bool(self._token)))
                raise ReviewMaterialError(_explain(response.status, name, bool(self._token)))
        except (aiohttp.ClientError, TimeoutError) as error:
            log_event(log, "github_unreachable", logging.WARNING, path=path, error=repr(error)[:200])
            raise ReviewMaterialError(
                f"I couldn't reach GitHub to fetch {name}. Please try again in a minute."
            ) from error


def _too_large(body: str) -> bool:
    """GitHub's refusal of a diff it will not render: `errors[].code == "too_large"`."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("code") == "too_large" for e in errors)


def _rate_limit_wait(status: int, headers: Any, body: str = "") -> float | None:
    """Seconds until GitHub takes requests again, if this answer is a rate limit ("Rate limits
    for the REST API": 403 or 429, with `retry-after`, or `x-ratelimit-remaining: 0` and the
    reset time in `x-ratelimit-reset`, epoch seconds; a secondary limit may say so only in its
    message, and then "wait at least one minute"); None otherwise."""
    if status not in (403, 429):
        return None
    if "secondary rate limit" in body.lower() and not headers.get("retry-after"):
        return 60.0
    try:
        if headers.get("retry-after"):
            return max(float(headers["retry-after"]), 0.0)
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            return max(float(headers["x-ratelimit-reset"]) - time.time(), 0.0)
    except ValueError:
        return 60.0
    return 60.0 if status == 429 else None


def _rate_limited(name: str, wait: float, has_token: bool) -> str:
    when = time.strftime("%H:%M UTC", time.gmtime(time.time() + wait))
    hint = (
        ""
        if has_token
        else (" An admin can set GITHUB_TOKEN: GitHub allows far more requests with a token than without one.")
    )
    return (
        f"GitHub's rate limit for this bot is used up, so I can't fetch {name} now. It lifts at about "
        f"{when} (in {max(1, round(wait / 60))} min); please try again then.{hint}"
    )


def _explain(status: int, name: str, has_token: bool) -> str:
    if status == 404:
        hint = (
            "it may be private to a repository my GitHub token can't read"
            if has_token
            else "if it's private, an admin needs to set GITHUB_TOKEN"
        )
        return f"I couldn't find {name} on GitHub: check the link ({hint})."
    if status in (401, 403, 429):
        hint = "the GITHUB_TOKEN was rejected" if status == 401 else "GitHub refused or rate-limited the request"
        return (
            f"GitHub wouldn't give me {name} ({hint}). Please try again later, or ask an admin to check GITHUB_TOKEN."
        )
    return f"GitHub answered {status} for {name}. Please try again in a minute."
