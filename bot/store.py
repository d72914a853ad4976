"""The bot's state in SQLite (`BOT_DATA_DIR/bot.sqlite3`): which messages were taken, which
threads the bot is part of, and the transcript of those threads.

Survives restarts; WAL mode so a reader never waits on the writer. Calls are short local
queries, so they run on the event loop's thread.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS taken_messages (
    channel TEXT NOT NULL, ts TEXT NOT NULL, taken_at REAL NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE TABLE IF NOT EXISTS threads (
    channel TEXT NOT NULL, thread_ts TEXT NOT NULL, joined_at REAL NOT NULL,
    synced_at REAL NOT NULL DEFAULT 0,  -- when the transcript was last known complete
    PRIMARY KEY (channel, thread_ts)
);
CREATE TABLE IF NOT EXISTS transcript (
    channel TEXT NOT NULL, thread_ts TEXT NOT NULL, ts TEXT NOT NULL,
    role TEXT NOT NULL,  -- 'user' (people and other bots) or 'assistant' (this bot)
    author TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE INDEX IF NOT EXISTS transcript_by_thread ON transcript (channel, thread_ts, ts);
"""


@dataclass(frozen=True)
class StoredMessage:
    ts: str
    role: str
    author: str  # the speaker's display name, resolved once so the rendering never changes
    text: str  # as it will be rendered for Claude (Slack markup resolved, files inlined)


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)  # autocommit: each statement durable
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> "Store":
        return cls(data_dir / "bot.sqlite3")

    def close(self) -> None:
        self._db.close()

    # -- exactly once ------------------------------------------------------------------

    def take(self, channel: str, ts: str) -> bool:
        """Claim a message for answering; False if it was already taken (a retry, the other
        copy of a mention, or a delivery before a restart)."""
        cursor = self._db.execute("INSERT OR IGNORE INTO taken_messages VALUES (?, ?, ?)",
                                  (channel, ts, time.time()))
        return cursor.rowcount == 1

    # -- threads -----------------------------------------------------------------------

    def join_thread(self, channel: str, thread_ts: str) -> bool:
        """Mark the bot as part of a thread; True if it was not before."""
        cursor = self._db.execute("INSERT OR IGNORE INTO threads (channel, thread_ts, joined_at) VALUES (?, ?, ?)",
                                  (channel, thread_ts, time.time()))
        return cursor.rowcount == 1

    def in_thread(self, channel: str, thread_ts: str) -> bool:
        row = self._db.execute("SELECT 1 FROM threads WHERE channel = ? AND thread_ts = ?",
                               (channel, thread_ts)).fetchone()
        return row is not None

    def synced_at(self, channel: str, thread_ts: str) -> float:
        row = self._db.execute("SELECT synced_at FROM threads WHERE channel = ? AND thread_ts = ?",
                               (channel, thread_ts)).fetchone()
        return row[0] if row else 0.0

    def mark_synced(self, channel: str, thread_ts: str, at: float) -> None:
        self._db.execute("UPDATE threads SET synced_at = ? WHERE channel = ? AND thread_ts = ?",
                         (at, channel, thread_ts))

    # -- transcript --------------------------------------------------------------------

    def record(self, channel: str, thread_ts: str, message: StoredMessage) -> None:
        """Add (or replace, e.g. after an edit) one message of a thread."""
        self._db.execute("INSERT OR REPLACE INTO transcript VALUES (?, ?, ?, ?, ?, ?)",
                         (channel, thread_ts, message.ts, message.role, message.author, message.text))

    def record_if_new(self, channel: str, thread_ts: str, message: StoredMessage) -> None:
        """Add a message read back from Slack unless the transcript already has it."""
        self._db.execute("INSERT OR IGNORE INTO transcript VALUES (?, ?, ?, ?, ?, ?)",
                         (channel, thread_ts, message.ts, message.role, message.author, message.text))

    def edit(self, channel: str, ts: str, text: str) -> None:
        self._db.execute("UPDATE transcript SET text = ? WHERE channel = ? AND ts = ?", (text, channel, ts))

    def forget(self, channel: str, ts: str) -> None:
        self._db.execute("DELETE FROM transcript WHERE channel = ? AND ts = ?", (channel, ts))

    def transcript(self, channel: str, thread_ts: str) -> list[StoredMessage]:
        rows = self._db.execute(
            "SELECT ts, role, author, text FROM transcript WHERE channel = ? AND thread_ts = ? "
            "ORDER BY CAST(ts AS REAL), ts", (channel, thread_ts)).fetchall()
        return [StoredMessage(*row) for row in rows]

    def latest_ts(self, channel: str, thread_ts: str) -> str | None:
        row = self._db.execute("SELECT ts FROM transcript WHERE channel = ? AND thread_ts = ? "
                               "ORDER BY CAST(ts AS REAL) DESC LIMIT 1", (channel, thread_ts)).fetchone()
        return row[0] if row else None
