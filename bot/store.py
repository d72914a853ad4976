"""The bot's state in SQLite (`BOT_DATA_DIR/bot.sqlite3`): which messages were taken, which
threads the bot is part of, and the transcript of those threads.

Survives restarts; WAL mode so a reader never waits on the writer. Calls are short local
queries, so they run on the event loop's thread.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import StoreInUse
from bot.usage import LedgerEntry, Totals

SCHEMA = """
CREATE TABLE IF NOT EXISTS taken_messages (
    channel TEXT NOT NULL, ts TEXT NOT NULL, taken_at REAL NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE TABLE IF NOT EXISTS threads (
    channel TEXT NOT NULL, thread_ts TEXT NOT NULL, joined_at REAL NOT NULL,
    synced_at REAL NOT NULL DEFAULT 0,  -- when the transcript was last known complete…
    synced_ts TEXT,                     -- …up to this message
    PRIMARY KEY (channel, thread_ts)
);
CREATE TABLE IF NOT EXISTS transcript (
    channel TEXT NOT NULL, thread_ts TEXT NOT NULL, ts TEXT NOT NULL,
    role TEXT NOT NULL,  -- 'user' (people and other bots) or 'assistant' (this bot)
    author TEXT NOT NULL, text TEXT NOT NULL,
    -- Where it sits in the conversation: its own ts, or for an answer the question's ts
    -- (an answer's message can be created after later questions were asked).
    place TEXT NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,              -- JSON: everything needed to (re)start the answer
    state TEXT NOT NULL,                -- 'queued', 'running', 'done'
    created_at REAL NOT NULL, started_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    posted TEXT NOT NULL DEFAULT '[]'   -- JSON: ts of the messages this attempt posted
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS usage_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, day TEXT NOT NULL,
    user TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL, purpose TEXT NOT NULL,
    agent TEXT NOT NULL, model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
    cost_usd REAL,  -- NULL: the model has no price in the table
    seconds REAL NOT NULL, request_id TEXT NOT NULL, claude_request_id TEXT
);
CREATE INDEX IF NOT EXISTS usage_by_user_day ON usage_ledger (user, day);
CREATE TABLE IF NOT EXISTS conversation_agents (
    conversation TEXT PRIMARY KEY, agent TEXT NOT NULL  -- which agent a thread was routed to
);
CREATE INDEX IF NOT EXISTS transcript_by_thread ON transcript (channel, thread_ts, place);
"""
# Changes to a store made by an earlier version, in order; PRAGMA user_version counts those applied.
MIGRATIONS = (
    # Whose job it is, for fair queueing (the payload is not read to schedule).
    """ALTER TABLE jobs ADD COLUMN user TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN channel TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN thread TEXT;  -- NULL: not tied to a thread's order
    CREATE INDEX jobs_by_user ON jobs (user, state, started_at);
    CREATE INDEX jobs_by_channel ON jobs (channel, state, started_at);
    CREATE INDEX jobs_by_thread ON jobs (channel, thread, state, id);""",
)


@dataclass(frozen=True)
class Job:
    """One accepted question, durable until answered."""

    id: int
    payload: dict[str, Any]
    attempts: int
    posted: tuple[str, ...]


@dataclass(frozen=True)
class JobOwner:
    """Who a job answers, and where: what the queue schedules by."""

    user: str
    channel: str
    thread: str | None  # jobs of one thread start in order; None: no order to keep


@dataclass(frozen=True)
class StoredMessage:
    ts: str
    role: str
    author: str  # the speaker's display name, resolved once so the rendering never changes
    text: str  # as it will be rendered for Claude (Slack markup resolved, files inlined)
    answers: str | None = None  # for the bot's answers: the ts of the question answered

    @property
    def place(self) -> str:
        # An answer sorts right after its question, before anything said after it.
        return sortable(self.answers) + "+" if self.answers else sortable(self.ts)


def sortable(ts: str) -> str:
    """A Slack ts as text that sorts in time order (floats lose the microseconds)."""
    seconds, _, fraction = ts.partition(".")
    return f"{seconds.zfill(12)}.{fraction.ljust(6, '0')}"


DEFAULT_RETENTION_DAYS = 7


class Store:
    def __init__(self, path: Path, retention_days: float = DEFAULT_RETENTION_DAYS):
        # Threads, transcripts and jobs are the team's words: readable by the bot's user alone.
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock_path = path.with_suffix(".lock")
        self._lock_file: Any = None
        self._retention_s = retention_days * 86_400
        self._db = sqlite3.connect(path, isolation_level=None)  # autocommit: each statement durable
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;")

    @classmethod
    def in_data_dir(cls, data_dir: Path, retention_days: float = DEFAULT_RETENTION_DAYS) -> Store:
        return cls(data_dir / "bot.sqlite3", retention_days)

    def close(self) -> None:
        self.unlock()
        self._db.close()

    def lock_exclusively(self) -> None:
        """One running bot per data folder; a second one refuses to start."""
        try:  # never through a symbolic link someone else planted there
            descriptor = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise StoreInUse(
                f"{self._lock_path} cannot be opened safely ({error.strerror}); remove it if it is a symbolic link"
            ) from None
        self._lock_file = os.fdopen(descriptor, "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise StoreInUse(
                f"another backend-engineer is running with {self._lock_path.parent}; "
                "stop it first, or give this one its own BOT_DATA_DIR"
            ) from None

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def writable(self) -> bool:
        """Can the database take a write right now (disk, permissions, locks)?"""
        try:
            with self.transaction():
                self._db.execute("CREATE TABLE IF NOT EXISTS readiness (at REAL)")
                self._db.execute("DELETE FROM readiness")
                self._db.execute("INSERT INTO readiness VALUES (?)", (time.time(),))
            return True
        except sqlite3.Error:
            return False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes that stand or fall together (e.g. claiming a message and queueing its job)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- exactly once ------------------------------------------------------------------

    def take(self, channel: str, ts: str) -> bool:
        """Claim a message for answering; False if it was already taken (a retry, the other
        copy of a mention, or a delivery before a restart)."""
        cursor = self._db.execute("INSERT OR IGNORE INTO taken_messages VALUES (?, ?, ?)", (channel, ts, time.time()))
        return cursor.rowcount == 1

    def take_is_free(self, channel: str, ts: str) -> bool:
        row = self._db.execute("SELECT 1 FROM taken_messages WHERE channel = ? AND ts = ?", (channel, ts)).fetchone()
        return row is None

    # -- threads -----------------------------------------------------------------------

    def join_thread(self, channel: str, thread_ts: str) -> bool:
        """Mark the bot as part of a thread; True if it was not before."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO threads (channel, thread_ts, joined_at) VALUES (?, ?, ?)",
            (channel, thread_ts, time.time()),
        )
        return cursor.rowcount == 1

    def in_thread(self, channel: str, thread_ts: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        ).fetchone()
        return row is not None

    def synced(self, channel: str, thread_ts: str) -> tuple[float, str | None]:
        """(when, up to which message) the transcript was last known complete; (0, None): never."""
        row = self._db.execute(
            "SELECT synced_at, synced_ts FROM threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        ).fetchone()
        return (row[0], row[1]) if row else (0.0, None)

    def mark_synced(self, channel: str, thread_ts: str, at: float, through_ts: str) -> None:
        self._db.execute(
            "UPDATE threads SET synced_at = ?, synced_ts = ? WHERE channel = ? AND thread_ts = ?",
            (at, through_ts, channel, thread_ts),
        )

    # -- the work queue ----------------------------------------------------------------

    def enqueue(self, payload: dict[str, Any], owner: JobOwner) -> int:
        cursor = self._db.execute(
            "INSERT INTO jobs (payload, state, created_at, user, channel, thread) VALUES (?, 'queued', ?, ?, ?, ?)",
            (json.dumps(payload), time.time(), owner.user, owner.channel, owner.thread),
        )
        return int(cursor.lastrowid or 0)

    def claim_next(self) -> Job | None:
        """The next queued job, now marked running (one writer: no race between the statements).

        Fair across people, then channels: the job of whoever has the fewest answers running,
        then was served longest ago, then the oldest; one person's forty questions never hold
        up another's one. A thread's questions still go in the order they were asked."""
        row = self._db.execute("""
            SELECT j.id FROM jobs j
            WHERE j.state = 'queued' AND (j.thread IS NULL OR NOT EXISTS (
                SELECT 1 FROM jobs e WHERE e.channel = j.channel AND e.thread = j.thread AND e.state = 'queued'
                AND e.id < j.id))
            ORDER BY
                (SELECT COUNT(*) FROM jobs r WHERE r.user = j.user AND r.state = 'running'),
                (SELECT COALESCE(MAX(s.started_at), 0) FROM jobs s WHERE s.user = j.user),
                (SELECT COUNT(*) FROM jobs r WHERE r.channel = j.channel AND r.state = 'running'),
                (SELECT COALESCE(MAX(s.started_at), 0) FROM jobs s WHERE s.channel = j.channel),
                j.id
            LIMIT 1""").fetchone()
        if row is None:
            return None
        self._db.execute(
            "UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1, posted = '[]' WHERE id = ?",
            (time.time(), row[0]),
        )
        return self._job(row[0])

    def job_posted(self, job_id: int, ts: str) -> None:
        job = self._job(job_id)
        if job is not None and ts not in job.posted:
            self._db.execute("UPDATE jobs SET posted = ? WHERE id = ?", (json.dumps([*job.posted, ts]), job_id))

    def finish_job(self, job_id: int) -> None:
        """A job is done; done jobs older than the retention period go (their payload is a Slack
        event as sent: the question's text, and a response_url)."""
        self._db.execute("UPDATE jobs SET state = 'done' WHERE id = ?", (job_id,))
        self._db.execute("DELETE FROM jobs WHERE state = 'done' AND created_at < ?", (time.time() - self._retention_s,))

    def requeue(self, job_id: int) -> None:
        self._db.execute("UPDATE jobs SET state = 'queued' WHERE id = ?", (job_id,))

    def running_jobs(self) -> list[Job]:
        """Jobs a previous process started and never finished (it crashed or was stopped)."""
        rows = self._db.execute("SELECT id FROM jobs WHERE state = 'running' ORDER BY id").fetchall()
        return [job for (job_id,) in rows if (job := self._job(job_id)) is not None]

    def job_state(self, job_id: int) -> str | None:
        row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def queued_count(self, user: str | None = None) -> int:
        """Jobs waiting to start (one person's, if `user` is given)."""
        if user is None:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND user = ?", (user,)).fetchone()[0]

    def _job(self, job_id: int) -> Job | None:
        row = self._db.execute("SELECT id, payload, attempts, posted FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return Job(row[0], json.loads(row[1]), row[2], tuple(json.loads(row[3])))

    # -- usage -------------------------------------------------------------------------

    def record_usage(self, entry: LedgerEntry) -> None:
        u, r = entry.usage, entry.requester
        self._db.execute(
            "INSERT INTO usage_ledger (at, day, user, channel, thread, purpose, agent, model, input_tokens, "
            "output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, seconds, request_id, claude_request_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.at or time.time(),
                entry.day,
                r.user,
                r.channel,
                r.thread,
                entry.purpose,
                entry.agent,
                entry.model,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_input_tokens,
                u.cache_creation_input_tokens,
                entry.cost_usd,
                entry.seconds,
                entry.request_id,
                entry.claude_request_id,
            ),
        )

    def tokens_today(self, user: str) -> int:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        row = self._db.execute(
            "SELECT SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) "
            "FROM usage_ledger WHERE user = ? AND day = ?",
            (user, day),
        ).fetchone()
        return int(row[0] or 0)

    def usage_totals(self, by: str, days: int) -> list[Totals]:
        """Totals over the last `days` UTC days, grouped by 'user', 'channel' or 'agent'."""
        assert by in ("user", "channel", "agent")
        since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (days - 1) * 86400))
        rows = self._db.execute(
            f"SELECT {by}, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
            f"SUM(cache_write_tokens), SUM(COALESCE(cost_usd, 0)), SUM(cost_usd IS NULL) FROM usage_ledger "
            f"WHERE day >= ? GROUP BY {by} ORDER BY SUM(COALESCE(cost_usd, 0)) DESC, COUNT(*) DESC",
            (since,),
        ).fetchall()
        return [Totals(*row) for row in rows]

    # -- agents ------------------------------------------------------------------------

    def agent_of(self, conversation: str) -> str | None:
        row = self._db.execute(
            "SELECT agent FROM conversation_agents WHERE conversation = ?", (conversation,)
        ).fetchone()
        return row[0] if row else None

    def remember_agent(self, conversation: str, agent: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO conversation_agents VALUES (?, ?)", (conversation, agent))

    # -- transcript --------------------------------------------------------------------

    def record(self, channel: str, thread_ts: str, message: StoredMessage) -> None:
        """Add (or replace, e.g. after an edit) one message of a thread."""
        self._db.execute(
            "INSERT OR REPLACE INTO transcript VALUES (?, ?, ?, ?, ?, ?, ?)", self._row(channel, thread_ts, message)
        )

    def record_if_new(self, channel: str, thread_ts: str, message: StoredMessage) -> None:
        """Add a message read back from Slack unless the transcript already has it."""
        self._db.execute(
            "INSERT OR IGNORE INTO transcript VALUES (?, ?, ?, ?, ?, ?, ?)", self._row(channel, thread_ts, message)
        )

    @staticmethod
    def _row(channel: str, thread_ts: str, m: StoredMessage) -> tuple:
        return (channel, thread_ts, m.ts, m.role, m.author, m.text, m.place)

    def forget(self, channel: str, ts: str) -> None:
        self._db.execute("DELETE FROM transcript WHERE channel = ? AND ts = ?", (channel, ts))

    def transcript(self, channel: str, thread_ts: str, through_ts: str | None = None) -> list[StoredMessage]:
        """The thread in conversation order; with `through_ts`, only up to that message (and
        the answers to questions before it): what was said later is not this question's context."""
        limit = sortable(through_ts) if through_ts else "~"  # "~" sorts after every digit
        rows = self._db.execute(
            "SELECT ts, role, author, text FROM transcript "
            "WHERE channel = ? AND thread_ts = ? AND place <= ? ORDER BY place, ts",
            (channel, thread_ts, limit),
        ).fetchall()
        return [StoredMessage(*row) for row in rows]
