"""/backend-review: acked at once; the review is posted in the channel and streamed into the
thread of that post, where the team can discuss it like any conversation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.github import GitHub, ReviewMaterialError, repo_matches
from bot.logs import log_event
from bot.redact import redact
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


def register_review_command(
    app: AsyncApp,
    client: AsyncWebClient,
    answers: ThreadAnswers,
    reader: ThreadReader,
    store: Store,
    github: GitHub,
    review_agent: str,
    allowed: Callable[[str], bool] = lambda channel: True,
    github_repos: tuple[str, ...] | None = None,
) -> None:
    """`github_repos`: the repositories whose code may be brought into a conversation (None: any
    that GITHUB_TOKEN can read)."""
    files = SlackFiles(client)

    def repo_allowed(owner: str, repo: str) -> bool:
        return github_repos is None or repo_matches(owner, repo, github_repos)

    @app.command(REVIEW_COMMAND)
    async def on_review(ack: Any, body: dict[str, Any], respond: Any) -> None:
        received = time.monotonic()
        parsed = parse_review_text(body.get("text") or "")
        request_id = new_request_id()
        if isinstance(parsed, Help) or (isinstance(parsed, Snippet) and not has_code(parsed)):
            await ack(response_type="ephemeral", text=USAGE)
            outcome = "help"
        elif not allowed(body.get("channel_id", "")):
            await ack(
                response_type="ephemeral",
                text="Sorry, I'm not enabled in this channel, so I can't review "
                "here. Ask your Slack admin, or try a channel where I answer.",
            )
            outcome = "channel_not_allowed"
        elif full := answers.queue_full(body.get("user_id", "")):
            await ack(response_type="ephemeral", text=full)
            outcome = "user_queue_full"
        elif used_up := answers.over_daily_limit(body.get("user_id", "")):
            # Before fetching anything or posting in the channel: nothing would follow the post.
            await ack(response_type="ephemeral", text=used_up)
            outcome = "over_daily_limit"
        elif body.get("trigger_id") and not store.take("command", str(body["trigger_id"])):
            # The same signed request again (a replay within Slack's five minutes): each run of
            # a command has its own trigger_id, so this one was already taken.
            await ack()
            outcome = "duplicate"
        else:
            await ack()
            # Durable from here: fetching the material, posting and the review itself are a
            # queued job, so a crash or a deploy during any of it loses nothing.
            answers.submit(REVIEW_REQUEST, {"body": {k: body.get(k) for k in COMMAND_FIELDS}, "request_id": request_id})
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

    async def review(job: Job) -> None:
        body, request_id = job.payload["body"], job.payload["request_id"]
        respond = AsyncWebhookClient(body["response_url"]).send
        try:
            await post_and_queue(body, parse_review_text(body.get("text") or ""), respond, request_id, job)
        except ReviewMaterialError as error:
            await respond(response_type="ephemeral", text=f"⚠️ {redact(str(error)).text}")
        except Exception:
            log.exception("review failed", extra={"fields": {"request_id": request_id}})
            await respond(
                response_type="ephemeral",
                text="⚠️ Something went wrong on my side before the review "
                f"could start. Please try again. (ref `{request_id}`)",
            )

    async def post_and_queue(
        body: dict[str, Any], parsed: ReviewInput, respond: Any, request_id: str, job: Job
    ) -> None:
        channel, user, team = body["channel_id"], body["user_id"], body.get("team_id")
        if job.posted and not store.take_is_free(channel, job.posted[0]):
            return  # an earlier run posted the review and queued it before it was cut short
        used_up = None if job.posted else answers.over_daily_limit(user)
        if used_up:  # spent while this waited in the queue
            await respond(response_type="ephemeral", text=used_up)
            return
        material, description = await material_for(parsed, channel, user)
        # One redaction over everything Claude will read (code, question, description, file
        # names), and the one-line preview echoed into the channel.
        request = redact(review_request(material, parsed.question, description))
        title = redact(material.title).text
        try:
            if job.posted:
                posted = {"ts": job.posted[0]}  # posted by an earlier run, which stopped there
            else:
                posted = await client.chat_postMessage(
                    channel=channel,
                    text=f"<@{user}> asked for a review of {material.kind} *{_escape(title)}*",
                    unfurl_links=False,
                    unfurl_media=False,
                )
                store.job_posted(job.id, str(posted["ts"]))
        except SlackApiError as error:
            code = slack_error_code(error)
            log_event(log, "review_not_posted", logging.WARNING, request_id=request_id, channel=channel, error=code)
            where = (
                "I'm not in this channel yet, so I can't post the review here. Invite me with "
                "`/invite @backend-engineer` (or send me the command in a DM) and run it again."
                if code in NOT_HERE
                else f"I couldn't post in this conversation ({code}). Please try again."
            )
            echo = f"{REVIEW_COMMAND} {redact(body.get('text') or '').text}"
            await respond(
                response_type="ephemeral",
                text=f"{where} Here is what you sent:\n{echo}",
                blocks=[
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": f"{where} Here is what you sent, to retry:"},
                    },
                    # Preformatted rich text keeps the command intact, fences and all.
                    {
                        "type": "rich_text",
                        "elements": [{"type": "rich_text_preformatted", "elements": [{"type": "text", "text": echo}]}],
                    },
                ],
            )
            return
        parent = str(posted["ts"])
        asker = await reader.name_of(user)
        notices = [request.summary()] if request.any else []
        if material.not_seen:
            shown = ", ".join(f"`{redact(name).text}`" for name in material.not_seen[:10])
            more = f" and {len(material.not_seen) - 10} more" if len(material.not_seen) > 10 else ""
            notices.append(f"Not seen: GitHub sent no changes for {shown}{more} (binary, or too large to show).")
        with store.transaction():
            store.take(channel, parent)
            store.join_thread(channel, parent)
            # The channel post stands for the asker's request: in the transcript it is their
            # turn, holding the material, so follow-ups in the thread keep it in context.
            store.record(channel, parent, StoredMessage(parent, "user", asker, request.text))
            store.mark_synced(channel, parent, time.time(), parent)
            answers.review(ThreadTarget(channel, parent, parent, user, team), request_id, notices, review_agent)

    answers.register(REVIEW_REQUEST, review)

    async def material_for(parsed: ReviewInput, channel: str, user: str) -> tuple[Material, str]:
        if isinstance(parsed, (PullRequestRef, CommitRef)) and not repo_allowed(parsed.owner, parsed.repo):
            raise ReviewMaterialError(
                f"I only review code from {', '.join(github_repos or ())} here; "
                f"{parsed.owner}/{parsed.repo} is not one of them (BOT_GITHUB_REPOS)."
            )
        if isinstance(parsed, PullRequestRef):
            return await github.pull_request(parsed)
        if isinstance(parsed, CommitRef):
            return await github.commit(parsed)
        if isinstance(parsed, SlackFileRef):
            file = await files.read_by_id(parsed.file_id, channel, user)
            if file.problem == NOT_SHARED_HERE:
                raise ReviewMaterialError(
                    "I can only review files shared in this conversation. Share the file "
                    "here first, or ask me in a DM for a file of your own."
                )
            if file.text is None:
                raise ReviewMaterialError(f"I can't review {file.name}: {file.problem}.")
            lines = file.text.count("\n") + 1
            return Material("file", f"{file.name} ({lines} lines)", file.text, file.language), ""
        assert isinstance(parsed, Snippet)
        return snippet_material(parsed), ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
