"""/backend-review: acked at once; the review is posted in the channel and streamed into the
thread of that post, where the team can discuss it like any conversation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.errors import ReviewMaterialError
from bot.github import GitHub, repo_matches
from bot.logs import log_event
from bot.redact import Redaction, redact
from bot.review import (
    CommitRef,
    Help,
    Material,
    PullRequestRef,
    ReviewInput,
    SlackFileRef,
    Snippet,
    has_code,
    parse_review_text,
    review_request,
    snippet_material,
)
from bot.slack.answers import ThreadAnswers
from bot.slack.errors import slack_error_code
from bot.slack.events import ThreadTarget, new_request_id
from bot.slack.files import NOT_SHARED_HERE, SlackFiles
from bot.slack.manifest import REVIEW_COMMAND
from bot.slack.threads import ThreadReader
from bot.store import Job, Store, StoredMessage

log = logging.getLogger(__name__)

USAGE = (
    "*`/backend-review`* — a senior backend engineer's review, posted in this channel with a thread "
    "to discuss it.\n"
    # No triple backticks in here: mid-line, Slack would open a code block with them.
    "• *Code*, pasted as it is or in a code block, with a question if you like:\n"
    "   `/backend-review is this safe under concurrency? def take(job): ...`\n"
    "• *A pull request or commit*: `/backend-review https://github.com/acme/api/pull/42`\n"
    "• *A Slack file or snippet*: `/backend-review https://acme.slack.com/files/U123/F456/worker.py`\n"
    "Secrets in what you send are redacted before anything reaches Claude. "
    "You can also mention me with code or a file and the word _review_."
)
REVIEW_REQUEST = "review_request"  # the queued job: fetch the material, post, queue the review
COMMAND_FIELDS = ("channel_id", "user_id", "team_id", "text", "response_url")
# What chat.postMessage says when the bot cannot post where the command was run.
NOT_HERE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
NOT_ENABLED_HERE = (
    "Sorry, I'm not enabled in this channel, so I can't review here. Ask your Slack admin, or try a channel "
    "where I answer."
)
NOT_IN_CHANNEL = (
    "I'm not in this channel yet, so I can't post the review here. Invite me with "
    "`/invite @backend-engineer` (or send me the command in a DM) and run it again."
)
Reviewable = PullRequestRef | CommitRef | SlackFileRef | Snippet  # what a queued command carries: never Help


@dataclass(frozen=True)
class Refusal:
    """A command answered at once with a word instead of a review."""

    outcome: str  # logged
    text: str  # ephemeral, for whoever ran the command


def refusal(parsed: ReviewInput, channel_allowed: bool) -> Refusal | None:
    """What the command itself says needs no review: a request for help, or nothing to review,
    or a channel the bot does not answer in (None: on to the asker's queue and allowance)."""
    if isinstance(parsed, Help) or (isinstance(parsed, Snippet) and not has_code(parsed)):
        return Refusal("help", USAGE)
    if not channel_allowed:
        return Refusal("channel_not_allowed", NOT_ENABLED_HERE)
    return None


def _refused(outcome: str, text: str | None) -> Refusal | None:
    return Refusal(outcome, text) if text else None


def not_posted_reply(code: str, command_text: str) -> dict[str, Any]:
    """What the asker is told when the review could not be posted where they ran the command:
    why, and their command to run again (redacted), intact."""
    where = NOT_IN_CHANNEL if code in NOT_HERE else f"I couldn't post in this conversation ({code}). Please try again."
    echo = f"{REVIEW_COMMAND} {redact(command_text).text}"
    return {
        "response_type": "ephemeral",
        "text": f"{where} Here is what you sent:\n{echo}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{where} Here is what you sent, to retry:"}},
            # Preformatted rich text keeps the command intact, fences and all.
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_preformatted", "elements": [{"type": "text", "text": echo}]}],
            },
        ],
    }


def review_notices(request: Redaction, material: Material) -> list[str]:
    """What the review's reply says first: what was redacted, and the files GitHub sent no changes for."""
    notices = [request.summary()] if request.any else []
    if material.not_seen:
        shown = ", ".join(f"`{redact(name).text}`" for name in material.not_seen[:10])
        more = f" and {len(material.not_seen) - 10} more" if len(material.not_seen) > 10 else ""
        notices.append(f"Not seen: GitHub sent no changes for {shown}{more} (binary, or too large to show).")
    return notices


class ReviewCommand:
    """/backend-review: checked when acked, then a queued job (REVIEW_REQUEST) fetches the
    material, posts the review's message in the channel and queues the review in its thread.
    `github_repos`: the repositories whose code may be brought into a conversation (None: any
    that GITHUB_TOKEN can read)."""

    def __init__(
        self,
        client: AsyncWebClient,
        answers: ThreadAnswers,
        reader: ThreadReader,
        store: Store,
        github: GitHub,
        review_agent: str,
        allowed: Callable[[str], bool] = lambda channel: True,
        github_repos: tuple[str, ...] | None = None,
    ):
        self._client = client
        self._answers = answers
        self._reader = reader
        self._store = store
        self._github = github
        self._review_agent = review_agent
        self._allowed = allowed
        self._github_repos = github_repos
        self._files = SlackFiles(client)

    def register(self, app: AsyncApp) -> None:
        app.command(REVIEW_COMMAND)(self.on_command)
        self._answers.register(REVIEW_REQUEST, self.run)

    # -- at the ack ------------------------------------------------------------------

    async def on_command(self, ack: Any, body: dict[str, Any]) -> None:
        received = time.monotonic()
        parsed = parse_review_text(body.get("text") or "")
        request_id = new_request_id()
        refused = self._refusal(parsed, body)
        if refused is not None:
            await ack(response_type="ephemeral", text=refused.text)
            outcome = refused.outcome
        elif body.get("trigger_id") and not self._store.take("command", str(body["trigger_id"])):
            # The same signed request again (a replay within Slack's five minutes): each run of
            # a command has its own trigger_id, so this one was already taken.
            await ack()
            outcome = "duplicate"
        else:
            await ack()
            # Durable from here: fetching the material, posting and the review itself are a
            # queued job, so a crash or a deploy during any of it loses nothing.
            self._answers.submit(
                REVIEW_REQUEST, {"body": {k: body.get(k) for k in COMMAND_FIELDS}, "request_id": request_id}
            )
            outcome = type(parsed).__name__
        log_event(
            log,
            "command",
            command=REVIEW_COMMAND,
            request_id=request_id,
            channel=body.get("channel_id"),
            user=body.get("user_id"),
            outcome=outcome,
            ack_ms=round(1000 * (time.monotonic() - received), 1),
        )

    def _refusal(self, parsed: ReviewInput, body: dict[str, Any]) -> Refusal | None:
        """In this order, each asked only when the one before lets the command through."""
        user = body.get("user_id", "")
        return (
            refusal(parsed, self._allowed(body.get("channel_id", "")))
            or _refused("user_queue_full", self._answers.queue_full(user))
            # Before fetching anything or posting in the channel: nothing would follow the post.
            or _refused("over_daily_limit", self._answers.over_daily_limit(user))
        )

    # -- the queued job --------------------------------------------------------------

    async def run(self, job: Job) -> None:
        body, request_id = job.payload["body"], job.payload["request_id"]
        respond = AsyncWebhookClient(body["response_url"]).send
        try:
            await self._post_and_queue(body, respond, request_id, job)
        except ReviewMaterialError as error:
            await respond(response_type="ephemeral", text=f"⚠️ {redact(str(error)).text}")
        except Exception:
            log.exception("review failed", extra={"fields": {"request_id": request_id}})
            await respond(
                response_type="ephemeral",
                text="⚠️ Something went wrong on my side before the review "
                f"could start. Please try again. (ref `{request_id}`)",
            )

    async def _post_and_queue(self, body: dict[str, Any], respond: Any, request_id: str, job: Job) -> None:
        channel, user = body["channel_id"], body["user_id"]
        if job.posted and not self._store.take_is_free(channel, job.posted[0]):
            return  # an earlier run posted the review and queued it before it was cut short
        used_up = None if job.posted else self._answers.over_daily_limit(user)
        if used_up:  # spent while this waited in the queue
            await respond(response_type="ephemeral", text=used_up)
            return
        parsed = parse_review_text(body.get("text") or "")
        assert not isinstance(parsed, Help), "refused at the ack, never queued"
        material, description = await self._material(parsed, channel, user)
        # One redaction over everything Claude will read (code, question, description, file
        # names), and the one-line preview echoed into the channel.
        request = redact(review_request(material, parsed.question, description))
        parent = await self._post(body, material, respond, request_id, job)
        if parent is not None:
            await self._queue_review(body, parent, request, review_notices(request, material), request_id)

    async def _material(self, parsed: Reviewable, channel: str, user: str) -> tuple[Material, str]:
        """What to review, and its description (a pull request's); ReviewMaterialError, in words
        for the asker, when it can't be had."""
        if isinstance(parsed, (PullRequestRef, CommitRef)) and not self._repo_allowed(parsed.owner, parsed.repo):
            raise ReviewMaterialError(
                f"I only review code from {', '.join(self._github_repos or ())} here; "
                f"{parsed.owner}/{parsed.repo} is not one of them (BOT_GITHUB_REPOS)."
            )
        if isinstance(parsed, PullRequestRef):
            return await self._github.pull_request(parsed)
        if isinstance(parsed, CommitRef):
            return await self._github.commit(parsed)
        if isinstance(parsed, SlackFileRef):
            file = await self._files.read_by_id(parsed.file_id, channel, user)
            if file.problem == NOT_SHARED_HERE:
                raise ReviewMaterialError(
                    "I can only review files shared in this conversation. Share the file "
                    "here first, or ask me in a DM for a file of your own."
                )
            if file.text is None:
                raise ReviewMaterialError(f"I can't review {file.name}: {file.problem}.")
            lines = file.text.count("\n") + 1
            return Material("file", f"{file.name} ({lines} lines)", file.text, file.language), ""
        return snippet_material(parsed), ""

    def _repo_allowed(self, owner: str, repo: str) -> bool:
        return self._github_repos is None or repo_matches(owner, repo, self._github_repos)

    async def _post(
        self, body: dict[str, Any], material: Material, respond: Any, request_id: str, job: Job
    ) -> str | None:
        """The ts of the review's message in the channel, posted now or by an earlier run of the
        job, which stopped there; None when Slack refused it (the asker is told why)."""
        if job.posted:
            return job.posted[0]
        channel, user = body["channel_id"], body["user_id"]
        title = redact(material.title).text
        try:
            posted = await self._client.chat_postMessage(
                channel=channel,
                text=f"<@{user}> asked for a review of {material.kind} *{_escape(title)}*",
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            code = slack_error_code(error)
            log_event(log, "review_not_posted", logging.WARNING, request_id=request_id, channel=channel, error=code)
            await respond(**not_posted_reply(code, body.get("text") or ""))
            return None
        self._store.job_posted(job.id, str(posted["ts"]))
        return str(posted["ts"])

    async def _queue_review(
        self, body: dict[str, Any], parent: str, request: Redaction, notices: list[str], request_id: str
    ) -> None:
        channel, user, team = body["channel_id"], body["user_id"], body.get("team_id")
        asker = await self._reader.name_of(user)
        with self._store.transaction():
            self._store.take(channel, parent)
            self._store.join_thread(channel, parent)
            # The channel post stands for the asker's request: in the transcript it is their
            # turn, holding the material, so follow-ups in the thread keep it in context.
            self._store.record(channel, parent, StoredMessage(parent, "user", asker, request.text))
            self._store.mark_synced(channel, parent, time.time(), parent)
            self._answers.review(
                ThreadTarget(channel, parent, parent, user, team), request_id, notices, self._review_agent
            )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
