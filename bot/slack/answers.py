"""Answers in threads, from a durable queue: every accepted question is a job in SQLite
before any work starts, at most BOT_MAX_CONCURRENCY are answered at once, and a job a
crash or a deploy cut short is finished by the next start, exactly once in the thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import asdict
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.answering import Answerer
from bot.background import BackgroundTasks, KeyedLocks, Slot
from bot.conversation import Turn
from bot.logs import log_event
from bot.metrics import ANSWER_SECONDS, ANSWERS, unwatch_queue, watch_queue
from bot.slack.events import ThreadTarget, incoming, job_body
from bot.slack.reply import SLACK_SURFACE, ThreadReply, quietly
from bot.slack.threads import BotIdentity, ThreadReader
from bot.store import Job, JobOwner, Store, StoredMessage
from bot.usage import Requester

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a job cut short by crashes this often is dropped (it may be what crashes)
QUEUED_NOTICE_S = 3.0  # a question still waiting after this long is told it is queued
INTERRUPTED = "_This answer was interrupted by a restart; the complete answer follows below._"


class ThreadAnswers:
    def __init__(
        self,
        client: AsyncWebClient,
        answerer: Answerer,
        store: Store,
        reader: ThreadReader,
        max_concurrency: int = 8,
        bot_name: str = "backend-engineer",
        user_max_queued: int = 10,
    ):
        self._client = client
        self._answerer = answerer
        self._store = store
        self._reader = reader
        self._bot_name = bot_name
        self._tasks = BackgroundTasks()  # answers in flight
        self._notices = BackgroundTasks()  # "you are queued" timers: not work, not waited for
        self._one_at_a_time = KeyedLocks()  # per thread, so a follow-up sees the answer before it
        self._slots = asyncio.Semaphore(max_concurrency)
        self._wake = asyncio.Event()
        self._accepting = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._handlers: dict[str, Callable[[Job], Awaitable[None]]] = {}
        self._user_max_queued = user_max_queued
        self._told_queue_full: set[str] = set()  # told once while their queue stays full

    # -- what is asked ---------------------------------------------------------------

    def ask(
        self, body: dict[str, Any], bot: BotIdentity, request_id: str, review: bool, agent_name: str | None
    ) -> None:
        """Queue an answer to the message in `body` (a Slack event). `review`: it asks for a
        review of what it carries; `agent_name` skips routing."""
        self._enqueue(
            {
                "kind": "message",
                "body": job_body(body),
                "bot": [bot.user_id, bot.bot_id],
                "review": review,
                "agent": agent_name,
                "request_id": request_id,
            }
        )

    def review(self, target: ThreadTarget, request_id: str, notices: Sequence[str], agent_name: str) -> None:
        """Queue a review whose request is already in the thread's transcript."""
        self._enqueue(
            {
                "kind": "review",
                "target": asdict(target),
                "notices": list(notices),
                "agent": agent_name,
                "request_id": request_id,
            }
        )

    def register(self, kind: str, handler: Callable[[Job], Awaitable[None]]) -> None:
        """Run queued jobs of `kind` (other than answers) with `handler`."""
        self._handlers[kind] = handler

    def submit(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue a job of a registered kind."""
        self._enqueue({**payload, "kind": kind})

    def queue_full(self, user: str) -> str | None:
        """What to tell `user` when as many of their questions wait as BOT_USER_MAX_QUEUED allows
        (None: there is room)."""
        waiting = self._store.queued_count(user)
        if waiting < self._user_max_queued:
            self._told_queue_full.discard(user)
            return None
        return (
            f"You have {waiting} questions waiting for an answer already, so I've set this one aside. "
            "Ask it again once those are answered."
        )

    def first_time_full(self, user: str) -> bool:
        """Whether `user` should hear that their queue is full: once, not for every message."""
        if user in self._told_queue_full:
            return False
        self._told_queue_full.add(user)
        return True

    def over_daily_limit(self, user: str) -> str | None:
        """What to tell `user` when today's Claude allowance is used up (None: it is not)."""
        return self._answerer.over_daily_limit(user)

    def in_order(self, target: ThreadTarget) -> AbstractAsyncContextManager[None]:
        """Hold a thread: its answers, and the recording of what is said in it, one at a time."""
        return self._one_at_a_time.hold(target.thread)

    @property
    def waiting(self) -> int:
        """Answers queued, not started."""
        return self._store.queued_count()

    @property
    def answering(self) -> int:
        """Answers in progress."""
        return self._tasks.in_flight

    @property
    def busy(self) -> int:
        """Answers queued or in progress."""
        return self.waiting + self.answering

    # -- running ---------------------------------------------------------------------

    async def start(self) -> None:
        """Finish what the last process left undone, then take work."""
        for job in self._store.running_jobs():
            await self._mark_interrupted(job)
            self._store.requeue(job.id)
            log_event(
                log,
                "job_recovered",
                job=job.id,
                request_id=job.payload.get("request_id"),
                attempts=job.attempts,
                interrupted_messages=len(job.posted),
            )
        self._accepting = True
        self._dispatcher = asyncio.create_task(self._dispatch(), name="answers-dispatcher")
        watch_queue(self)

    async def stop(self, grace: float) -> int:
        """Take no new work; give answers in flight `grace` seconds. What is left stays in the
        queue for the next start. Returns how many answers were cut short."""
        self._accepting = False
        if self._dispatcher is not None:
            self._dispatcher.cancel()  # it may be waiting for a free slot: the grace starts now
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        await self._notices.drain(0)
        try:
            return await self._tasks.drain(grace)
        finally:
            unwatch_queue(self)

    async def close(self) -> None:
        """Release the Claude client's connections (after `stop`, when nothing will start again)."""
        await self._answerer.claude.aclose()

    def _enqueue(self, payload: dict[str, Any]) -> None:
        job_id = self._store.enqueue(payload, _owner_of(payload))
        self._wake.set()
        target = _target_of(payload)
        if target is not None:
            self._notices.submit(self._tell_if_queued(job_id, target), name=f"queued-{job_id}")

    @property
    def dispatching(self) -> bool:
        """Taking work from the queue (for /readyz)."""
        return self._accepting and self._dispatcher is not None and not self._dispatcher.done()

    async def _dispatch(self) -> None:
        while self._accepting:
            await self._slots.acquire()
            self._wake.clear()
            try:
                job = self._store.claim_next() if self._accepting else None
            except Exception:  # e.g. the database is locked or the disk full: keep trying, loudly
                self._slots.release()
                log.exception("could not take work from the queue")
                await asyncio.sleep(1.0)
                continue
            if job is None:
                self._slots.release()
                if self._accepting:
                    await self._wake.wait()
                continue
            self._tasks.submit(self._run(job), name=str(job.payload.get("request_id")))

    async def _run(self, job: Job) -> None:
        slot = Slot(self._slots)  # the dispatcher took it for this job
        try:
            handler = self._handlers.get(job.payload.get("kind", ""))
            if handler is not None and job.attempts <= MAX_ATTEMPTS:
                await handler(job)
                self._store.finish_job(job.id)
                return
            target = _target_of(job.payload)
            if target is None or job.attempts > MAX_ATTEMPTS:
                # Unreadable, or it has already been cut short this often: never again.
                log_event(
                    log,
                    "job_dropped",
                    logging.ERROR,
                    job=job.id,
                    attempts=job.attempts,
                    request_id=job.payload.get("request_id"),
                )
                self._store.finish_job(job.id)
                if target is not None:
                    await self._client.chat_postMessage(
                        channel=target.channel,
                        thread_ts=target.thread_ts,
                        text=f"⚠️ I was restarted {MAX_ATTEMPTS} times while answering this, so I've stopped "
                        f"trying. Please ask again. (ref `{job.payload.get('request_id')}`)",
                    )
                return
            await self._answer(job, target, slot)
            self._store.finish_job(job.id)
        except Exception:
            # The answer path tells users about failures itself; this is a bug's last stop, and
            # a job that failed this way must not come back at every start.
            log.exception("job failed", extra={"fields": {"job": job.id, "request_id": job.payload.get("request_id")}})
            self._store.finish_job(job.id)
        finally:
            slot.give_up()

    async def _answer(self, job: Job, target: ThreadTarget, slot: Slot) -> None:
        payload, received = job.payload, time.monotonic()
        request_id = payload["request_id"]
        reply = ThreadReply(self._client, target, request_id, on_posted=lambda ts: self._store.job_posted(job.id, ts))
        async with AsyncExitStack() as held:

            async def read() -> Sequence[Turn]:
                # Waiting for the thread happens inside the answer, after the :eyes: and status
                # are shown, and a shutdown while waiting is told to the asker like any other.
                # A question waiting behind its thread's answer gives its worker slot to other
                # channels meanwhile.
                if self._one_at_a_time.busy(target.thread):
                    slot.give_up()
                await held.enter_async_context(self.in_order(target))
                await slot.take_back()
                return await self._conversation(payload, target, reply)

            answer = await self._answerer.answer(
                request_id,
                read,
                reply,
                SLACK_SURFACE,
                agent_name=payload["agent"],
                conversation=str(target.thread),
                requester=Requester(target.user, target.channel, target.thread_ts),
                review=payload["kind"] == "review" or bool(payload.get("review")),
            )
            # The bot's own messages never come back as events: the transcript learns them here,
            # an answer split over several messages as one turn (its other messages recorded empty).
            for n, ts in enumerate(reply.posted):
                text = answer.text if answer is not None and n == 0 else ""
                self._store.record(
                    target.channel,
                    target.thread_ts,
                    StoredMessage(ts, "assistant", self._bot_name, text, answers=target.message_ts),
                )
        ANSWERS.labels("answered" if answer is not None else "not_answered").inc()
        ANSWER_SECONDS.observe(time.monotonic() - received)
        log_event(
            log,
            "answered_in_thread",
            request_id=request_id,
            job=job.id,
            attempt=job.attempts,
            channel=target.channel,
            thread_ts=target.thread_ts,
            ok=answer is not None,
            messages=len(reply.posted),
            seconds=round(time.monotonic() - received, 3),
        )

    async def _conversation(self, payload: dict[str, Any], target: ThreadTarget, reply: ThreadReply) -> list[Turn]:
        if payload["kind"] == "review":
            reply.notices.extend(payload["notices"])
            return self._reader.turns(target.channel, target.thread_ts, target.message_ts)
        message = incoming(payload["body"])
        assert message is not None
        return await self._reader.conversation(
            message, BotIdentity(*payload["bot"]), reply, as_review=payload["review"]
        )

    async def _tell_if_queued(self, job_id: int, target: ThreadTarget) -> None:
        await asyncio.sleep(QUEUED_NOTICE_S)
        if self._store.job_state(job_id) != "queued" or not self._accepting:
            return  # started (or even finished) meanwhile
        ahead = self._store.queued_count() - 1
        # The status only: a queue means load, and reactions are the first calls to spare then.
        await quietly(
            "assistant.threads.setStatus",
            self._client.assistant_threads_setStatus(
                channel_id=target.channel,
                thread_ts=target.thread_ts,
                status=f"is queued behind {ahead} other question{'s' if ahead != 1 else ''}…"
                if ahead > 0
                else "is queued, starting soon…",
            ),
        )

    async def _mark_interrupted(self, job: Job) -> None:
        """The half-written messages of a job cut short: closed, and said to be superseded, so the
        complete answer that follows is the only one in the thread."""
        target = _target_of(job.payload)
        if target is None:
            return
        for ts in job.posted:
            # Either may fail harmlessly: not streaming any more, or the message is gone.
            await quietly("chat.stopStream", self._client.chat_stopStream(channel=target.channel, ts=ts))
            await quietly(
                "chat.update",
                self._client.chat_update(
                    channel=target.channel, ts=ts, text=INTERRUPTED, blocks=[{"type": "markdown", "text": INTERRUPTED}]
                ),
            )
            self._store.record(
                target.channel,
                target.thread_ts,
                StoredMessage(ts, "assistant", self._bot_name, "", answers=target.message_ts),
            )


def _owner_of(payload: dict[str, Any]) -> JobOwner:
    target = _target_of(payload)
    if target is not None:
        return JobOwner(target.user, target.channel, target.thread_ts)
    body = payload.get("body") or {}  # a command: no thread yet
    return JobOwner(str(body.get("user_id") or ""), str(body.get("channel_id") or ""), None)


def _target_of(payload: dict[str, Any]) -> ThreadTarget | None:
    if payload.get("kind") == "review":
        return ThreadTarget(**payload["target"])
    message = incoming(payload.get("body") or {})
    return message.target() if message is not None else None
