"""A fake GitHub REST API: pull requests and commits as JSON or as a diff (by Accept header),
with GitHub's limits: a diff too large to render (406 or 422, `errors[].code == "too_large"`),
files listed without their `patch`, and rate limits (x-ratelimit-* headers, 403 when used up,
429 with retry-after for the secondary limits; "Rate limits for the REST API")."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.playground.local_server import LocalServer

GITHUB_TOKEN = "ghp_" + "T" * 36


@dataclass(frozen=True)
class Change:
    title: str
    body: str
    diff: str
    private: bool = False  # only GITHUB_TOKEN may read it
    html: bool = False  # a proxy answers with a login page instead of the API
    too_large: bool = False  # GitHub refuses the diff (too_large_status); the files API still works
    too_large_status: int = 406
    no_patch: tuple[str, ...] = ()  # files the files API lists without a `patch` (binary, or huge)
    delay: float = 0.0  # seconds before GitHub answers


class FakeGitHub(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.pulls: dict[tuple[str, str, str], Change] = {}
        self.commits: dict[tuple[str, str, str], Change] = {}
        self.requests: list[dict[str, Any]] = []
        self.remaining: int | None = None  # requests left in the rate-limit window (None: plenty)
        self.reset_in_s = 1800.0  # when the window resets, from the moment it runs out
        self.retry_after: list[float] = []  # secondary rate limits: answer 429 with these retry-afters first
        self.redirect_to: str | None = None  # answer every request with a 301 to this address
        self.app.router.add_get("/repos/{owner}/{repo}/pulls/{number}", self._pull)
        self.app.router.add_get("/repos/{owner}/{repo}/pulls/{number}/files", self._files)
        self.app.router.add_get("/repos/{owner}/{repo}/commits/{sha}", self._commit)

    @property
    def url(self) -> str:
        return self.origin

    def _limited(self) -> web.Response | None:
        if self.redirect_to:
            return web.Response(status=301, headers={"Location": self.redirect_to})
        if self.retry_after:
            return web.json_response(
                {"message": "You have exceeded a secondary rate limit."},
                status=429,
                headers={"retry-after": str(self.retry_after.pop(0))},
            )
        if self.remaining is None:
            return None
        if self.remaining <= 0:
            return web.json_response(
                {"message": "API rate limit exceeded"},
                status=403,
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time() + self.reset_in_s))},
            )
        self.remaining -= 1
        return None

    async def _pull(self, request: web.Request) -> web.Response:
        limited = self._limited()
        if limited is not None:
            return limited
        m = request.match_info
        change = self.pulls.get((m["owner"], m["repo"], m["number"]))
        if change is not None and change.delay:
            await asyncio.sleep(change.delay)
        return self._serve(request, self.pulls.get((m["owner"], m["repo"], m["number"])), "pull")

    async def _commit(self, request: web.Request) -> web.Response:
        limited = self._limited()
        if limited is not None:
            return limited
        m = request.match_info
        return self._serve(request, self.commits.get((m["owner"], m["repo"], m["sha"])), "commit")

    async def _files(self, request: web.Request) -> web.Response:
        limited = self._limited()
        if limited is not None:
            return limited
        m = request.match_info
        change = self.pulls[(m["owner"], m["repo"], m["number"])]
        self.requests.append(
            {
                "path": request.path_qs,
                "accept": request.headers.get("Accept"),
                "authorization": request.headers.get("Authorization"),
            }
        )
        files = []
        for part in change.diff.split("diff --git ")[1:]:
            name = part.split(" b/", 1)[1].split("\n", 1)[0]
            patch = part.split("\n@@", 1)
            entry: dict[str, Any] = {"filename": name, "status": "modified", "changes": 1}
            if name in change.no_patch:  # a binary file: no patch key at all, and no changes counted
                entry["changes"] = 0
            elif len(patch) > 1:
                entry["patch"] = "@@" + patch[1].rstrip("\n")
            files.append(entry)
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 30))
        return web.json_response(files[(page - 1) * per_page : page * per_page])

    def _serve(self, request: web.Request, change: Change | None, kind: str) -> web.Response:
        self.requests.append(
            {
                "path": request.path,
                "accept": request.headers.get("Accept"),
                "authorization": request.headers.get("Authorization"),
            }
        )
        authorized = request.headers.get("Authorization") == f"Bearer {GITHUB_TOKEN}"
        if change is not None and change.html:
            return web.Response(text="<html>proxy login</html>", content_type="text/html")
        if change is None or (change.private and not authorized):
            return web.json_response({"message": "Not Found"}, status=404)  # GitHub hides private repos
        if request.headers.get("Accept") == "application/vnd.github.diff":
            if change.too_large:
                return web.json_response(
                    {
                        "message": "Sorry, the diff exceeded the maximum number of files",
                        "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
                    },
                    status=change.too_large_status,
                )
            return web.Response(text=change.diff, content_type="text/plain")
        if kind == "pull":
            return web.json_response({"title": change.title, "body": change.body, "state": "open"})
        return web.json_response({"sha": "abc", "commit": {"message": f"{change.title}\n\n{change.body}"}})
